# SPDX-License-Identifier: MIT
"""Event detection on the host: the firmware detector on the unix port, or its reference.

Engines:
    "firmware"   the real node code (node/dsp.py + node/detect.py) on the MicroPython unix
                 port (host_tools/mp/run_detect.py);
    "reference"  dsp_reference.int_model (vectorised integer DSP) + detect_model.
Both return the same event records (tests/test_detect_parity.py).

Short clips: a deployed node has been listening for a while before an event, so its noise
floor is settled.  A file does not give that history, so by default ``detect_file``
prepends a lead-in of LEAD_S seconds made of the clip's own quietest QUIET_S window,
played forwards and backwards alternately (no clicks at the joins); event times are
reported relative to the original file and events that would start inside the lead-in
are dropped (an onset up to ONSET_TOL_S before the file start is the file's own first
sound, detected a frame or two early because analysis frames straddle the join, and is
reported at 0; so is an event that starts in the lead-in's last QUIET_S, its quietest window
played backwards, and runs at least INTO_S into the file: a clip that begins with its sound
often has the tail of that sound in its quietest window, the tail played backwards swells
towards the join and opens a segment a little early, and the sound itself is merged into that
event; an event born earlier in the lead-in is the lead-in's own loop and stays dropped).
A lead-out of LEAD_OUT_S seconds of the same material follows the clip, so that an event
running to the end of the file is closed and decided.  A reported duration is the part of the
event inside the file: what it spent in the lead-in or the lead-out is left out.
"""
import os
import tempfile

import numpy as np

from dsp_reference import detect_model, int_model
from host_tools import audio_io, fwrun
from host_tools.errors import NodeToolError
from node import config, consts, events

ENGINES = ("firmware", "reference")
LEAD_S = 1.0
LEAD_OUT_S = 0.5
QUIET_S = 0.25
ONSET_TOL_S = 0.064         # an onset this close before the file start belongs to the file
INTO_S = 0.1                # and so does one born in the lead-in's last QUIET_S that runs this far into it
CHUNK_FRAMES = 4096


def default_cfg():
    return config.validate({})


def quietest(x, rate, quiet_s=QUIET_S):
    """The quietest quiet_s window of x (int16; x itself when shorter, one zero when empty)."""
    x = np.asarray(x, dtype=np.int16)
    n = int(quiet_s * rate)
    if len(x) <= n:
        return x if len(x) else np.zeros(1, dtype=np.int16)
    step = max(1, n // 4)
    starts = np.arange(0, len(x) - n + 1, step)
    at = np.unique(np.concatenate([starts, starts + n]))
    e = _energy_at(x, at)
    k = int(starts[np.argmin(e[np.searchsorted(at, starts + n)] - e[np.searchsorted(at, starts)])])
    return x[k:k + n]


def _loop(piece, total):
    """total samples of piece played forwards and backwards alternately."""
    reps = [piece if i % 2 == 0 else piece[::-1] for i in range(total // len(piece) + 1)]
    return np.concatenate(reps)[:total]


def _energy_at(x, at, block=1 << 20):
    """The running sum of squares of x (float64, summed in order from 0.0) before each index in
    the sorted array at, computed a block at a time: an hours-long file's whole cumulative sum
    would take 8 bytes per sample."""
    out = np.empty(len(at))
    carry = 0.0
    for b0 in range(0, len(x) + 1, block):
        b1 = min(len(x), b0 + block)
        cs = np.cumsum(np.concatenate([[carry], x[b0:b1].astype(np.float64) ** 2]))   # e[b0 .. b1]
        lo, hi = np.searchsorted(at, [b0, b1], side="left")[0], np.searchsorted(at, b1, side="right")
        out[lo:hi] = cs[at[lo:hi] - b0]
        carry = cs[-1]
        if b1 == len(x):
            break
    return out


class StreamFeatures:
    """Reference DSP features of a long signal fed in pieces (identical to one call)."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.carry = np.zeros(0, dtype=np.int16)
        self.first = True

    def push(self, x):
        n, hop = self.cfg["frame"], self.cfg["hop"]
        buf = np.concatenate([self.carry, np.asarray(x, dtype=np.int16)])
        nf = (len(buf) - n) // hop + 1 if len(buf) >= n else 0
        if nf <= 0:
            self.carry = buf
            return np.zeros((0, consts.NFEAT), dtype=np.int64)
        feat = int_model.features(buf[: (nf - 1) * hop + n], self.cfg)
        drop = 0 if self.first else 1                        # the carried frame, already output
        keep_from = (nf - 1) * hop                           # last frame's start: carried again
        self.carry = buf[keep_from:]
        self.first = False
        return feat[drop:]


def reference_events(x, cfg, ranges=None, decisions=None):
    """All event records (with updates) of int16 samples, reference engine; with decisions a
    list, every classifier decision is noted there (detect_model.DetectorModel)."""
    det = detect_model.DetectorModel(cfg, ranges, decisions=decisions)
    sf = StreamFeatures(cfg)
    out = []
    step = CHUNK_FRAMES * cfg["hop"]
    for k in range(0, max(len(x), 1), step):
        for row in sf.push(x[k:k + step]).tolist():
            e = det.update(row)
            if e is not None:
                out.append(e)
    return out


def firmware_events(x, cfg, bench=False, firmware=fwrun.FIRMWARE, mode=None):
    """All event records of int16 samples from the firmware on the unix port, and run info.

    mode "feat" also returns, in info["decisions"], (frame, feature list) of every
    classifier decision and in info["answers"] its (class, confidence) (run_detect.py)."""
    mode = "bench" if bench else mode
    with tempfile.TemporaryDirectory(prefix="sednode-det-") as d:
        src = os.path.join(d, "in.raw")
        np.asarray(x, dtype="<i2").tofile(src)
        args = [src, str(cfg["rate"]), str(cfg["frame"]), str(cfg["hop"])] + ([mode] if mode else [])
        text = fwrun.run_script("run_detect.py", args, firmware=firmware, timeout=3600)
    evs, info, dec, ans = [], {}, [], []
    for line in text.strip().splitlines():
        if line.startswith("E "):
            evs.append(tuple(int(v) for v in line.split()[1:]))
        elif line.startswith("X "):
            v = [int(w) for w in line.split()[1:]]
            dec.append((v[0], v[1:]))
        elif line.startswith("C "):
            ans.append(tuple(int(w) for w in line.split()[1:]))
        elif line.startswith("frames="):
            info = {k: int(v) for k, v in (kv.split("=") for kv in line.split())}
    if mode == "feat":
        info["decisions"] = dec
        info["answers"] = ans
    return evs, info


def detect_samples(x, cfg, engine="reference"):
    """Event records (tuples as in node.events, updates included) of int16 samples."""
    if engine == "reference":
        return reference_events(x, cfg)
    if engine == "firmware":
        return firmware_events(x, cfg)[0]
    raise NodeToolError("unknown engine %r (choose %s)" % (engine, " or ".join(ENGINES)))


def to_dicts(records, cfg, offset_samples=0, name=None, tol_samples=0, into_samples=None, born_samples=0,
             end_samples=None):
    """Final event records -> dicts with seconds and dBFS (see docs/detector.md).

    ``onset_s`` is the onset sample (node.events.onset_sample) minus offset_samples over the
    rate; ``report_s`` is when the node first reported the event (end of that frame).  An event
    whose onset lies more than tol_samples before offset_samples is dropped, unless it lies at
    most born_samples before it and the event lasts until into_samples after it (None: never);
    an event kept with its onset before offset_samples is reported from 0, its duration the
    part after offset_samples, and with end_samples (None: no end) not past that many samples
    after offset_samples.
    """
    rate, n, hop = cfg["rate"], cfg["frame"], cfg["hop"]
    out = []
    for r in detect_model.final_events(records):
        on = events.onset_sample(r[events.E_ONSET], n, hop) - offset_samples
        if on < -tol_samples and (into_samples is None or on < -born_samples or
                                  on + r[events.E_DUR] * hop < into_samples):
            continue
        dur = r[events.E_DUR] * hop
        if on < 0:                                  # the part before the file is not the file's
            on, dur = 0, max(0, dur + on)
        if end_samples is not None:                 # nor the part after it
            dur = max(0, min(dur, end_samples - on))
        d = {"class": events.CLASS_NAMES[r[events.E_CLASS]], "onset_s": round(on / rate, 4),
             "duration_s": round(dur / rate, 4),
             "peak_dbfs": round(r[events.E_PEAK] / 100.0, 2), "confidence": r[events.E_CONF],
             "report_s": round(((r[-1] + 1) * hop + n - hop - offset_samples) / rate, 4)}
        if r[events.E_CLASS] == events.GUNSHOT:
            d["shots"] = r[events.E_SHOTS]
        if name is not None:
            d = dict({"file": name}, **d)
        out.append(d)
    return out


def file_view(x, rate):
    """(int16 samples, clip start): a file's samples x with the lead-in before them and the
    lead-out after them (module docstring), as detect_file feeds them to the detector."""
    piece = quietest(x, rate)                 # one search of the file for both ends
    pre = _loop(piece, int(LEAD_S * rate))
    return np.concatenate([pre, x, _loop(piece, int(LEAD_OUT_S * rate))]), len(pre)


def file_events(records, cfg, start, name=None, length=None):
    """to_dicts of the records of a file_view whose clip starts at sample start: events of the
    lead-in dropped, except those the module docstring keeps (ONSET_TOL_S, INTO_S, QUIET_S);
    with the clip's length (samples), no duration runs past the clip's end into the lead-out."""
    rate = cfg["rate"]
    return to_dicts(records, cfg, offset_samples=start, name=name, tol_samples=int(ONSET_TOL_S * rate),
                    into_samples=int(INTO_S * rate), born_samples=int(QUIET_S * rate), end_samples=length)


def detect_file(path, engine="reference", cfg=None, use_lead_in=True):
    """Detect events in a WAV file of any supported rate (resampled to the node's rate).

    Args:
        path: WAV file.  engine: "firmware" or "reference".  cfg: node config (defaults).
        use_lead_in: prepend the quiet lead-in (module docstring).
    Returns:
        list of dicts: file, class, onset_s, duration_s, peak_dbfs, confidence, report_s
        (+ shots for gunshots), one per event (updates merged).
    Raises:
        NodeToolError: unreadable or malformed WAV, unknown engine.
    """
    cfg = cfg or default_cfg()
    if engine not in ENGINES:
        raise NodeToolError("unknown engine %r (choose %s)" % (engine, " or ".join(ENGINES)))
    x = audio_io.load_for_node(path, cfg["rate"])
    if not use_lead_in:
        return to_dicts(detect_samples(x, cfg, engine), cfg, name=path)
    y, start = file_view(x, cfg["rate"])
    return file_events(detect_samples(y, cfg, engine), cfg, start, name=path, length=len(x))
