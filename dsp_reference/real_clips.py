# SPDX-License-Identifier: MIT
"""Real development clips (../shared/data/real_dev) as training material for the detector.

The clips are read from the shared folder and never copied.  Each clip gives several views:
  * view 0: the clip as ``sednode detect`` sees a file (quiet lead-in, clip, lead-out);
  * views 1..: the clip mixed into a synthetic street background (dsp_reference.scenes) at a
    random event-to-background ratio (0-30 dB) and level, sometimes hard-clipped.
Every decision point of the detector on a view is labelled:
  * negative clip: none;
  * positive clip: its class when the segment spans the clip's loudest 50 ms, or when the
    segment's loudest frame is within LOUD_DB of the clip's loudest frame (later shots of a
    burst, glass still falling); segments outside the clip are none (background); anything
    else (quiet sounds inside a positive clip) is left out (label -1): nobody annotated them.

Cross-validation groups clips by recording source (the file name up to the first '-' or '_':
UrbanSound8K slices of one Freesound recording, one glass-break series, one scream speaker),
so a fold never holds a slice of a recording that another fold trained on.
"""
import csv
import os
import re
import zlib

import numpy as np

from dsp_reference import detect_model, int_model
from dsp_reference.scenes import BACKGROUNDS, LEVEL_RANGE_DBFS, SELF_NOISE_DBFS, make_background
from node import consts, events

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL_DEV = os.path.join(os.path.dirname(ROOT), "shared", "data", "real_dev")
POSITIVES = ("gunshot", "scream", "glass_break")
LOUD_DB = 6              # a segment this close to the clip's loudest frame belongs to the event
EXCLUDED = -1


def manifest(root=REAL_DEV):
    """Rows (dicts with at least class and file) of MANIFEST.tsv, or [] when absent."""
    path = os.path.join(root, "MANIFEST.tsv")
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def group_of(file):
    """Recording-source group of a clip (file name up to the first '-' or '_')."""
    return re.split(r"[-_]", os.path.basename(file))[0]


def fold_of(file, k):
    """Cross-validation fold 0..k-1 of a clip, by its recording-source group."""
    return zlib.crc32(group_of(file).encode()) % k


def load(root, row, rate, keep_dc=False):
    """A clip as int16 at rate, as `sednode detect` reads it (DC removed), or with keep_dc as
    recorded (the training rows: clip_samples)."""
    from host_tools.audio_io import load_for_node
    return load_for_node(os.path.join(root, row["file"]), rate, keep_dc)


def file_view(x, rate):
    """(int16 samples, clip start) as `sednode detect` feeds a file to the detector."""
    from host_tools import detect
    return detect.file_view(x, rate)


def mixed_view(x, rate, rng):
    """(int16 samples, clip start): the clip inside a synthetic background, random SNR/level."""
    kind = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    lead = int(rng.uniform(1.5, 2.5) * rate)
    n = lead + len(x) + int(1.0 * rate)
    bg = make_background(kind, rng, rate, n / rate)[:n] * 10 ** (rng.uniform(*LEVEL_RANGE_DBFS[kind]) / 20)
    bg += rng.standard_normal(n) * 10 ** (SELF_NOISE_DBFS / 20)
    ev = x.astype(np.float64) / 32768.0
    ev = ev - ev.mean()
    e = np.sqrt(np.mean(ev ** 2)) + 1e-12
    snr = float(rng.choice([0, 5, 10, 15, 20, 30]))
    g = 10 ** (snr / 20) * np.sqrt(np.mean(bg[lead:lead + len(x)] ** 2)) / e
    mix = bg.copy()
    mix[lead:lead + len(x)] += g * ev
    peak = np.abs(mix).max()
    if rng.random() < 0.3:
        mix *= rng.uniform(1.0, 4.0) / peak                   # a close, clipping microphone
    elif peak > 0.9:
        mix *= 0.9 / peak
    return np.clip(np.round(mix * 32768.0), -32768, 32767).astype(np.int16), lead


def _loudest(x, rate):
    win = int(0.05 * rate)
    v = x.astype(np.float64)
    c = np.concatenate([[0.0], np.cumsum(v * v)])
    if len(v) <= win:
        return len(v) // 2
    return int(np.argmax(c[win:] - c[:-win])) + win // 2


def label_samples(samples, feat, cls, start, nclip, loud, cfg):
    """(features, label) per decision sample of one view (module docstring)."""
    n, hop = cfg["frame"], cfg["hop"]

    def frame_of(s):
        return (s - (n - hop)) // hop

    f_start, f_end, f_loud = frame_of(start), frame_of(start + nclip), frame_of(loud)
    cid = events.class_id(cls) if cls in POSITIVES else events.NONE
    rms = feat[:, consts.F_RMS]
    top = int(rms[max(0, f_loud - 2):f_loud + 3].max()) if len(rms) else 0
    out = []
    for t0, t, _, x in samples:
        if cid == events.NONE or t < f_start or t0 > f_end:
            out.append((x, events.NONE))
        elif t0 <= f_loud + 1 and t >= f_loud - 1:
            out.append((x, cid))
        elif int(rms[t0:t + 1].max()) >= top - 100 * LOUD_DB:
            out.append((x, cid))
        else:
            out.append((x, EXCLUDED))
    return out


def shifted(x, factor, rate):
    """The int16 clip x played factor times faster (pitch and tempo up by factor, as a tape
    run fast): another voice, another gun, another pane from the same recording."""
    from host_tools.audio_io import resample, to_int16
    return to_int16(resample(x / 32768.0, int(round(rate * factor)), rate))


def clip_samples(args):
    """Labelled decision samples of every view of one clip, and of views of it played faster
    or slower by each factor in shifts (optional fifth item; none by default): list of
    (features, label)."""
    root, row, views, cfg = args[:4]
    shifts = args[4] if len(args) > 4 else ()
    rate = cfg["rate"]
    # the rows keep the clip's DC offset: the shipped trees were trained on them so (removing it
    # changes most rows and asked for a retrain that scored worse: docs/detector_history.md, twenty-fifth stop)
    x = load(root, row, rate, keep_dc=True)
    crc = zlib.crc32(row["file"].encode())
    out = []
    for k, factor in enumerate((1.0,) + tuple(shifts)):
        xs = x if k == 0 else shifted(x, factor, rate)
        rng = np.random.default_rng([crc, 31] if k == 0 else [crc, 31, k])
        for v in range(views):
            y, start = file_view(xs, rate) if v == 0 else mixed_view(xs, rate, rng)
            out += view_samples(y, start, xs, row["class"], cfg)
    return out


def view_samples(y, start, x, cls, cfg):
    """Labelled decision samples (label_samples) of one view y (int16) of a clip x of class
    cls that starts at sample start of y."""
    feat = int_model.features(y, cfg)
    _, samples = detect_model.run(feat, cfg, collect=True)
    return label_samples(samples, feat, cls, start, len(x), start + _loudest(x, cfg["rate"]), cfg)


def clip_file_features(args):
    """(class, file, int32 features of the file view, clip start) for clip-level scoring."""
    root, row, cfg = args
    x = load(root, row, cfg["rate"])
    y, start = file_view(x, cfg["rate"])
    return row["class"], row["file"], int_model.features(y, cfg).astype(np.int32), start


def clip_classes(recs, start, cfg):
    """Classes a clip yields (as `sednode detect` reports them) from the detector's event
    records of its file view (detect_model.run or replay)."""
    from host_tools import detect
    return sorted({d["class"] for d in detect.file_events(recs, cfg, start)})


def clip_ok(cls, got):
    """Whether a clip of class cls yielded what it should: its class (positive clip) or
    nothing (negative clip), given the classes it yielded."""
    return cls in got if cls in POSITIVES else not got


def clip_scores(results):
    """Clip-level recall per positive class and the negative raise rate from (class, got) pairs."""
    pos = {c: [0, 0] for c in POSITIVES}
    neg = [0, 0]
    for cls, got in results:
        ok = clip_ok(cls, got)
        if cls in POSITIVES:
            pos[cls][0] += ok
            pos[cls][1] += 1
        else:
            neg[0] += not ok
            neg[1] += 1
    return {"recall": {c: (v[0] / v[1] if v[1] else None) for c, v in pos.items()},
            "positives": {c: {"hit": v[0], "n": v[1]} for c, v in pos.items()},
            "negative_fp_rate": neg[0] / neg[1] if neg[1] else None,
            "negatives": {"raised": neg[0], "n": neg[1]}}
