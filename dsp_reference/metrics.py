# SPDX-License-Identifier: MIT
"""Event-based detection metrics (DCASE 2017 Task 2 onset-collar convention, MIVIA per-SNR view).

Events are dicts with ``class`` and ``onset_s`` (``offset_s`` and ``snr_db`` are optional and
ignored by the matching).  A detection matches a reference of the same class when
``|onset_det - onset_ref| <= collar_s`` (inclusive, with a 1e-9 s tolerance for float noise).
Matching is one-to-one and of maximum cardinality: pairs are first taken greedily by
increasing onset distance, then augmenting paths add any pair the greedy pass blocked, so the
number of true positives is the largest possible.

Conventions for empty denominators (no division by zero anywhere):
    precision = TP / (TP + FP); with no detections it is 1.0 if there were also no references
        (nothing to find, nothing wrongly claimed), else 0.0.
    recall    = TP / (TP + FN); with no references it is 1.0 if there were also no detections,
        else 0.0.
    f1        = 2 P R / (P + R), 0.0 when P + R == 0.
    error_rate = (S + D + I) / N with N the number of references; with N == 0 it is the raw
        error count S + D + I (0.0 for a perfect empty case).
"""
import math
from collections import defaultdict

import numpy as np

EPS = 1e-9


def _close(a, b, collar_s):
    return abs(a["onset_s"] - b["onset_s"]) <= collar_s + EPS


def _max_matching(ref, est, collar_s, same_class=True):
    """One-to-one maximum matching of indices; returns list of (ref_index, est_index)."""
    cand = sorted((abs(r["onset_s"] - e["onset_s"]), i, j)
                  for i, r in enumerate(ref) for j, e in enumerate(est)
                  if _close(r, e, collar_s) and (not same_class or r["class"] == e["class"]))
    adj = defaultdict(list)
    for _, i, j in cand:
        adj[i].append(j)
    r2e, e2r = {}, {}
    for _, i, j in cand:                                      # greedy by smallest onset distance
        if i not in r2e and j not in e2r:
            r2e[i], e2r[j] = j, i
    for root in list(adj):                                    # augmenting paths (Kuhn), iterative
        if root in r2e:
            continue
        parent, stack, seen, found = {}, [root], set(), None
        while stack and found is None:
            i = stack.pop()
            for j in adj[i]:
                if j in seen:
                    continue
                seen.add(j)
                parent[j] = i
                if j not in e2r:
                    found = j
                    break
                stack.append(e2r[j])
        while found is not None:                              # flip the path
            i = parent[found]
            prev = r2e.get(i)
            r2e[i], e2r[found] = found, i
            found = prev
    return sorted(r2e.items())


def match_events(ref, est, collar_s=0.5):
    """Match detections to references of the same class (see module docstring).

    Returns:
        dict with ``matches`` (list of (ref_index, est_index)), and per class ``counts``:
        {class: {"tp", "fp", "fn"}} for every class present in ref or est.
    """
    matches = _max_matching(ref, est, collar_s, same_class=True)
    counts = {c: {"tp": 0, "fp": 0, "fn": 0} for c in sorted({e["class"] for e in list(ref) + list(est)})}
    mr, me = {i for i, _ in matches}, {j for _, j in matches}
    for i, r in enumerate(ref):
        counts[r["class"]]["tp" if i in mr else "fn"] += 1
    for j, e in enumerate(est):
        if j not in me:
            counts[e["class"]]["fp"] += 1
    return {"matches": matches, "counts": counts}


def _ratio(num, den, perfect):
    return num / den if den else (1.0 if perfect else 0.0)


def scores(tp, fp, fn, s=0):
    """Precision, recall, F1 and error rate from counts (S substitutions, D = fn - s, I = fp - s)."""
    n = tp + fn
    p = _ratio(tp, tp + fp, fn == 0)
    r = _ratio(tp, tp + fn, fp == 0)
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    d, i = fn - s, fp - s
    er = (s + d + i) / n if n else float(s + d + i)
    return {"tp": tp, "fp": fp, "fn": fn, "s": s, "d": d, "i": i, "n_ref": n,
            "precision": p, "recall": r, "f1": f1, "error_rate": er}


def evaluate(ref, est, classes=None, collar_s=0.5):
    """Per-class and overall event-based scores for one scene (or one pooled list).

    Class-wise scores use S = 0, D = FN, I = FP.  The overall (multi-class) scores add
    substitutions, as sed_eval does: after the same-class matching, the still unmatched
    references and detections are matched again one-to-one ignoring class (same onset collar);
    each such pair is one substitution S, and then D = FN - S, I = FP - S, N = all references,
    ER = (S + D + I) / N.  Overall precision/recall/F1 are micro-averaged over classes.

    Returns:
        {"classes": {class: scores}, "overall": scores, "matches": [...], "substitutions": [...]}
    """
    m = match_events(ref, est, collar_s)
    classes = list(classes) if classes is not None else list(m["counts"])
    per = {}
    for c in classes:
        k = m["counts"].get(c, {"tp": 0, "fp": 0, "fn": 0})
        per[c] = scores(k["tp"], k["fp"], k["fn"])
    mr, me = {i for i, _ in m["matches"]}, {j for _, j in m["matches"]}
    ur = [i for i in range(len(ref)) if i not in mr]
    ue = [j for j in range(len(est)) if j not in me]
    sub = _max_matching([ref[i] for i in ur], [est[j] for j in ue], collar_s, same_class=False)
    subs = [(ur[a], ue[b]) for a, b in sub]
    tp = sum(k["tp"] for k in m["counts"].values())
    fp = sum(k["fp"] for k in m["counts"].values())
    fn = sum(k["fn"] for k in m["counts"].values())
    return {"classes": per, "overall": scores(tp, fp, fn, len(subs)), "matches": m["matches"],
            "substitutions": subs}


def confusion_matrix(ref, est, classes, collar_s=0.5):
    """Counts matrix[true][predicted] over classes + "none".

    Same-class matches go on the diagonal; substitution pairs (see evaluate) go to
    [ref class][detected class]; remaining missed references to [class]["none"] and remaining
    false alarms to ["none"][class].  ["none"]["none"] is always 0.
    """
    labels = list(classes) + ["none"]
    mat = {a: {b: 0 for b in labels} for a in labels}
    res = evaluate(ref, est, classes, collar_s)
    used_r, used_e = set(), set()
    for i, j in res["matches"] + res["substitutions"]:
        mat[ref[i]["class"]][est[j]["class"]] += 1
        used_r.add(i)
        used_e.add(j)
    for i, r in enumerate(ref):
        if i not in used_r:
            mat[r["class"]]["none"] += 1
    for j, e in enumerate(est):
        if j not in used_e:
            mat["none"][e["class"]] += 1
    return mat


def false_alarms_per_hour(n_events, seconds):
    """False alarms per hour; raises ValueError for a non-positive duration."""
    if seconds <= 0:
        raise ValueError("duration must be positive")
    return n_events * 3600.0 / seconds


def _bisect(f, lo, hi, target, iters=100):
    """x in [lo, hi] with f(x) = target for a decreasing f (bisection)."""
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if f(mid) > target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _poisson_cdf(k, mu):
    """P(X <= k) for X ~ Poisson(mu), summed in log space (no overflow for large k or mu)."""
    if k < 0:
        return 0.0
    return min(1.0, sum(math.exp(i * math.log(mu) - mu - math.lgamma(i + 1)) for i in range(k + 1))) \
        if mu > 0 else 1.0


def poisson_interval(n, conf=0.95):
    """Exact (Garwood) two-sided interval of a Poisson mean from n observed events: how far a
    false-alarm count measured on a few hours of audio may be from the true rate."""
    if n < 0:
        raise ValueError("count must be >= 0")
    a = (1.0 - conf) / 2
    hi_bound = n + 20.0 * math.sqrt(n + 1) + 20.0
    lo = 0.0 if n == 0 else _bisect(lambda mu: 1.0 - _poisson_cdf(n - 1, mu), hi_bound, 0.0, a)
    hi = _bisect(lambda mu: _poisson_cdf(n, mu), 0.0, hi_bound, a)
    return lo, hi


def wilson_interval(k, n, conf_z=1.959964):
    """Wilson score interval of a proportion k/n (None for n == 0): how far a recall measured on
    a few clips may be from the true one."""
    if n <= 0:
        return None
    if not 0 <= k <= n:
        raise ValueError("need 0 <= k <= n")
    p = k / n
    z2 = conf_z * conf_z
    mid = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = conf_z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, mid - half), min(1.0, mid + half)


def aggregate(results, classes=None):
    """Pool evaluate() results of many scenes: counts are summed, then scores recomputed."""
    tot = defaultdict(lambda: [0, 0, 0])
    otp = ofp = ofn = osub = 0
    for r in results:
        for c, k in r["classes"].items():
            t = tot[c]
            t[0] += k["tp"]
            t[1] += k["fp"]
            t[2] += k["fn"]
        o = r["overall"]
        otp, ofp, ofn, osub = otp + o["tp"], ofp + o["fp"], ofn + o["fn"], osub + o["s"]
    names = list(classes) if classes is not None else sorted(tot)
    return {"classes": {c: scores(*tot[c]) for c in names}, "overall": scores(otp, ofp, ofn, osub),
            "n_scenes": len(results)}


def bootstrap_interval(results, classes, n_boot=2000, conf=0.95, seed=0):
    """Percentile-bootstrap intervals of each class's pooled F1 and error rate over scenes.

    results: evaluate() results, one per scene.  Each replicate draws len(results) scenes with
    replacement, sums their counts and scores them as aggregate() does (the empty-case
    conventions above included), so an interval says how much the pooled figure owes to which
    scenes happened to be drawn.  Deterministic for a seed.  Returns {class: {"f1": [lo, hi],
    "error_rate": [lo, hi]}}, or {} for no results."""
    if not results:
        return {}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(results), size=(n_boot, len(results)))
    lo_q, hi_q = 100 * (1 - conf) / 2, 100 * (1 + conf) / 2
    out = {}
    for c in classes:
        k = np.array([[r["classes"][c][f] for f in ("tp", "fp", "fn")] for r in results], dtype=np.int64)
        reps = [scores(*map(int, row)) for row in k[idx].sum(axis=1)]     # one pooled count per draw
        out[c] = {m: [float(np.percentile([v[m] for v in reps], q)) for q in (lo_q, hi_q)]
                  for m in ("f1", "error_rate")}
    return out


def by_snr(scenes, classes, collar_s=0.5, snr_key="snr_db"):
    """MIVIA-style per-SNR scores over (ref, est) pairs, one pair per scene.

    Each reference is grouped by its own ``snr_key``.  A detection that is a false alarm is
    counted in the group of the scene's SNR when all references of that scene share one SNR,
    else in the group None (so per-SNR precision is meaningful for one-SNR-per-scene test sets,
    as in MIVIA).  Returns {snr: aggregate()-style dict}.
    """
    groups = defaultdict(list)
    for ref, est in scenes:
        snrs = sorted({r.get(snr_key) for r in ref}, key=lambda v: (v is None, v))
        scene_snr = snrs[0] if len(snrs) == 1 else None
        m = match_events(ref, est, collar_s)
        matched_e = {j for _, j in m["matches"]}
        matched_r = {i for i, _ in m["matches"]}
        for snr in set(snrs) | {scene_snr}:
            sub_ref = [i for i, r in enumerate(ref) if r.get(snr_key) == snr]
            per = {}
            for c in classes:
                tp = sum(1 for i in sub_ref if ref[i]["class"] == c and i in matched_r)
                fn = sum(1 for i in sub_ref if ref[i]["class"] == c and i not in matched_r)
                fp = sum(1 for j, e in enumerate(est) if e["class"] == c and j not in matched_e) \
                    if snr == scene_snr else 0
                per[c] = scores(tp, fp, fn)
            tp, fp, fn = (sum(per[c][k] for c in classes) for k in ("tp", "fp", "fn"))
            if sub_ref or fp:
                groups[snr].append({"classes": per, "overall": scores(tp, fp, fn)})
    return {snr: aggregate(res, classes) for snr, res in groups.items()}
