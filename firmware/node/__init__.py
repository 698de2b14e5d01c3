# SPDX-License-Identifier: MIT
# node: firmware package of the acoustic street sensor.
# Submodules load lazily (pattern of micropython-async v3 primitives) so importing the
# package costs no RAM; the pure modules (consts, config, proto, tables) also import
# under CPython, which is how host tools share one definition with the device.
_attrs = {
    "DSP": "dsp",
}


def __getattr__(attr):
    mod = _attrs.get(attr, None)
    if mod is None:
        raise AttributeError(attr)
    value = getattr(__import__(mod, globals(), None, [attr], 1), attr)
    globals()[attr] = value
    return value
