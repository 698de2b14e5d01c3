# SPDX-License-Identifier: MIT
"""Train the detector's segment classifier and write firmware/node/detect_table.py.

    python -m dsp_reference.train_detector [--scenes 360] [--bg-minutes 60] [--out PATH]

Deterministic: training scenes use seeds TRAIN_SEED0.. (disjoint from the evaluation seeds
in host_tools/evaluate.py), the forest uses its own seeded generator.  Steps:
  1. synthetic scenes (all backgrounds, SNR 0-30 dB, confusers, some clipped gunshots) and
     background-plus-confuser audio -> integer DSP features (int_model) -> the detector's
     segmenter, collecting the feature vector at every decision point (early and final);
  2. label each decision point with the class of the scene event its segment starts in
     (onset - 0.3 s .. offset), else none;
  3. a small random forest of integer-threshold CART trees (Gini), leaves holding
     per-class vote shares 0..100 packed 7 bits per class;
  4. render the table module (PARAMS + NODES + ROOTS).
No real recordings are used for training.
"""
import argparse
import os
import sys
from multiprocessing import Pool

import numpy as np

from dsp_reference import detect_model, int_model
from dsp_reference.scenes import make_background_hours, make_scene
from node import events
from node import detect_table as T

CFG = {"rate": 16000, "frame": 512, "hop": 256}
TRAIN_SEED0 = 500000
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "firmware", "node",
                   "detect_table.py")
FOREST = {"ntrees": 10, "depth": 7, "min_leaf": 8, "mtry": 8, "seed": 1234}


def to_int16(x):
    return np.clip(np.round(np.asarray(x) * 32768.0), -32768, 32767).astype(np.int16)


def _label(t0, labels, cfg):
    ts = events.onset_sample(t0, cfg["frame"], cfg["hop"]) / cfg["rate"]
    for lab in labels:
        if lab["onset_s"] - 0.3 <= ts <= lab["offset_s"]:
            return events.class_id(lab["class"])
    return events.NONE


def scene_samples(seed):
    """(X rows, y) of every decision point of one training scene."""
    rng = np.random.default_rng([seed, 77])
    clip = bool(rng.random() < 0.2)
    snr = None if rng.random() < 0.5 else float(rng.choice([0, 5, 10, 15, 20, 30]))
    sc = make_scene(seed, seconds=30.0, snr_db=snr, clip_gunshots=clip,
                    level_dbfs=float(rng.uniform(-30, -12)) if clip else None)
    feat = int_model.features(to_int16(sc.audio), CFG)
    _, samples = detect_model.run(feat, CFG, collect=True)
    return [(x, _label(t0, sc.labels, CFG)) for t0, _, _, x in samples]


def background_samples(args):
    seed, minutes = args
    out = []
    for chunk, _ in make_background_hours(seed, hours=minutes / 60.0, chunk_s=60.0):
        feat = int_model.features(to_int16(chunk), CFG)
        _, samples = detect_model.run(feat, CFG, collect=True)
        out += [(x, events.NONE) for _, _, _, x in samples]
    return out


# ---------------------------------------------------------------- CART / forest
def _best_split(X, y, w, feats, min_leaf, ncls):
    best = (0.0, None, None)
    W = np.zeros((len(y), ncls))
    W[np.arange(len(y)), y] = w
    tot = W.sum(0)
    ntot = tot.sum()
    g0 = ntot - (tot ** 2).sum() / ntot
    for f in feats:
        order = np.argsort(X[:, f], kind="stable")
        xs = X[order, f]
        cl = np.cumsum(W[order], axis=0)[:-1]
        nl = cl.sum(1)
        nr = ntot - nl
        ok = (xs[1:] != xs[:-1]) & (np.arange(1, len(xs)) >= min_leaf) & (np.arange(len(xs) - 1, 0, -1) >= min_leaf)
        if not ok.any():
            continue
        cr = tot - cl
        with np.errstate(divide="ignore", invalid="ignore"):
            g = (nl - (cl ** 2).sum(1) / nl) + (nr - (cr ** 2).sum(1) / nr)
        g = np.where(ok, g, np.inf)
        k = int(np.argmin(g))
        gain = g0 - g[k]
        if gain > best[0] + 1e-12:
            best = (gain, f, int((int(xs[k]) + int(xs[k + 1])) // 2))
    return best


def _grow(X, y, w, depth, P, rng, nodes, ncls):
    idx = len(nodes)
    nodes.append(None)
    tot = np.bincount(y, weights=w, minlength=ncls)
    leaf = depth == 0 or len(np.unique(y)) == 1 or len(y) < 2 * P["min_leaf"]
    if not leaf:
        feats = rng.choice(X.shape[1], P["mtry"], replace=False)
        gain, f, thr = _best_split(X, y, w, feats, P["min_leaf"], ncls)
        if f is None:
            leaf = True
    if leaf:
        share = np.floor(100.0 * tot / tot.sum() + 0.5).astype(int)
        nodes[idx] = (-1, int(share[0] | (share[1] << 7)), int(share[2] | (share[3] << 7)), 0)
        return idx
    m = X[:, f] <= thr
    left = _grow(X[m], y[m], w[m], depth - 1, P, rng, nodes, ncls)
    right = _grow(X[~m], y[~m], w[~m], depth - 1, P, rng, nodes, ncls)
    nodes[idx] = (int(f), thr, left, right)
    return idx


def train_forest(X, y, P=FOREST):
    """Bagged CART trees; class weights balance the classes.  Returns (nodes, roots)."""
    rng = np.random.default_rng(P["seed"])
    ncls = events.NCLASSES
    cnt = np.bincount(y, minlength=ncls).astype(float)
    cw = np.where(cnt > 0, cnt.sum() / (ncls * np.maximum(cnt, 1)), 0.0)
    nodes, roots = [], []
    for _ in range(P["ntrees"]):
        b = rng.integers(0, len(y), len(y))
        roots.append(_grow(X[b], y[b], cw[y[b]], P["depth"], P, rng, nodes, ncls))
    return nodes, roots


def render(nodes, roots, stats):
    flat = [v for n in nodes for v in n]
    if min(flat) < -32768 or max(flat) > 32767:
        raise ValueError("forest value outside int16")
    blob = np.array(flat, dtype="<i2").tobytes()
    lines = ["# SPDX-License-Identifier: MIT",
             "# Generated by dsp_reference/train_detector.py -- do not edit by hand.",
             "# Detector constants (PARAMS) and the segment classifier: a random forest of %d" % len(roots),
             "# integer-threshold trees over the 20 segment features of dsp_reference.detect_model.",
             "# NODES: 4 little-endian int16 per node: feature (-1 = leaf), threshold, left child,",
             "# right child (go left when x[feature] <= threshold); a leaf holds the vote shares",
             "# 0..100 of classes 0 and 1 in the threshold slot and of 2 and 3 in the left slot,",
             "# 7 bits each.  The firmware walks the bytes in place (no copy on the heap).",
             "# Training: %s" % stats,
             "PARAMS = {"]
    for k, v in T.PARAMS.items():
        lines.append("    %r: %r," % (k, v))
    lines.append("}")
    lines.append("NTREES = %d" % len(roots))
    lines.append("ROOTS = (%s,)" % ", ".join(str(r) for r in roots))
    lines.append("NODES = (")
    for i in range(0, len(blob), 32):
        lines.append("    b'" + "".join("\\x%02x" % c for c in blob[i:i + 32]) + "'")
    lines.append(")")
    return "\n".join(lines) + "\n"


def collect(n_scenes, bg_minutes, procs=2):
    seeds = [TRAIN_SEED0 + i for i in range(n_scenes)]
    with Pool(procs) as pool:
        parts = pool.map(scene_samples, seeds, chunksize=4)
        bg = pool.map(background_samples, [(TRAIN_SEED0 + 90000 + k, bg_minutes / 4.0) for k in range(4)])
    rows = [r for p in parts + bg for r in p]
    X = np.array([r[0] for r in rows], dtype=np.int64)
    y = np.array([r[1] for r in rows], dtype=np.int64)
    return X, y


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=360)
    ap.add_argument("--bg-minutes", type=float, default=60.0)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--cache", help="npz file to reuse / store the collected samples")
    a = ap.parse_args(argv)
    if a.cache and os.path.exists(a.cache):
        d = np.load(a.cache)
        X, y = d["X"], d["y"]
    else:
        X, y = collect(a.scenes, a.bg_minutes)
        if a.cache:
            np.savez(a.cache, X=X, y=y)
    nodes, roots = train_forest(X, y)
    pred = np.array([detect_model.forest_predict(list(x), ([v for n in nodes for v in n], roots, len(roots)))[0]
                     for x in X])
    stats = "%d samples (%s), %d scenes, %g min background, train acc %.3f" % (
        len(y), "/".join(str(int(v)) for v in np.bincount(y, minlength=events.NCLASSES)), a.scenes, a.bg_minutes,
        float(np.mean(pred == y)))
    with open(a.out, "w") as f:
        f.write(render(nodes, roots, stats))
    print(stats, "->", a.out, "(%d nodes)" % len(nodes), file=sys.stderr)


if __name__ == "__main__":
    main()
