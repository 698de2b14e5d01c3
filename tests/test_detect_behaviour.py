# SPDX-License-Identifier: MIT
"""Detector behaviour on clean constructed cases (reference engine; parity with the
firmware is tests/test_detect_parity.py): one event per sound, the right class, shot
counts, onset accuracy, refractory merging, and nothing on silence or steady noise."""
import numpy as np
import pytest

from dsp_reference import detect_model, int_model
from dsp_reference.scenes import make_background
from dsp_reference.sounds import make_event
from host_tools import audio_io, detect
from node import config, detect_table, events

CFG = config.validate({})
RATE = CFG["rate"]


def _mix(parts, seconds=6.0, bg="traffic", bg_dbfs=-50.0, seed=0):
    """Background plus events: parts = [(signal, start_s, peak)]."""
    n = int(seconds * RATE)
    x = make_background(bg, np.random.default_rng(seed), RATE, seconds) * 10 ** (bg_dbfs / 20)
    for sig, t, peak in parts:
        k = int(t * RATE)
        s = sig[: n - k] / np.abs(sig).max() * peak
        x[k:k + len(s)] += s
    return audio_io.to_int16(x)


def _events(x):
    return detect.to_dicts(detect.reference_events(x, CFG), CFG)


def _shot(seed, **kw):
    kw.setdefault("distance_m", 30.0)
    kw.setdefault("n_shots", 1)
    kw.setdefault("tail_s", 0.3)
    return make_event("gunshot", np.random.default_rng(seed), RATE, **kw)[0]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_single_gunshot_one_event_one_shot_accurate_onset(seed):
    ev = _events(_mix([(_shot(seed), 2.5, 0.5)], seed=seed))
    assert [e["class"] for e in ev] == ["gunshot"]
    assert ev[0]["shots"] == 1
    assert abs(ev[0]["onset_s"] - 2.5) <= 0.032                 # within two hops
    assert ev[0]["report_s"] - 2.5 <= 0.3                       # reported within 300 ms of the onset
    assert -12.0 <= ev[0]["peak_dbfs"] <= -3.0                  # the shot's peak (0.5 FS = -6 dBFS)


def test_burst_of_three_separate_shots_is_one_event_with_count_3():
    shots = [(_shot(10 + i), 2.0 + 0.45 * i, 0.5) for i in range(3)]
    ev = _events(_mix(shots, seed=4))
    assert [e["class"] for e in ev] == ["gunshot"]
    assert ev[0]["shots"] == 3
    assert abs(ev[0]["onset_s"] - 2.0) <= 0.032


@pytest.mark.parametrize("seed", [40, 41, 42])
def test_burst_in_a_long_reverberant_tail_counts_every_shot_and_reports_early(seed):
    # 4 shots 0.25 s apart in a street whose tail lasts 1.5 s: each later shot lifts the level
    # only ~8 dB over two frames above the tail of the shots before (the 9 dB frame-to-frame
    # rule counted 1 or 2); the first report must not wait for the burst to end
    burst = make_event("gunshot", np.random.default_rng(seed), RATE, distance_m=30.0, n_shots=4,
                       interval_s=0.25, tail_s=1.5)[0]
    ev = _events(_mix([(burst, 2.0, 0.5)], seed=seed))
    assert [e["class"] for e in ev] == ["gunshot"]
    assert ev[0]["shots"] == 4
    assert ev[0]["report_s"] - 2.0 <= 0.3


def test_shots_far_apart_are_separate_events():
    ev = _events(_mix([(_shot(20), 1.5, 0.5), (_shot(21), 5.0, 0.5)], seconds=8.0, seed=5))
    assert [e["class"] for e in ev] == ["gunshot", "gunshot"]
    assert [e["shots"] for e in ev] == [1, 1]


def test_screams_are_screams():
    # six clear screams in traffic: at least five reported as one scream at the right time, and
    # none as anything else.  The sixth table reports all six (confidence 87-99 %; the fourth
    # table, with a vote threshold of 75, had missed two); one miss is allowed because the
    # detector still misses screams (scream recall 0.92-1.00 at 20-30 dB in `make eval`,
    # docs/detector.md).
    hits = 0
    for seed in range(6):
        sig = make_event("scream", np.random.default_rng(seed), RATE, duration_s=1.2)[0]
        ev = _events(_mix([(sig, 2.0, 0.3)], seed=6))
        assert all(e["class"] == "scream" for e in ev) and len(ev) <= 1
        hits += len(ev) == 1 and abs(ev[0]["onset_s"] - 2.0) <= 0.15
    assert hits >= 5


def test_glass_break_is_glass_break():
    sig = make_event("glass_break", np.random.default_rng(5), RATE, duration_s=1.0)[0]
    ev = _events(_mix([(sig, 2.0, 0.4)], seed=7))
    assert [e["class"] for e in ev] == ["glass_break"]
    assert abs(ev[0]["onset_s"] - 2.0) <= 0.05


@pytest.mark.parametrize("kind", ["silence", "white", "traffic", "rain"])
def test_nothing_on_silence_or_steady_noise(kind):
    n = 10 * RATE
    if kind == "silence":
        x = np.zeros(n, dtype=np.int16)
    elif kind == "white":
        x = audio_io.to_int16(np.random.default_rng(1).standard_normal(n) * 0.02)
    else:
        x = _mix([], seconds=10.0, bg=kind, bg_dbfs=-35.0, seed=8)
    assert _events(x) == []


def test_refractory_merges_updates_into_one_record():
    shots = [(_shot(30 + i), 2.0 + 0.5 * i, 0.5) for i in range(2)]
    recs = detect.reference_events(_mix(shots, seed=9), CFG)
    assert len(recs) >= 2                                        # first report, then an update
    assert recs[0][6] == 0 and all(r[6] == 1 for r in recs[1:])  # E_UPDATE
    assert len({r[1] for r in recs}) == 1                        # same onset frame


def test_interim_decision_reports_a_long_scream_while_it_lasts(monkeypatch):
    # every mid_ms of a segment the classifier is asked again and any class at its conf_mid_<class>
    # (conf_first_<class> the first time) or above is reported there; conf_mid_* and conf_first_*
    # 101 leave only the decision at the segment end
    from node import detect_table as T
    sig = make_event("scream", np.random.default_rng(4), RATE, duration_s=2.4)[0]
    x = _mix([(sig, 2.0, 0.3)], seed=6)
    end = 2.0 + 2.4
    got, dur = {}, {}
    for conf_mid in (0, 101):
        for c in ("gunshot", "scream", "glass"):
            monkeypatch.setitem(T.PARAMS, "conf_mid_" + c, conf_mid)
            monkeypatch.setitem(T.PARAMS, "conf_first_" + c, conf_mid)
        monkeypatch.setitem(T.PARAMS, "conf_scream", 0)          # the end decision reports any scream
        ev = [e for e in _events(x) if abs(e["onset_s"] - 2.0) <= 0.15]
        assert [e["class"] for e in ev] == ["scream"], (conf_mid, ev)
        got[conf_mid], dur[conf_mid] = ev[0]["report_s"], ev[0]["duration_s"]
    mid_s = T.PARAMS["mid_ms"] / 1000.0
    assert got[0] <= 2.0 + mid_s + 0.1 < end - 1.0                # asked first at mid_ms
    assert got[101] >= end - 0.1                                  # only at the end
    assert dur[0] == dur[101] >= 2.4 - 0.5                        # the early report is updated at the end


def test_a_shot_that_ends_before_its_early_decision_is_judged_by_conf_short(monkeypatch):
    # a dry shot (50 ms tail) closes its segment before the early decision (gap_ms after the
    # impulse): its end decision takes conf_short for a gunshot answer, not conf_gunshot
    from node import detect_table as T
    x = _mix([(_shot(1, tail_s=0.05, distance_m=60.0), 2.0, 0.5)], seed=6)
    for short, gun, want in ((0, 101, ["gunshot"]), (101, 0, [])):
        monkeypatch.setitem(T.PARAMS, "conf_short", short)
        monkeypatch.setitem(T.PARAMS, "conf_gunshot", gun)
        ev = _events(x)
        assert [e["class"] for e in ev] == want, (short, gun, ev)


@pytest.mark.parametrize("cls,key", [("gunshot", "gunshot"), ("scream", "scream"), ("glass_break", "glass")])
def test_an_answer_at_the_first_interim_decision_is_judged_by_conf_first_of_its_class(cls, key, monkeypatch):
    # the first interim decision (mid_ms into the segment) is a shot's last one within its 0.3 s
    # latency budget, and where a siren's start passes for a scream: an answer there takes
    # conf_first_<class>, later interim ones conf_mid_<class>
    from node import detect_table as T
    if cls == "gunshot":
        x = _mix([(_shot(3, tail_s=1.5), 2.0, 0.5)], seed=6)
    else:
        x = _mix([(make_event(cls, np.random.default_rng(4), RATE, duration_s=2.0)[0], 2.0, 0.3)], seed=6)
    for k in T.PARAMS:
        if k.startswith("conf_") and k != "conf_switch":
            monkeypatch.setitem(T.PARAMS, k, 101)                 # no other decision reports
    mid_s = T.PARAMS["mid_ms"] / 1000.0
    monkeypatch.setitem(T.PARAMS, "conf_first_" + key, 0)
    ev = _events(x)
    assert [e["class"] for e in ev] == [cls], ev
    assert 2.0 + mid_s - 0.05 <= ev[0]["report_s"] <= 2.3       # at the first interim decision
    assert ev[0]["duration_s"] > ev[0]["report_s"] - 2.0 + 0.1   # updated at the segment end
    monkeypatch.setitem(T.PARAMS, "conf_first_" + key, 101)
    assert _events(x) == []
    monkeypatch.setitem(T.PARAMS, "conf_mid_" + key, 0)           # later interim decisions: conf_mid
    ev = _events(x)
    assert [e["class"] for e in ev] == [cls] and ev[0]["report_s"] >= 2.0 + 2 * mid_s - 0.05, ev


def _segment_starts(x):
    pts = detect_model.trace(int_model.features(x, CFG), CFG)
    return sorted({events.onset_sample(p[4], CFG["frame"], CFG["hop"]) / RATE for p in pts})


def test_a_scream_rising_out_of_babble_gets_its_own_segment(monkeypatch):
    # loud babble keeps segments open back to back; a scream 10 dB above it used to land in a
    # segment that had started up to a second earlier (its features diluted, its onset off by
    # more than the 0.5 s collar).  The swell rule starts a new segment where it rises.
    def near(starts):
        return min((abs(s - 3.0) for s in starts), default=9.0)

    got, without = [], []
    for seed in range(6):
        bg = make_background("babble", np.random.default_rng(seed), RATE, 6.0) * 10 ** (-30 / 20)
        sc = make_event("scream", np.random.default_rng(100 + seed), RATE, duration_s=1.2)[0]
        k = int(3.0 * RATE)
        bg[k:k + len(sc)] += sc * 10 ** (10 / 20) * np.sqrt(np.mean(bg ** 2) / np.mean(sc ** 2))
        x = audio_io.to_int16(bg)
        got.append(near(_segment_starts(x)))
        with monkeypatch.context() as m:
            m.setitem(detect_table.PARAMS, "swell_q2", 1000)            # the rule off
            without.append(near(_segment_starts(x)))
    assert sum(g <= 0.25 for g in got) >= 4, got
    assert sum(w <= 0.25 for w in without) <= 1, without              # the case needs the rule
    assert detect_model.params(CFG)["swell_age"] >= 10                # not in a sound's own rise


def test_a_sound_rising_when_its_segment_is_cut_reports_where_it_rose(monkeypatch, cut_street):
    # the cut at a segment's maximum length is no onset: the scream is decided in the segment
    # that opens at the cut, and used to be reported from there, late (in make eval a scream
    # in babble at 10 dB came 0.83 s late, outside the collar)
    x, onset = cut_street
    pts = detect_model.trace(int_model.features(x, CFG), CFG)
    cut = sorted({p[4] for p in pts if p[9] < p[4]})
    assert len(cut) == 1
    assert events.onset_sample(cut[0], CFG["frame"], CFG["hop"]) / RATE - onset >= 0.2   # the case: a late cut
    got = [e for e in _events(x) if e["class"] == "scream"]
    assert len(got) == 1 and abs(got[0]["onset_s"] - onset) <= 0.2, got
    monkeypatch.setitem(detect_table.PARAMS, "back_ms", 0)                             # the rule off
    got = [e for e in _events(x) if e["class"] == "scream"]
    assert len(got) == 1 and got[0]["onset_s"] - onset >= 0.2, got


def test_a_scream_in_a_quiet_street_stays_one_segment():
    # the swell compares with the segment's own mean, so a sound's rise does not split it
    # (an average over the last half second, still catching up 300 ms in, split every long
    # sound there)
    for seed in range(6):
        sig = make_event("scream", np.random.default_rng(seed), RATE, duration_s=1.2)[0]
        starts = [s for s in _segment_starts(_mix([(sig, 2.0, 0.3)], seed=6)) if 1.5 < s < 3.5]
        assert len(starts) == 1 and abs(starts[0] - 2.0) <= 0.05, (seed, starts)


def test_a_far_louder_sound_inside_a_quiet_segment_starts_its_own(monkeypatch):
    # phone recordings of screams often start with a handling bump or a breath 30-70 dB below
    # the scream in near digital silence: the bump's segment was still open when the scream
    # broke in and swallowed it (its features diluted).  A frame whose rms is split_rise above
    # the segment's loudest so far now starts a new segment (a gradual rise raises the
    # loudest with it, so a sound's own attack never splits it).
    def near(starts):
        return min((abs(s - 1.2) for s in starts), default=9.0)

    got, without = [], []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal(int(3.0 * RATE)) * 10 ** (-90 / 20)
        k0, k1 = int(1.0 * RATE), int(1.2 * RATE)
        bump = make_event("door_slam", np.random.default_rng(50 + seed), RATE)[0]
        hum = rng.standard_normal(int(0.6 * RATE))                  # a breath, 40 dB down
        x[k0:k0 + len(hum)] += hum / np.abs(hum).max() * 0.01
        x[k0:k0 + len(bump)] += bump[: len(x) - k0] / np.abs(bump).max() * 0.01
        sc = make_event("scream", np.random.default_rng(200 + seed), RATE, duration_s=1.0)[0]
        sc = sc[int(0.12 * RATE):] * np.minimum(1, np.arange(len(sc) - int(0.12 * RATE)) / 80)  # abrupt
        x[k1:k1 + len(sc)] += sc / np.abs(sc).max() * 0.7
        x = audio_io.to_int16(x)
        got.append(near(_segment_starts(x)))
        with monkeypatch.context() as m:
            m.setitem(detect_table.PARAMS, "split_rise", 30000)         # the rule off
            without.append(near(_segment_starts(x)))
    assert all(g <= 0.1 for g in got), got
    assert sum(w <= 0.1 for w in without) <= 1, without                # the case needs the rule
    assert 1500 <= detect_table.PARAMS["split_rise"] <= 3000          # far above a sound's wobble


def _loudest_segment_features(x):
    """Final-decision features of the segment with the largest activity x duration."""
    pts = [p for p in detect_model.trace(int_model.features(x, CFG), CFG) if p[1]]
    return max(pts, key=lambda p: p[3][1] * p[3][0])[3]


def test_a_scream_in_near_silence_has_the_low_band_share_it_has_in_a_street(monkeypatch):
    # over a digitally silent floor every band lights up when a sound starts, whatever its
    # spectrum: real phone-recorded screams had a low-band activity share of 15-32 %, synthetic
    # ones in a street 2-3 %, and were called "none".  The low/high shares count only the bands
    # within share_rel of the frame's loudest band.
    lf = detect_model.FEATURE_NAMES.index("lf_share")
    got, without = [], []
    for seed in range(3):
        sc = make_event("scream", np.random.default_rng(300 + seed), RATE, duration_s=1.2)[0]
        quiet = _mix([(sc, 1.5, 0.5)], seconds=4.0, bg="night", bg_dbfs=-100.0, seed=seed)
        street = _mix([(sc, 1.5, 0.5)], seconds=4.0, bg="traffic", bg_dbfs=-40.0, seed=seed)
        got.append((_loudest_segment_features(quiet)[lf], _loudest_segment_features(street)[lf]))
        with monkeypatch.context() as m:
            m.setitem(detect_table.PARAMS, "share_rel", 30000)          # every band counted
            without.append(_loudest_segment_features(quiet)[lf])
    assert all(q <= 5 and s <= 12 and abs(q - s) <= 8 for q, s in got), got
    assert all(w >= 20 for w in without), without                       # the case needs the rule


def test_a_siren_keeps_its_pitch_direction_a_scream_and_a_cry_do_not():
    # a siren's pitch sweeps slowly and evenly: step after step goes the same way.  A scream's
    # vibrato and a cry's sobs turn it every few frames.  pitch_mono: per cent of the voiced
    # pitch steps that go on the way the last one went (pulled towards 50 when there are few).
    from dsp_reference.confusers import crying_child, siren
    mono = detect_model.FEATURE_NAMES.index("pitch_mono")

    def med(gen):
        v = []
        for seed in range(6):
            sig = gen(np.random.default_rng(seed))
            x = _mix([(sig, 1.0, 0.3)], seconds=len(sig) / RATE + 2.0, bg_dbfs=-45.0, seed=seed)
            v.append(_loudest_segment_features(x)[mono])
        return float(np.median(v))

    s = med(lambda r: siren(r, RATE)[0])
    c = med(lambda r: crying_child(r, RATE)[0])
    v = med(lambda r: make_event("scream", r, RATE)[0])
    assert s >= 75 and v <= 68 and c <= 60 and s - v >= 15, (s, v, c)
