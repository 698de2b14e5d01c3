# SPDX-License-Identifier: MIT
"""Real-clip training material: grouping by recording source, labelling of decision points,
clip-level scoring, and the tie between cross-validated results and the shipped table.
Runs on a small fake clip folder (the shared real_dev set is not needed)."""
import json
import re

import numpy as np
import pytest

from dsp_reference import detect_model, int_model, real_clips as rc, train_detector
from dsp_reference.scenes import make_scene
from dsp_reference.sounds import make_event
from host_tools import audio_io, detect, evaluate
from node import consts, events
from node import detect_table as T

CFG = {"rate": 16000, "frame": 512, "hop": 256}


def test_groups_follow_the_recording_source():
    assert rc.group_of("gunshot/135526-6-3-0.wav") == rc.group_of("x/135526-6-12-0.wav") == "135526"
    assert rc.group_of("scream/PPH8_15_6_0_25_0_0_0.wav") == "PPH8"
    assert rc.group_of("glass_break/GBTD-01-01-LP-gb13_000.wav") == "GBTD"
    assert rc.fold_of("a/135526-6-3-0.wav", 4) == rc.fold_of("b/135526-6-0-0.wav", 4)
    folds = {rc.fold_of("g/%d-6-0-0.wav" % i, 4) for i in range(40)}
    assert folds == {0, 1, 2, 3}


def _feat(rms):
    f = np.zeros((len(rms), consts.NFEAT), dtype=np.int64)
    f[:, consts.F_RMS] = rms
    return f


def test_labels_of_decision_points():
    n, hop = CFG["frame"], CFG["hop"]
    rms = np.full(100, -6000)
    rms[40:44] = -1000               # the clip's loudest moment: frames 40..43
    rms[60:62] = -1400               # a second shot, 4 dB below: the same event
    rms[80:82] = -3000               # a quiet sound inside the clip: unlabelled
    feat = _feat(rms)
    start = 30 * hop + n - hop       # the clip spans frames 30..90
    nclip = 60 * hop
    loud = 41 * hop + n - hop
    samples = [(5, 12, 1, "before"), (38, 45, 1, "spans"), (58, 63, 1, "second"), (78, 83, 1, "quiet"),
               (95, 99, 1, "after")]
    got = {x: y for x, y in rc.label_samples(samples, feat, "gunshot", start, nclip, loud, CFG)}
    assert got == {"before": events.NONE, "spans": events.GUNSHOT, "second": events.GUNSHOT,
                   "quiet": rc.EXCLUDED, "after": events.NONE}
    neg = rc.label_samples(samples, feat, "siren", start, nclip, loud, CFG)
    assert {y for _, y in neg} == {events.NONE}


def test_clip_scores():
    s = rc.clip_scores([("gunshot", ["gunshot"]), ("gunshot", []), ("scream", ["gunshot"]),
                        ("siren", []), ("siren", ["scream"]), ("dog_bark", [])])
    assert s["recall"] == {"gunshot": 0.5, "scream": 0.0, "glass_break": None}
    assert s["negatives"] == {"raised": 1, "n": 3}
    assert s["negative_fp_rate"] == pytest.approx(1 / 3)
    # a positive clip must yield its class (other classes beside it do not matter), a negative nothing
    assert rc.clip_ok("gunshot", ["glass_break", "gunshot"]) and not rc.clip_ok("gunshot", ["scream"])
    assert rc.clip_ok("siren", []) and not rc.clip_ok("siren", ["gunshot"])


@pytest.fixture(scope="module")
def fake_dev(tmp_path_factory):
    root = tmp_path_factory.mktemp("real_dev")
    rng = np.random.default_rng(5)
    rows = []
    for cls, kind in (("gunshot", "gunshot"), ("siren", "siren")):
        sig, _ = make_event(kind, rng, 22050)
        x = np.concatenate([np.zeros(4410), sig * 0.5, np.zeros(4410)]) + rng.standard_normal(len(sig) + 8820) * 1e-3
        (root / cls).mkdir()
        audio_io.write_wav(str(root / cls / ("777-6-0-0.wav" if cls == "gunshot" else "888-8-0-0.wav")),
                           audio_io.to_int16(x), 22050)
        rows.append("%s\t%s/%s" % (cls, cls, "777-6-0-0.wav" if cls == "gunshot" else "888-8-0-0.wav"))
    (root / "MANIFEST.tsv").write_text("class\tfile\n" + "\n".join(rows) + "\n")
    return str(root)


def test_clip_samples_are_labelled(fake_dev):
    rows = rc.manifest(fake_dev)
    assert [r["class"] for r in rows] == ["gunshot", "siren"]
    shot = rc.clip_samples((fake_dev, rows[0], 2, CFG))
    assert events.GUNSHOT in {y for _, y in shot}
    assert all(len(x) == detect_model.NSEGF for x, _ in shot)
    siren = rc.clip_samples((fake_dev, rows[1], 2, CFG))
    assert siren and {y for _, y in siren} == {events.NONE}
    assert rc.manifest(fake_dev + "/missing") == []


def test_a_clip_played_faster_is_shorter_and_higher_and_adds_views_of_its_own(fake_dev, monkeypatch):
    tone = audio_io.to_int16(0.3 * np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000))
    fast = rc.shifted(tone, 1.25, 16000)
    spec = np.abs(np.fft.rfft(fast.astype(np.float64)))
    assert len(fast) == 12800 and np.argmax(spec) * 16000 / len(fast) == pytest.approx(1250, abs=2)
    assert len(rc.shifted(tone, 0.8, 16000)) == 20000
    seen = []
    monkeypatch.setattr(rc, "view_samples", lambda y, start, x, cls, cfg: seen.append((len(x), len(y))) or [])
    row = rc.manifest(fake_dev)[0]
    rc.clip_samples((fake_dev, row, 2, CFG))
    plain = list(seen)
    seen.clear()
    rc.clip_samples((fake_dev, row, 2, CFG, (0.9, 1.1)))
    assert seen[:2] == plain                       # the clip's own views are unchanged by the shifts
    n = plain[0][0]
    assert [x for x, _ in seen[2:]] == [round(n / 0.9)] * 2 + [round(n / 1.1)] * 2


def test_speed_shifts_are_checked(capsys):
    ap = train_detector.argparse.ArgumentParser()
    assert train_detector.parse_shifts("0.9, 1.1", ap) == (0.9, 1.1) and train_detector.parse_shifts("", ap) == ()
    for bad in ("fast", "1", "0.4", "0.9,3"):
        with pytest.raises(SystemExit):
            train_detector.parse_shifts(bad, ap)
        assert "--real-shifts" in capsys.readouterr().err


def test_a_clip_is_scored_without_its_dc_offset_and_trained_on_as_recorded(tmp_path, monkeypatch):
    # sednode detect removes a recording's DC offset (the node's microphone passes none), and
    # so does the clip-level scoring (clip_file_features); the training rows (clip_samples)
    # read the clip as recorded, the material the shipped trees were trained on
    root = tmp_path / "dev"
    (root / "gunshot").mkdir(parents=True)
    x = np.full(8000, 0.05) + np.random.default_rng(1).standard_normal(8000) * 1e-3
    audio_io.write_wav(str(root / "gunshot" / "1-6-0-0.wav"), audio_io.to_int16(x), 16000)
    row = {"class": "gunshot", "file": "gunshot/1-6-0-0.wav"}
    assert abs(rc.load(str(root), row, 16000).mean()) < 1
    assert abs(rc.load(str(root), row, 16000, keep_dc=True).mean() - 0.05 * 32768) < 1
    seen = []
    monkeypatch.setattr(rc, "view_samples", lambda y, start, x, cls, cfg: seen.append(x.mean()) or [])
    rc.clip_samples((str(root), row, 1, CFG))
    _, _, feat, _ = rc.clip_file_features((str(root), row, CFG))
    assert abs(seen[0] - 0.05 * 32768) < 1
    plain = int_model.features(detect.file_view(rc.load(str(root), row, 16000), 16000)[0], CFG)
    assert np.array_equal(feat, plain)


def test_sample_weights_steer_the_classifier():
    X = np.array([[0, 5]] * 20 + [[0, 5]] * 20, dtype=np.int64)
    y = np.array([1] * 20 + [2] * 20)
    for w_shot, want in ((3.0, 1), (1 / 3.0, 2)):
        sw = np.array([w_shot] * 20 + [1.0] * 20)
        model = train_detector.train_boost(X, y, {"rounds": 3, "sub": 1.0}, sw=sw)
        assert detect_model.classify([0, 5] + [0] * 21, model)[0] == want


def test_cross_validated_results_must_belong_to_the_shipped_table(tmp_path, fake_dev):
    p = tmp_path / "cv.json"
    assert evaluate.cross_validated(str(p)) is None
    cv = {"recall": {"gunshot": 0.5}, "table_id": "0" * 16}
    p.write_text(json.dumps(cv))
    assert evaluate.cross_validated(str(p)) is None              # another table's results
    cv["table_id"] = detect_model.table_id(T)
    p.write_text(json.dumps(cv))
    assert evaluate.cross_validated(str(p))["recall"] == {"gunshot": 0.5}
    res = evaluate.real_clips(CFG, fake_dev, procs=1)
    assert res["positives"]["gunshot"]["n"] == 1 and res["negatives"]["n"] == 1
    assert len(res["clips"]) == 2


def test_validation_trace_cache_is_reused_only_for_the_same_material(tmp_path, monkeypatch, capsys):
    calls = []

    class SerialPool:                                     # the trainer's pool, in-process
        def __init__(self, procs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def map(self, f, jobs, chunksize=1):
            return [f(j) for j in jobs]

    monkeypatch.setattr(train_detector, "Pool", SerialPool)
    monkeypatch.setattr(train_detector, "val_scene_points", lambda a: calls.append(a) or ([("pts", a)], []))
    monkeypatch.setattr(train_detector, "val_background_points", lambda a: calls.append(a) or [([], 60.0)])
    cache = str(tmp_path / "val.pkl")
    first = train_detector.validation_points(1, 15.0, cache=cache)
    n = len(calls)
    assert n == len(train_detector.SNRS) + 1 and len(first[0]) == len(train_detector.SNRS)
    monkeypatch.setitem(T.PARAMS, "conf_scream", 50)           # thresholds do not change the trace
    assert train_detector.validation_points(1, 15.0, cache=cache) == first and len(calls) == n
    monkeypatch.setitem(T.PARAMS, "swell_q2", T.PARAMS["swell_q2"] + 1)   # the segmenter does
    again = train_detector.validation_points(1, 15.0, cache=cache)
    assert again == first and len(calls) == 2 * n
    assert "another segmenter" in capsys.readouterr().err
    train_detector.validation_points(2, 15.0, cache=cache)       # other material: traced again
    assert len(calls) == 2 * n + 2 * len(train_detector.SNRS) + 1


def test_late_fragments_of_screams_and_glass_are_left_out_with_late_s(monkeypatch):
    cfg = train_detector.CFG
    frame_at = lambda s: int(round((s * cfg["rate"] - (cfg["frame"] - cfg["hop"])) / cfg["hop"]))
    late_glass = [{"class": "glass_break", "onset_s": 1.0, "offset_s": 2.5}]
    assert train_detector._label(frame_at(1.7), late_glass, cfg) == events.GLASS_BREAK   # default: kept
    monkeypatch.setattr(train_detector, "LATE_S", 0.5)
    for cls, cid in (("glass_break", events.GLASS_BREAK), ("scream", events.SCREAM), ("gunshot", events.GUNSHOT)):
        labels = [{"class": cls, "onset_s": 1.0, "offset_s": 2.5}]
        assert train_detector._label(frame_at(0.8), labels, cfg) == cid          # just before the onset
        assert train_detector._label(frame_at(1.45), labels, cfg) == cid         # within the collar
        late = train_detector._label(frame_at(1.7), labels, cfg)
        assert late == (cid if cls == "gunshot" else rc.EXCLUDED)               # a burst's later shot keeps it
        assert train_detector._label(frame_at(2.7), labels, cfg) == events.NONE


def test_collect_table_steers_which_decision_points_exist(tmp_path):
    # an emitted event ends its segment's early and interim decisions, so which training points
    # exist depends on the table making the decisions (--collect-table)
    sc = make_scene(3, seconds=8.0, snr_db=30.0, classes=("gunshot",), confusers=False)
    feat = int_model.features(train_detector.to_int16(sc.audio), CFG)
    traced = [list(p[3]) for p in detect_model.trace(feat, CFG)]
    text = open(T.__file__).read()
    for k in train_detector.THRESHOLDS:                       # a table that never reports
        text = re.sub(r"'%s': \d+," % k, "'%s': 101," % k, text)
    never = tmp_path / "never.py"
    never.write_text(text)
    try:
        train_detector.steer(train_detector.load_table(str(never)))
        steered_events, steered = detect_model.run(feat, CFG, collect=True)
        train_detector.steer(train_detector.load_table(train_detector.ALL_POINTS))   # the built-in policy
        _, all_points = detect_model.run(feat, CFG, collect=True)
    finally:
        train_detector.steer(None)
    assert [s[3] for s in all_points] == traced
    shipped_events, shipped = detect_model.run(feat, CFG, collect=True)
    assert steered_events == [] and [s[3] for s in steered] == traced   # every point asked
    assert shipped_events and len(shipped) < len(traced)                  # the shot reported early
    by = train_detector.collector(train_detector.load_table(str(never)), 0.5)   # for the table header
    assert by.startswith("table %s (early 101, " % detect_model.table_id(T)) and by.endswith("late-s 0.5, colour 0.6")
    bad = tmp_path / "bad.py"
    bad.write_text("PARAMS = {}\n")
    with pytest.raises(SystemExit, match="not a detector table"):
        train_detector.load_table(str(bad))
    wav = tmp_path / "clip.wav"                  # not even Python, nor named like it
    wav.write_bytes(b"RIFF\x00\x00WAVE")
    for path in (wav, tmp_path / "missing.py"):
        with pytest.raises(SystemExit, match="not a detector table"):
            train_detector.load_table(str(path))


def test_the_recording_chain_compressor_holds_a_shot_tail_up(monkeypatch):
    # a shot decaying 60 dB over a second, as a street tail does; the compressor (20 dB under
    # the peak, ratio 20) holds the loud part of that tail within a few dB, as in the real
    # clips recorded that way, and leaves a part that never crosses its threshold alone
    rate = 16000
    t = np.arange(rate) / rate
    rng = np.random.default_rng(1)
    shot = rng.standard_normal(rate) * 10 ** (-3 * t)            # -60 dB per second
    x = np.concatenate([1e-3 * rng.standard_normal(rate // 2), shot])
    y = train_detector.compress(x, rate, below_db=20, ratio=20, attack_s=0.002, release_s=0.1)

    def drop(v):                                                  # dB from 40 ms to 440 ms into the shot
        fr = v[: len(v) // 320 * 320].reshape(-1, 320)
        d = 10 * np.log10((fr ** 2).mean(1))
        k = rate // 2 // 320 + 2
        return d[k] - d[k + 20]
    assert abs(np.max(np.abs(y)) - np.max(np.abs(x))) < 1e-9        # make-up gain: same peak
    assert drop(x) > 20 and drop(y) < 8                              # 24 dB down, compressed: ~6
    # the quiet lead-in is scaled, not shaped (linear below the threshold)
    ratio_in = y[: rate // 4] / x[: rate // 4]
    assert np.ptp(ratio_in) < 1e-6 * abs(ratio_in.mean())
    # the chain draws the compressor for P_COMPRESS of the scenes (its low-pass alone keeps the
    # drop); the shipped recipe has it off (--compress 0)
    n = 200
    assert all(drop(train_detector.recording_chain(x, np.random.default_rng(s), rate)) > 20 for s in range(20))
    monkeypatch.setattr(train_detector, "P_COMPRESS", 0.4)
    got = sum(drop(train_detector.recording_chain(x, np.random.default_rng(s), rate)) < 16 for s in range(n))
    assert abs(got / n - train_detector.P_COMPRESS) < 0.12


def test_the_recording_chain_colouring_is_one_broad_resonance_or_dip_for_a_share_of_the_chains(monkeypatch):
    rate = 16000
    f = np.fft.rfftfreq(4096, 1.0 / rate)
    for s in range(50):                          # one bump or dip: its extreme inside 300-5000 Hz,
        db = 20 * np.log10(train_detector.colour_gain(np.random.default_rng(s))(f))   # within -12..+15 dB,
        k = int(np.argmax(np.abs(db)))                                                 # flat far from it
        assert 280 <= f[k] <= 5200 and -12.01 <= db[k] <= 15.01
        assert np.all(np.diff(db[: k + 1]) * np.sign(db[k]) >= -1e-9)                  # monotone up to it
        assert np.all(np.diff(db[k:]) * np.sign(db[k]) <= 1e-9)                        # and down after
        assert abs(db[f <= 20]).max() < 0.5 * abs(db[k]) + 1e-9
    # off (--colour 0, the twelfth table's recipe): the chain draws no colouring, so its output
    # and its use of the generator are what they were before the option existed; on (0.6
    # shipped): that share of the chains differ
    x = np.random.default_rng(3).standard_normal(rate)
    monkeypatch.setattr(train_detector, "P_COLOUR", 0.0)
    plain = [train_detector.recording_chain(x, np.random.default_rng(s), rate) for s in range(100)]
    monkeypatch.undo()
    col = [train_detector.recording_chain(x, np.random.default_rng(s), rate) for s in range(100)]
    differ = sum(not np.array_equal(a, b) for a, b in zip(plain, col))
    assert abs(differ / 100 - train_detector.P_COLOUR) < 0.15 and train_detector.P_COLOUR == 0.6


def test_synthetic_clips_are_lone_sounds_over_a_recorder_floor_labelled_as_real_clips_are():
    # clip_view_samples: one event or confuser over a quiet floor (or digital silence), fed as a
    # file; a positive clip gives rows of its class where it is loud, a confuser only none
    kinds, floors = [], []
    for seed in range(24):
        clip, kind, pos = train_detector.synthetic_clip(train_detector.CLIP_SEED0 + seed)
        assert clip.dtype == np.int16 and (kind in rc.POSITIVES) == pos
        kinds.append(kind)
        x = clip.astype(float)
        peak = np.abs(x).max()
        quiet = min(np.sqrt(np.mean(x[i:i + 1600] ** 2)) for i in range(0, len(x) - 1600, 800))
        floors.append(-np.inf if quiet == 0 else 20 * np.log10(quiet / peak))
        rows = train_detector.clip_view_samples(train_detector.CLIP_SEED0 + seed)
        labels = {y for _, y in rows}
        if pos:
            assert labels <= {events.NONE, events.class_id(kind)}
            assert events.class_id(kind) in labels, (seed, kind)
        else:
            assert labels == {events.NONE}, (seed, kind)
        assert rows == train_detector.clip_view_samples(train_detector.CLIP_SEED0 + seed)   # deterministic
    assert len(set(kinds)) >= 8 and sum(k in rc.POSITIVES for k in kinds) >= 10
    f = np.array(floors)
    assert np.any(np.isinf(f)) and np.all(f[np.isfinite(f)] < -15)   # digital silence, and floors well under the sound


def test_threshold_search_keeps_pinned_thresholds_and_the_false_alarm_cap(monkeypatch):
    # a made-up validation: a lower scream threshold gains F1 and raises false alarms, glass is
    # best at 80; the search itself (tune_thresholds) is the real one
    monkeypatch.setattr(train_detector, "validation_points", lambda *a, **k: ([], []))

    def fake_validate(thr):
        fah = (101 - thr["conf_scream"]) / 10.0
        v = {"per": {}, "real": None, "gun_fast": 0.0, "fah": fah,
             "objective": 1.0 - abs(thr["conf_glass"] - 80) / 100.0 + (101 - thr["conf_scream"]) / 100.0 - 0.03 * fah}
        train_detector.cap_objective(v, train_detector._VAL["fa_cap"])
        return v

    monkeypatch.setattr(train_detector, "validate", fake_validate)
    thr, best = train_detector.tune_thresholds(None, 1, 1.0, pinned={"conf_glass": 98})
    assert thr["conf_glass"] == 98 and thr["conf_scream"] == min(train_detector.THRESHOLD_GRID)
    assert best["fah"] > 5
    thr, best = train_detector.tune_thresholds(None, 1, 1.0, fa_cap=1.0)
    assert thr["conf_glass"] == 80 and thr["conf_scream"] == 92 and best["fah"] <= 1.0   # 91 is not on the grid
    v = {"fah": 3.0, "objective": 1.5}
    train_detector.cap_objective(v, None)
    assert v["objective"] == 1.5
    train_detector.cap_objective(v, 1.0)
    assert v["objective"] < -10


def test_the_objective_can_leave_the_quiet_scenes_out(monkeypatch):
    # validate() on made-up replays: a 0 dB scene whose shot is missed, a 10 dB scene whose
    # shot is found and a 10 dB scene without events that raises a false shot; --f1-min-snr 5
    # scores the gunshot F1 on the two 10 dB scenes alone (the event-less one by its position)
    def ev(on, snr=None):
        return dict({"class": "gunshot", "onset_s": on, "offset_s": on + 0.2}, **({"snr_db": snr} if snr is not None else {}))
    replays = {("scene", 0): ([ev(2.0, 0.0)], []), ("scene", 1): ([ev(3.0, 10.0)], [dict(ev(3.05), report_s=3.2)]),
               ("scene", 2): ([], [dict(ev(5.0), report_s=5.2)]), ("bg", 0): (0, 3600.0)}
    monkeypatch.setattr(train_detector, "_val_run", lambda kind, i: replays[(kind, i)])
    monkeypatch.setitem(train_detector._VAL, "scenes", [None, None, None])
    monkeypatch.setitem(train_detector._VAL, "scene_snr", [0.0, 10.0, 10.0])
    monkeypatch.setitem(train_detector._VAL, "bg", [None])
    monkeypatch.setitem(train_detector._VAL, "clips", None)
    monkeypatch.setitem(train_detector._VAL, "fa_weight", 0.03)
    monkeypatch.setitem(train_detector._VAL, "fa_cap", None)
    monkeypatch.setitem(train_detector._VAL, "f1_min_snr", None)
    every = train_detector.validate({})
    assert every["per"]["gunshot"] == pytest.approx(2 / 4)      # 1 found, 1 missed, 1 false
    monkeypatch.setitem(train_detector._VAL, "f1_min_snr", 5.0)
    loud = train_detector.validate({})
    assert loud["per"]["gunshot"] == pytest.approx(2 / 3) and loud["objective"] > every["objective"]
    assert loud["gun_fast"] == every["gun_fast"] == 1.0        # latency still from every scene


def test_pins_are_checked(capsys):
    ap = train_detector.argparse.ArgumentParser()
    assert train_detector.parse_pins(["conf_mid_scream=101", "conf_glass=90"], ap) == {
        "conf_mid_scream": 101, "conf_glass": 90}
    for bad in ("conf_screams=90", "conf_scream=102", "conf_scream", "conf_scream=high"):
        with pytest.raises(SystemExit):
            train_detector.parse_pins([bad], ap)
        assert "--pin" in capsys.readouterr().err


def test_hard_negatives_are_checked_and_collected_as_none(capsys):
    ap = train_detector.argparse.ArgumentParser()
    assert train_detector.parse_hard(["fireworks_crackle=120", "crying_child, siren=0.5"], ap) == [
        (("fireworks_crackle",), 120.0), (("crying_child", "siren"), 0.5)]
    for bad in ("fireworks=10", "fireworks_crackle", "fireworks_crackle=0", "=5", "siren=many"):
        with pytest.raises(SystemExit):
            train_detector.parse_hard([bad], ap)
        assert "--hard" in capsys.readouterr().err
    X, y = train_detector.hard_negatives([(("bag_pop",), 1.0)], train_detector.load_table("all"), procs=1)
    assert len(y) > 0 and X.shape == (len(y), detect_model.NSEGF) and not y.any()
    X2, _ = train_detector.hard_negatives([(("bag_pop",), 1.0)], train_detector.load_table("all"), procs=1)
    assert np.array_equal(X, X2)                       # seeded: a screen can be run again


def _tiny_run(tmp_path, *extra):
    # the trainer from a small random --cache, one round, one validation scene per SNR
    rng = np.random.default_rng(3)
    X = rng.integers(0, 2000, size=(400, detect_model.NSEGF))
    y = np.arange(400) % events.NCLASSES
    cache, out = tmp_path / "s.npz", tmp_path / "table.py"
    np.savez(cache, X=X, y=y, Xr=np.zeros((0, detect_model.NSEGF), dtype=np.int64), yr=np.zeros(0, dtype=np.int64),
             files=np.array([], dtype=str), collected_by="a test", clips=0, siren_minutes=0.0,
             scenes=30, aug_scenes=10, bg_minutes=15.0)
    train_detector.main(["--cache", str(cache), "--real", "", "--cv-folds", "0", "--val-per-snr", "1",
                         "--val-bg-minutes", "1", "--rounds", "1", "--out", str(out),
                         "--val-cache", str(tmp_path / "v.pkl")] + list(extra))
    return out


def test_pin_all_keeps_every_threshold_of_the_table_in_place(tmp_path):
    from node import detect_table as T
    out = _tiny_run(tmp_path, "--passes", "1", "--pin-all", "--pin", "conf_glass=90")
    want = dict({k: T.PARAMS[k] for k in train_detector.THRESHOLDS}, conf_glass=90)
    assert train_detector.load_table(str(out)).PARAMS == want
    assert "conf_quiet_glass pinned" in out.read_text()


def test_a_cached_run_reports_the_material_the_cache_holds(tmp_path, capsys):
    # a run from a --cache names the scenes and background minutes the cache was collected
    # from, not the (default) arguments of this run
    out = _tiny_run(tmp_path, "--passes", "0")
    head = out.read_text()
    assert "30 + 10 chain-augmented scenes, 15 min background" in head
    assert "holds 30 + 10 scenes and 15 min of background" in capsys.readouterr().err
