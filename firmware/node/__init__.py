# SPDX-License-Identifier: MIT
# node: firmware package of the acoustic street sensor.  Kept empty on purpose: every
# submodule is imported explicitly (`from node import dsp`), so importing the package
# costs no RAM.  (A lazy module __getattr__ would break `from node import submodule`
# on MicroPython, whose import-from does not fall back past a raising __getattr__.)
# The pure modules (consts, config, proto, tables) also import under CPython, which is
# how the host tools share one definition with the device.
