# SPDX-License-Identifier: MIT
# Node configuration: the whitelist of keys, their defaults and validation rules.
# Valid under MicroPython and CPython: the host validates with exactly this code.
# Stored on flash as JSON (config.json); unknown keys and bad values are rejected
# with ConfigError naming the key, so a corrupt file never half-applies.
from node import consts


class ConfigError(ValueError):
    pass


# key: (default, type, check, help)
SCHEMA = {
    "rate": (16000, int, lambda v: v in consts.RATES, "sample rate, Hz"),
    "frame": (512, int, lambda v: v in consts.FRAME_SIZES, "FFT frame length, samples"),
    "hop": (256, int, lambda v: v in (64, 128, 256, 512, 1024), "hop between frames, samples"),
    "site": ("", str, lambda v: len(v) <= 32, "site / pole id"),
    "gain_db": (0, int, lambda v: -20 <= v <= 40, "digital gain applied to the mic, dB"),
    "cal_cdb": (0, int, lambda v: -20000 <= v <= 20000, "dBFS to dB SPL offset, 1/100 dB"),
    "mic_fault_s": (10, int, lambda v: 0 <= v <= 3600,
                    "seconds of a dead or pinned microphone before the node logs a fault (0: never)"),
    "clip_ms": (0, int, lambda v: v == 0 or 200 <= v <= 4000,
                "audio kept around each logged event, ms (0: none; RAM: rate ms / 4000 bytes)"),
}


def defaults():
    return {k: v[0] for k, v in SCHEMA.items()}


def check_key(key, value):
    spec = SCHEMA.get(key)
    if spec is None:
        raise ConfigError("unknown config key %r" % (key,))
    typ = spec[1]
    if typ is int and isinstance(value, bool) or not isinstance(value, typ):
        raise ConfigError("%s: expected %s, got %r" % (key, typ.__name__, value))
    if not spec[2](value):
        raise ConfigError("%s: value %r out of range (%s)" % (key, value, spec[3]))
    return value


def validate(cfg):
    # Return a complete, checked config from a partial dict; raise ConfigError.
    out = defaults()
    for k in cfg:
        out[k] = check_key(k, cfg[k])
    if out["hop"] > out["frame"] or out["frame"] % out["hop"]:
        raise ConfigError("hop: %d must divide frame %d" % (out["hop"], out["frame"]))
    try:
        consts.band_edges(out["rate"], out["frame"])
    except ValueError as e:
        raise ConfigError("frame: %s" % e)
    return out
