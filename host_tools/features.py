# SPDX-License-Identifier: MIT
"""Per-frame DSP features of a WAV file, from the firmware or from the reference model."""
import numpy as np

from host_tools import audio_io, fwrun
from node import config, consts

ENGINES = ("firmware", "reference")


def compute(samples, cfg, engine):
    """(F, NFEAT) int64 features of int16 samples with the chosen engine."""
    if engine == "firmware":
        return fwrun.features(samples, cfg)[0]
    if engine == "reference":
        from dsp_reference import int_model
        return int_model.features(samples, cfg)
    raise ValueError("unknown engine %r" % engine)


def frame_records(feat, cfg):
    """One dict per frame: index, time of the frame's start, named integer features."""
    out = []
    for t, row in enumerate(np.asarray(feat)):
        rec = {"frame": t, "t_s": round(t * cfg["hop"] / cfg["rate"], 6)}
        for i, key in enumerate(consts.FEATURE_KEYS):
            rec[key] = int(row[i])
        rec["bands_cdb"] = [int(v) for v in row[consts.F_BAND0:]]
        out.append(rec)
    return out


def file_features(path, engine, cfg=None):
    """Load any supported WAV at the node's rate and compute its feature records."""
    cfg = config.validate(cfg or {})
    samples = audio_io.load_for_node(path, cfg["rate"])
    return frame_records(compute(samples, cfg, engine), cfg)
