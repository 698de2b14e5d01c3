# SPDX-License-Identifier: MIT
"""Event-based metrics on small hand-made cases with known answers."""
import pytest

from dsp_reference import metrics as M
from dsp_reference.metrics import (aggregate, by_snr, confusion_matrix, evaluate, false_alarms_per_hour,
                                   match_events, scores)


def ev(cls, t, **kw):
    return dict({"class": cls, "onset_s": t}, **kw)


def counts(ref, est, collar=0.5):
    return match_events(ref, est, collar)["counts"]


def test_exact_match_and_collar_boundary_inclusive():
    ref = [ev("gunshot", 10.0), ev("gunshot", 20.0), ev("gunshot", 30.0)]
    est = [ev("gunshot", 10.5), ev("gunshot", 19.5), ev("gunshot", 30.5001)]
    c = counts(ref, est)["gunshot"]
    assert (c["tp"], c["fp"], c["fn"]) == (2, 1, 1)
    r = evaluate(ref, est)["classes"]["gunshot"]
    assert r["precision"] == pytest.approx(2 / 3)
    assert r["recall"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 / 3)
    assert r["error_rate"] == pytest.approx((1 + 1) / 3)


def test_one_to_one_two_detections_near_one_reference():
    res = match_events([ev("scream", 5.0)], [ev("scream", 5.1), ev("scream", 4.8)])
    assert res["counts"]["scream"] == {"tp": 1, "fp": 1, "fn": 0}
    assert res["matches"] == [(0, 0)]                    # the closer detection is kept


def test_one_detection_between_two_references():
    res = match_events([ev("gunshot", 1.0), ev("gunshot", 1.6)], [ev("gunshot", 1.3)])
    assert res["counts"]["gunshot"] == {"tp": 1, "fp": 0, "fn": 1}


def test_matching_is_maximum_not_just_greedy():
    # refs A=1.0, B=1.9; dets x=1.4 (A 0.4, B 0.5), y=0.55 (A 0.45).  Greedy by distance takes
    # x-A first, which blocks both y and B (1 TP); the maximum matching is y-A, x-B (2 TP).
    ref = [ev("glass_break", 1.0), ev("glass_break", 1.9)]
    est = [ev("glass_break", 1.4), ev("glass_break", 0.55)]
    assert counts(ref, est)["glass_break"] == {"tp": 2, "fp": 0, "fn": 0}


def test_class_mismatch_is_not_a_match():
    c = counts([ev("gunshot", 3.0)], [ev("glass_break", 3.0)])
    assert c["gunshot"] == {"tp": 0, "fp": 0, "fn": 1}
    assert c["glass_break"] == {"tp": 0, "fp": 1, "fn": 0}


def test_substitution_error_rate():
    ref = [ev("gunshot", 3.0), ev("scream", 10.0), ev("glass_break", 20.0)]
    est = [ev("glass_break", 3.2), ev("scream", 10.1), ev("gunshot", 40.0)]
    r = evaluate(ref, est, ["gunshot", "scream", "glass_break"])
    o = r["overall"]
    assert (o["tp"], o["fp"], o["fn"]) == (1, 2, 2)
    assert (o["s"], o["d"], o["i"]) == (1, 1, 1)       # glass@3.2 substitutes gunshot@3.0
    assert o["error_rate"] == pytest.approx(3 / 3)
    assert r["classes"]["gunshot"]["error_rate"] == pytest.approx(2.0)   # D=1, I=1, N=1
    assert r["classes"]["scream"]["error_rate"] == 0.0
    assert r["substitutions"] == [(0, 0)]


def test_confusion_matrix():
    ref = [ev("gunshot", 3.0), ev("scream", 10.0), ev("glass_break", 20.0)]
    est = [ev("glass_break", 3.2), ev("scream", 10.1), ev("gunshot", 40.0)]
    m = confusion_matrix(ref, est, ["gunshot", "scream", "glass_break"])
    assert m["gunshot"]["glass_break"] == 1
    assert m["scream"]["scream"] == 1
    assert m["glass_break"]["none"] == 1
    assert m["none"]["gunshot"] == 1
    assert sum(sum(row.values()) for row in m.values()) == 4


def test_empty_inputs_have_defined_values():
    both = evaluate([], [], ["gunshot"])["classes"]["gunshot"]
    assert (both["precision"], both["recall"], both["f1"], both["error_rate"]) == (1.0, 1.0, 1.0, 0.0)
    miss = evaluate([ev("gunshot", 1.0)], [], ["gunshot"])["classes"]["gunshot"]
    assert (miss["precision"], miss["recall"], miss["f1"], miss["error_rate"]) == (0.0, 0.0, 0.0, 1.0)
    fa = evaluate([], [ev("gunshot", 1.0), ev("gunshot", 5.0)], ["gunshot"])["classes"]["gunshot"]
    assert (fa["precision"], fa["recall"], fa["f1"], fa["error_rate"]) == (0.0, 0.0, 0.0, 2.0)
    assert match_events([], [])["matches"] == []


def test_scores_formula():
    s = scores(tp=6, fp=2, fn=4)
    assert s["precision"] == pytest.approx(0.75)
    assert s["recall"] == pytest.approx(0.6)
    assert s["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert s["error_rate"] == pytest.approx(6 / 10)


def test_false_alarms_per_hour():
    assert false_alarms_per_hour(3, 7200) == pytest.approx(1.5)
    assert false_alarms_per_hour(0, 60) == 0.0
    with pytest.raises(ValueError):
        false_alarms_per_hour(1, 0)


def test_aggregate_pools_counts():
    a = evaluate([ev("gunshot", 1.0)], [ev("gunshot", 1.1)], ["gunshot"])
    b = evaluate([ev("gunshot", 1.0), ev("gunshot", 5.0)], [ev("gunshot", 9.0)], ["gunshot"])
    g = aggregate([a, b])["classes"]["gunshot"]
    assert (g["tp"], g["fp"], g["fn"]) == (1, 1, 2)
    assert g["recall"] == pytest.approx(1 / 3)
    assert g["precision"] == pytest.approx(1 / 2)


def test_by_snr_groups_references_and_scene_false_alarms():
    s1 = ([ev("scream", 2.0, snr_db=0), ev("scream", 8.0, snr_db=0)], [ev("scream", 2.2), ev("scream", 15.0)])
    s2 = ([ev("scream", 4.0, snr_db=20)], [ev("scream", 4.0)])
    res = by_snr([s1, s2], ["scream"])
    assert res[0]["classes"]["scream"]["tp"] == 1
    assert res[0]["classes"]["scream"]["fn"] == 1
    assert res[0]["classes"]["scream"]["fp"] == 1
    assert res[20]["classes"]["scream"]["recall"] == 1.0
    assert res[20]["classes"]["scream"]["fp"] == 0


def test_bootstrap_interval_of_hand_made_scenes():
    hit = evaluate([ev("gunshot", 1.0)], [ev("gunshot", 1.1)], ["gunshot"])          # tp 1
    miss = evaluate([ev("gunshot", 1.0)], [], ["gunshot"])                           # fn 1
    ghost = evaluate([], [ev("gunshot", 3.0)], ["gunshot"])                          # fp 1
    # every scene perfect: no replicate can differ
    ci = M.bootstrap_interval([hit] * 30, ["gunshot"])["gunshot"]
    assert ci["f1"] == [1.0, 1.0] and ci["error_rate"] == [0.0, 0.0]
    # 9 hits, 1 miss: pooled F1 18/19 = 0.947; a replicate has 0..10 misses of 10 scenes
    scenes = [hit] * 9 + [miss]
    ci = M.bootstrap_interval(scenes, ["gunshot"], n_boot=4000)["gunshot"]
    pooled = aggregate(scenes)["classes"]["gunshot"]
    assert ci["f1"][0] < pooled["f1"] <= ci["f1"][1]
    assert ci["f1"][1] == 1.0                          # P(no miss drawn) = 0.9**10 = 0.35
    assert 0.75 < ci["f1"][0] < 0.9                    # 3 misses (F1 7/8.5 = 0.82) is inside the 2.5 %
    assert ci["error_rate"][0] == 0.0 and 0.2 <= ci["error_rate"][1] <= 0.4
    # more scenes, same rates: a narrower interval; same seed: the same interval
    wide = M.bootstrap_interval(scenes, ["gunshot"])["gunshot"]["f1"]
    narrow = M.bootstrap_interval(scenes * 10, ["gunshot"])["gunshot"]["f1"]
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    assert M.bootstrap_interval(scenes, ["gunshot"]) == M.bootstrap_interval(scenes, ["gunshot"])
    # a ghost counts as an error even in a replicate with no references (raw count, as scores())
    ci = M.bootstrap_interval([ghost] * 5, ["gunshot"])["gunshot"]
    assert ci["f1"] == [0.0, 0.0] and ci["error_rate"] == [5.0, 5.0]
    assert M.bootstrap_interval([], ["gunshot"]) == {}


def test_poisson_interval_matches_published_exact_limits():
    # Garwood limits (e.g. the chi-square table: 0 -> 0-3.689, 1 -> 0.0253-5.572, 7 -> 2.814-14.42)
    assert M.poisson_interval(0) == (0.0, pytest.approx(3.6889, abs=1e-3))
    assert M.poisson_interval(1) == (pytest.approx(0.02532, abs=1e-4), pytest.approx(5.5716, abs=1e-3))
    assert M.poisson_interval(7) == (pytest.approx(2.8143, abs=1e-3), pytest.approx(14.4227, abs=1e-3))
    lo, hi = M.poisson_interval(400)                  # large counts: close to n +- 1.96 sqrt(n)
    assert lo == pytest.approx(400 - 1.96 * 20, abs=2) and hi == pytest.approx(400 + 1.96 * 20, abs=2)
    with pytest.raises(ValueError):
        M.poisson_interval(-1)


def test_poisson_interval_tails_hold_their_share():
    import math
    for n in (2, 5, 12):
        lo, hi = M.poisson_interval(n, conf=0.9)
        p_ge_n_at_lo = 1 - sum(math.exp(-lo) * lo ** i / math.factorial(i) for i in range(n))
        p_le_n_at_hi = sum(math.exp(-hi) * hi ** i / math.factorial(i) for i in range(n + 1))
        assert p_ge_n_at_lo == pytest.approx(0.05, abs=1e-6)
        assert p_le_n_at_hi == pytest.approx(0.05, abs=1e-6)


def test_wilson_interval():
    lo, hi = M.wilson_interval(5, 18)                 # 0.278 measured on 18 clips
    assert lo == pytest.approx(0.1250, abs=1e-3) and hi == pytest.approx(0.5087, abs=1e-3)
    assert M.wilson_interval(0, 10)[0] == 0.0 and M.wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert M.wilson_interval(0, 0) is None
    with pytest.raises(ValueError):
        M.wilson_interval(3, 2)
