# SPDX-License-Identifier: MIT
"""Compare synthetic event models with real recordings, class by class.

Per clip (mono, resampled to 16 kHz) it measures:
    ltas     mean power in 24 log-spaced bands 100 Hz-8 kHz over the active frames, dB re total
    attack   ms from 10 % to 90 % of the peak of a 5 ms RMS envelope (above the clip's noise floor)
    decay    ms from the peak of a 20 ms RMS envelope until it first falls 20 dB below it
    active   seconds during which the 20 ms envelope is within 20 dB of its peak
    centroid spectral centroid (Hz, 100 Hz-8 kHz) of the active 64 ms frames (within 30 dB of the loudest)
    hf       share of active-frame energy above 4 kHz (of 100 Hz-8 kHz)
    harm     the node DSP's harmonicity (int_model, harmonic comb peak-to-valley, dB): median over
             the loud frames (rms within 15 dB of the loudest)
    pitch    the node DSP's pitch (Hz): median over the loud frames that are voiced (harm at least
             the detector's voiced_cdb, 15 dB)
    tail_centroid  the node DSP's centroid (Hz): median over its frames from the loudest one on,
             while the level stays within 30 dB of it -- what the detector's segment features
             average over (the clip statistics above are energy-weighted: the loudest part rules them)
    tail_tonal  share of those frames the node calls tonal (max/mean bin over 300-5000 Hz at least
             the detector's tonal_hi, 10 dB)
and reports the median and 10-90 % spread of each, real vs synthetic, plus how far the median
synthetic LTAS is from the median real one.  Real clips are only read, never copied.

    python -m dsp_reference.realism [--data DIR] [--n 24] [--markdown out.md]
"""
import argparse
import csv
import os
import sys

import numpy as np

from dsp_reference.sounds import make_event

RATE = 16000
BAND_EDGES = np.geomspace(100, 8000, 25)
DEFAULT_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "real_dev")
# real class -> synthetic model compared with it (closest available real counterpart)
CLASS_MAP = {"gunshot": "gunshot", "scream": "scream", "glass_break": "glass_break",
             "car_horn": "car_horn", "siren": "siren", "dog_bark": "dog_bark", "crying": "crying_child",
             "laughing": "laughter", "speech": "shouted_speech", "jackhammer": "hammering"}
METRICS = ("attack_ms", "decay_ms", "active_s", "centroid_hz", "hf_share", "harm_db", "pitch_hz",
           "tail_centroid_hz", "tail_tonal")


def _moving_rms(x, win):
    c = np.concatenate([[0.0], np.cumsum(x * x)])
    n = len(x) - win + 1
    if n < 1:
        return np.array([np.sqrt(np.mean(x * x))])
    return np.sqrt((c[win:win + n] - c[:n]) / win)


def clip_stats(x, rate=RATE):
    """Measure one mono clip at ``rate`` (see module docstring).  Returns a dict."""
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    hop = max(1, rate // 1000)
    e5 = _moving_rms(x, int(0.005 * rate))[::hop]
    e20 = _moving_rms(x, int(0.02 * rate))[::hop]
    floor = np.percentile(e5, 10)
    p = int(np.argmax(e5))
    pk = e5[p] - floor
    t90 = int(np.argmax(e5[:p + 1] >= floor + 0.9 * pk))
    below = np.nonzero(e5[:t90] < floor + 0.1 * pk)[0]
    attack = float(t90 - (below[-1] if len(below) else 0))
    p20 = int(np.argmax(e20))
    fall = np.nonzero(e20[p20:] < e20[p20] * 0.1)[0]
    decay = float(fall[0]) if len(fall) else float("nan")
    active = float(np.sum(e20 >= e20[p20] * 0.1)) / 1000.0
    # spectra of active 64 ms frames (hop 16 ms)
    nfft, hop = 1024, 256
    nfr = max(1, (len(x) - nfft) // hop + 1)
    xp = np.pad(x, (0, max(0, nfft - len(x))))
    idx = np.arange(nfft)[None, :] + hop * np.arange(nfr)[:, None]
    spec = np.abs(np.fft.rfft(xp[idx] * np.hanning(nfft), axis=1)) ** 2
    f = np.fft.rfftfreq(nfft, 1.0 / rate)
    fe = spec.sum(axis=1)
    act = spec[fe >= fe.max() * 1e-3]
    ps = act.mean(axis=0)
    band = (f >= 100) & (f < 8000)
    tot = ps[band].sum() + 1e-30
    ltas = np.array([ps[(f >= lo) & (f < hi)].sum() for lo, hi in zip(BAND_EDGES[:-1], BAND_EDGES[1:])])
    node = _node_stats(x, rate)
    return dict({"attack_ms": attack, "decay_ms": decay, "active_s": active,
                 "centroid_hz": float((ps[band] * f[band]).sum() / tot),
                 "hf_share": float(ps[(f >= 4000) & (f < 8000)].sum() / tot),
                 "ltas": 10 * np.log10(ltas / tot + 1e-12)}, **node)


def _node_stats(x, rate):
    """harm_db, pitch_hz, tail_centroid_hz and tail_tonal (module docstring) from the node's own
    integer DSP, the clip scaled to a -10 dBFS peak."""
    from dsp_reference import int_model
    from node import config, consts
    from node import detect_table as T
    q = np.round(x / (np.abs(x).max() + 1e-30) * 0.316 * 32767).astype(np.int16)
    f = int_model.features(q, config.validate({"rate": rate}))
    nan = float("nan")
    if not len(f):
        return {"harm_db": nan, "pitch_hz": nan, "tail_centroid_hz": nan, "tail_tonal": nan}
    rms = f[:, consts.F_RMS]
    loud = rms >= rms.max() - 1500
    harm = f[loud, consts.F_HARM]
    voiced = harm >= T.PARAMS["voiced_cdb"]
    pitch = float(np.median(f[loud, consts.F_PITCH][voiced])) if voiced.any() else nan
    k = j = int(np.argmax(rms))
    while j + 1 < len(f) and rms[j + 1] >= rms[k] - 3000:
        j += 1
    tail = f[k:j + 1]
    return {"harm_db": float(np.median(harm)) / 100.0, "pitch_hz": pitch,
            "tail_centroid_hz": float(np.median(tail[:, consts.F_CENTROID])),
            "tail_tonal": float(np.mean(tail[:, consts.F_TONAL] >= T.PARAMS["tonal_hi"]))}


def real_stats(data_dir=DEFAULT_DATA, classes=tuple(CLASS_MAP), rate=RATE):
    """Stats for every real clip of the given classes (clips recorded below ``rate`` are skipped)."""
    from host_tools.audio_io import read_wav, resample
    out = {c: [] for c in classes}
    with open(os.path.join(data_dir, "MANIFEST.tsv")) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["class"] not in out or int(row["sample_rate"]) < rate:
                continue
            x, src = read_wav(os.path.join(data_dir, row["file"]))
            out[row["class"]].append(clip_stats(resample(x.mean(axis=1), src, rate), rate))
    return out


def synth_stats(kind, n=24, seed=0, rate=RATE):
    """Stats for n synthetic events of ``kind``, each padded by 0.2 s with a -70 dB noise floor."""
    res = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        sig, _ = make_event(kind, rng, rate)
        sig = sig / np.abs(sig).max()
        pad = np.zeros(int(0.2 * rate))
        x = np.concatenate([pad, sig, pad])
        x = x + rng.standard_normal(len(x)) * 10 ** (-70 / 20)
        res.append(clip_stats(x, rate))
    return res


def _spread(vals):
    v = np.asarray([x for x in vals if np.isfinite(x)])
    if len(v) == 0:
        return (float("nan"),) * 3
    return tuple(float(q) for q in np.percentile(v, [50, 10, 90]))


def compare(real, n_synth=24, seed=0):
    """Rows of (class, synthetic model, metric, real (med, p10, p90), synth (med, p10, p90), inside)."""
    rows = []
    for rc, clips in real.items():
        if not clips:
            continue
        sc = CLASS_MAP[rc]
        syn = synth_stats(sc, n_synth, seed)
        for m in METRICS:
            r, s = _spread([c[m] for c in clips]), _spread([c[m] for c in syn])
            rows.append((rc, sc, m, r, s, r[1] <= s[0] <= r[2]))
        rl = np.array([c["ltas"] for c in clips])
        sl = np.array([c["ltas"] for c in syn])
        rmed, sme = np.median(rl, axis=0), np.median(sl, axis=0)
        lo, hi = np.percentile(rl, 10, axis=0), np.percentile(rl, 90, axis=0)
        inside = float(np.mean((sme >= lo - 1.0) & (sme <= hi + 1.0)))
        dist = float(np.mean(np.abs(sme - rmed)))
        rows.append((rc, sc, "ltas_mean_abs_db", (dist,) * 3, (inside,) * 3, inside >= 0.75))
        rows.append((rc, sc, "ltas_bands", tuple(rmed), tuple(sme), None))
    return rows


def format_table(rows, markdown=False):
    """Render compare() rows as text or markdown (LTAS band detail only in markdown)."""
    fmt = lambda t: "%.3g [%.3g, %.3g]" % t
    lines = []
    if markdown:
        lines += ["| real class | model | n real | metric | real median [p10, p90] | synthetic median [p10, p90] | in spread |",
                  "|---|---|---|---|---|---|---|"]
    for rc, sc, m, r, s, ok in rows:
        if m == "ltas_bands":
            continue
        if m == "ltas_mean_abs_db":
            rtxt, stxt = "mean abs. diff %.1f dB" % r[0], "%.0f %% of bands in real p10-p90" % (100 * s[0])
        else:
            rtxt, stxt = fmt(r), fmt(s)
        if markdown:
            lines.append("| %s | %s | | %s | %s | %s | %s |" % (rc, sc, m, rtxt, stxt, "yes" if ok else "no"))
        else:
            lines.append("%-12s %-15s %-17s %-28s %-34s %s" % (rc, sc, m, rtxt, stxt, "ok" if ok else "--"))
    if markdown:
        centres = np.sqrt(BAND_EDGES[:-1] * BAND_EDGES[1:])
        lines += ["", "LTAS (dB re total, 100 Hz-8 kHz), median real / median synthetic:", "",
                  "| class | " + " | ".join("%.0f" % c for c in centres) + " |",
                  "|---|" + "---|" * len(centres)]
        for rc, sc, m, r, s, ok in rows:
            if m == "ltas_bands":
                lines.append("| %s real | " % rc + " | ".join("%.0f" % v for v in r) + " |")
                lines.append("| %s synth | " % sc + " | ".join("%.0f" % v for v in s) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="real_dev folder (read only)")
    ap.add_argument("--n", type=int, default=24, help="synthetic events per class")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--classes", default=",".join(CLASS_MAP), help="comma-separated real classes")
    ap.add_argument("--markdown", help="also write the table as markdown to this file")
    a = ap.parse_args(argv)
    classes = [c for c in a.classes.split(",") if c]
    unknown = [c for c in classes if c not in CLASS_MAP]
    if unknown:
        print("unknown class: %s" % ", ".join(unknown), file=sys.stderr)
        return 2
    if not os.path.isfile(os.path.join(a.data, "MANIFEST.tsv")):
        print("no MANIFEST.tsv in %s" % a.data, file=sys.stderr)
        return 2
    real = real_stats(a.data, classes)
    rows = compare(real, a.n, a.seed)
    counts = {c: len(v) for c, v in real.items()}
    print("real clips per class: %s" % ", ".join("%s=%d" % kv for kv in counts.items()))
    print(format_table(rows))
    if a.markdown:
        md = format_table(rows, markdown=True)
        md = "\n".join(l.replace("| |", "| %d |" % counts[l.split("|")[1].strip()], 1)
                       if l.startswith("| ") and l.split("|")[1].strip() in counts else l for l in md.split("\n"))
        with open(a.markdown, "w") as f:
            f.write(md + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
