# SPDX-License-Identifier: MIT
"""Layer 2: the firmware detector (node/detect.py on the MicroPython unix port, fed by the
firmware DSP) against the integer reference (dsp_reference/detect_model.py fed by int_model):
identical event records on generated scenes, no heap allocation on non-event frames, every
reference intermediate inside int32, and a table that really is the one the firmware walks."""
import pytest
import numpy as np

from dsp_reference import detect_model, int_model
from dsp_reference.scenes import make_scene
from host_tools import audio_io, detect
from node import config, detect_table, events

CFG = config.validate({})
# (seed, background, snr, clip) -- several backgrounds, SNRs, and a clipped-gunshot scene
SCENES = [(71, "traffic", 10.0, False), (72, "babble", 5.0, False), (73, "rain", 20.0, False),
          (74, "night", 30.0, True), (75, "wind", 0.0, False)]


def _audio(seed, bg, snr, clip):
    sc = make_scene(seed, seconds=15.0, background=bg, snr_db=snr, clip=clip,
                    level_dbfs=-20.0 if clip else None)
    return audio_io.to_int16(sc.audio)


@pytest.fixture(scope="module")
def runs():
    out = []
    for s in SCENES:
        x = _audio(*s)
        fw, info = detect.firmware_events(x, CFG)
        out.append((s, x, fw, info))
    return out


def test_firmware_events_identical_to_reference(runs):
    total = 0
    for s, x, fw, _ in runs:
        ref = detect.reference_events(x, CFG)
        assert fw == ref, "scene %r: firmware %r != reference %r" % (s, fw, ref)
        total += len(ref)
    assert total >= 5                      # the scenes do produce events to compare


def _decisions(x):
    """Every classifier decision, (frame, segment features), of the firmware and of the
    reference on int16 samples x, and the firmware's answers (class, confidence) to them."""
    _, info = detect.firmware_events(x, CFG, mode="feat")
    _, samples = detect_model.run(int_model.features(x, CFG), CFG, collect=True)
    return info["decisions"], [(t, v) for _, t, _, v in samples], info["answers"]


def test_firmware_segment_features_identical_to_reference():
    # every classifier input, all NSEGF features, not only the events they lead to
    for s in SCENES[:3]:
        fw, ref, answers = _decisions(_audio(*s))
        assert len(ref) >= 5 and all(len(v) == detect_model.NSEGF for _, v in ref)
        assert fw == ref, "scene %r: segment features differ" % (s,)
        # and the classifier's answer (boosted-tree scores, integer softmax) to each of them
        assert answers == [detect_model.classify(v) for _, v in ref], "scene %r" % (s,)


def test_reference_stream_equals_one_shot_features(runs):
    # the chunked reference (StreamFeatures) sees exactly the one-call int_model features
    _, x, _, _ = runs[0]
    one = detect_model.run(int_model.features(x, CFG), CFG)
    old = detect.CHUNK_FRAMES
    try:
        detect.CHUNK_FRAMES = 37           # odd chunk size: many boundaries
        assert detect.reference_events(x, CFG) == one
    finally:
        detect.CHUNK_FRAMES = old


def test_no_heap_allocation_on_non_event_frames(runs):
    for s, _, _, info in runs:
        assert info["frames"] > 900
        assert info["alloc"] == 0, "scene %r: %d bytes allocated" % (s, info["alloc"])


def test_reference_intermediates_fit_int32(runs):
    ranges = detect_model.Ranges()
    for s, x, _, _ in runs:
        detect_model.run(int_model.features(x, CFG), CFG, ranges=ranges)
    ranges.assert_int32()
    assert "z" in ranges.seen and "sum_a" in ranges.seen
    probe = detect_model.Ranges()
    probe.chk("x", 1 << 31)
    with pytest.raises(AssertionError):
        probe.assert_int32()


def test_event_records_are_well_formed(runs):
    for s, _, fw, _ in runs:
        for e in fw:
            assert len(e) == events.NFIELDS
            assert e[events.E_CLASS] in (events.GUNSHOT, events.SCREAM, events.GLASS_BREAK)
            assert 0 <= e[events.E_CONF] <= 100 and e[events.E_DUR] >= 1
            assert e[events.E_FRAME] >= e[events.E_ONSET] + e[events.E_DUR] - 1
            assert (e[events.E_SHOTS] >= 1) == (e[events.E_CLASS] == events.GUNSHOT)


def test_shipped_classifier_table_is_consistent():
    depth, n = detect_table.DEPTH, detect_table.NTREES
    per = detect_model.packed_bytes(depth)       # bytes per tree: 11-bit inner nodes, int8 leaves
    assert per == 37 if depth == 4 else True
    assert sum(len(b) for b in detect_table.NODES) == n * per and n % 3 == 0
    assert all(len(b) % per == 0 for b in detect_table.NODES)   # whole trees per bytes object
    m = detect_model.boost_of(detect_table)
    assert (m.feat >= 0).all() and (m.feat < detect_model.NSEGF).all()
    # edges: a count per feature, ascending within each feature, bins fit a byte
    cnt = list(detect_table.EDGE_N)
    assert len(cnt) == detect_model.NSEGF and 2 * sum(cnt) == len(detect_table.EDGES) and max(cnt) < 256
    assert all((np.diff(ef) > 0).all() for ef in detect_model.feature_edges(detect_table))
    # every split names one of its feature's edges (a stopped subtree: feature 0, bin 0)
    bins = detect_model.tree_words(detect_table.NODES, n, depth)[1]
    assert ((bins < np.array(cnt)[m.feat]) | ((m.feat == 0) & (bins == 0))).all()
    # every tree splits somewhere and says something (not a padded or empty table)
    assert (bins != 0).any(axis=1).all() and (m.leaf != 0).any(axis=1).all()
    # the firmware's viper sum of the leaves (a 32-bit word on the device) cannot overflow
    assert n * int(abs(m.leaf).max()) < 1 << 30


def test_split_bins_decide_as_edge_thresholds():
    # the firmware walks split bins (how many edges lie below a value); the reference compares
    # values with the named edge: both must reach the same leaf for every value, ties included
    rng = np.random.default_rng(3)
    m = detect_model.boost_of(detect_table)
    edges = detect_model.feature_edges(detect_table)
    w = np.concatenate(detect_model.tree_words(detect_table.NODES, m.ntrees, m.depth), axis=1)
    for _ in range(40):
        # values on, just above and just below random edges, and far outside
        x = []
        for ef in edges:
            pick = int(rng.choice(ef)) if len(ef) else 0
            x.append(int(rng.choice([pick, pick + 1, pick - 1, -40000, 40000, 0])))
        xb = [int((ef < v).sum()) for ef, v in zip(edges, x)]
        sc, c = [0] * 4, 1
        for t in w:
            i = 0
            while i < m.ni:
                i = 2 * i + 1 + (xb[t[i]] > t[m.ni + i])
            sc[c] += (((int(t[m.ni + i]) ^ 0x80) - 0x80)) * detect_model.LEAF_STEP
            c = c % 3 + 1
        assert sc == m.scores(x) == m.scores_batch(np.array([x]))[0].tolist()


def test_tables_of_the_old_layout_still_read():
    # --collect-table accepts tables of the eighth version and before (int16 features,
    # thresholds and leaves in 1/256 logit, no EDGES): the same trees written that way score alike
    m = detect_model.boost_of(detect_table)
    words = np.concatenate([m.feat, m.thr, m.leaf], axis=1)
    assert words.max() < 32768 and words.min() >= -32768
    old = detect_model.Boost([words.astype("<i2").tobytes()], m.ntrees, m.depth)
    X = np.random.default_rng(2).integers(0, 3000, (200, detect_model.NSEGF))
    assert (old.scores_batch(X) == m.scores_batch(X)).all()
    assert detect_model.table_id(old) != detect_model.table_id(m)
    # ... and the ninth to eleventh versions' byte layout (a byte per feature and per split bin)
    f, b, lf = detect_model.tree_words(detect_table.NODES, m.ntrees, m.depth)
    nine = detect_model.Boost([np.concatenate([f, b, lf], axis=1).astype(np.uint8).tobytes()], m.ntrees, m.depth,
                              detect_table.EDGES, detect_table.EDGE_N)
    assert (nine.scores_batch(X) == m.scores_batch(X)).all()
    assert detect_model.table_id(nine) == detect_model.table_id(m)      # same trees, same id


def test_packed_trees_round_trip_and_refuse_what_does_not_fit():
    rng = np.random.default_rng(5)
    for _ in range(50):
        f, b = rng.integers(0, 32, 15).tolist(), rng.integers(0, 64, 15).tolist()
        lf = rng.integers(-128, 128, 16).tolist()
        raw = detect_model.pack_tree(f, b, lf)
        assert len(raw) == detect_model.packed_bytes(4) == 37
        g, c, l2 = detect_model.tree_words([raw], 1, 4)
        assert g[0].tolist() == f and c[0].tolist() == b and [((v ^ 0x80) - 0x80) for v in l2[0].tolist()] == lf
    with pytest.raises(ValueError):
        detect_model.pack_tree([32] + [0] * 14, [0] * 15, [0] * 16)      # a 33rd feature needs a 6th bit
    with pytest.raises(ValueError):
        detect_model.pack_tree([0] * 15, [64] + [0] * 14, [0] * 16)      # 65 bins
    with pytest.raises(ValueError):
        detect_model.tree_words([b"\x00" * 40], 1, 4)                   # neither layout


def test_firmware_classifier_matches_the_reference_at_edges(tmp_path):
    # the firmware's bins() and boost() (viper: int16 edges sign-extended by hand, ties at an
    # edge, values beyond int16) against the reference, on vectors placed at the table's edges
    from host_tools import fwrun
    rng = np.random.default_rng(11)
    edges = detect_model.feature_edges(detect_table)
    xs = []
    for _ in range(150):
        x = []
        for ef in edges:
            pick = int(rng.choice(ef)) if len(ef) else 0
            x.append(int(rng.choice([pick, pick, pick + 1, pick - 1, -40000, 40000, -1, 1 << 20])))
        xs.append(x)
    src = tmp_path / "x.raw"
    np.array(xs, dtype="<i4").tofile(src)
    got = [tuple(int(v) for v in ln.split()[1:]) for ln in fwrun.run_script("run_classify.py", [str(src)]).splitlines()
           if ln.startswith("C ")]
    want = [detect_model.softmax_conf(detect_model.boost_of(detect_table).scores(x)) for x in xs]
    assert got == want
    assert len({c for c, _ in want}) >= 3              # the vectors reach different answers


def test_softmax_confidence_matches_floating_point():
    import math
    for sc in ([0, 0, 0, 0], [0, 256, 0, 0], [0, -512, 300, 299], [0, 4000, -4000, 0], [0, 90000, 0, 89000]):
        c, conf = detect_model.softmax_conf(sc)
        ex = [math.exp((v - max(sc)) / detect_model.LEAF_Q) for v in sc]
        assert c == sc.index(max(sc)) and abs(conf - 100 * ex[c] / sum(ex)) <= 2.5, (sc, conf)


def test_replay_of_traced_decisions_equals_a_full_run(runs, monkeypatch):
    # the trainer's threshold search replays each decision point instead of re-running every
    # frame; at any thresholds it must give run()'s records (events, updates, merged peaks)
    import random
    keys = [k for k in detect_table.PARAMS if k.startswith("conf_")]
    rng = random.Random(5)
    n = n_upd = 0
    for s, x, _, _ in runs:
        feat = int_model.features(x, CFG)
        pts = detect_model.trace(feat, CFG)
        for k in range(4):
            if k:                                    # k = 0: the shipped thresholds
                for c in keys:
                    monkeypatch.setitem(detect_table.PARAMS, c, rng.choice((40, 55, 70, 85, 95, 101)))
            ref = detect_model.run(feat, CFG)
            assert detect_model.replay(pts, CFG) == ref, "scene %r, thresholds %r" % (s, detect_table.PARAMS)
            n += len(ref)
            n_upd += sum(e[events.E_UPDATE] for e in ref)
        monkeypatch.undo()
    assert n >= 20 and n_upd >= 3                 # updates too: the merge path (peak, count)


def _firmware_copy(tmp_path):
    import shutil
    from host_tools import fwrun
    fw = tmp_path / "firmware"
    shutil.copytree(fwrun.FIRMWARE, fw, ignore=shutil.ignore_patterns("__pycache__"))
    return fw


def _set_params(fw, values, monkeypatch):
    # the same PARAMS in the reference (monkeypatched) and in the firmware copy's table file
    import re
    path = fw / "node" / "detect_table.py"
    text = path.read_text()
    for c, v in values.items():
        monkeypatch.setitem(detect_table.PARAMS, c, v)
        text, m = re.subn(r"^    '%s': \d+,$" % c, "    '%s': %d," % (c, v), text, flags=re.M)
        assert m == 1, c
    path.write_text(text)


def test_firmware_decides_as_the_reference_at_other_thresholds(tmp_path, monkeypatch):
    # the shipped thresholds leave some paths idle (a threshold no answer reaches, or one equal
    # to the threshold it stands apart from): a copy of the firmware whose table holds other
    # thresholds must still give the reference's records
    import random
    fw = _firmware_copy(tmp_path)
    keys = [k for k in detect_table.PARAMS if k.startswith("conf_")]
    rng = random.Random(8)
    x = np.concatenate([_audio(*s) for s in SCENES])
    mid = detect_model.params(CFG)["mid"]
    n = first = 0
    for k in range(2):
        thr = {c: rng.choice((40, 55, 70, 85, 101)) for c in keys}
        thr.update(conf_first_gunshot=(40, 85)[k], conf_mid_gunshot=101)   # the first interim rule at work,
        if k == 0:                                                         # and alone for shots
            thr.update(conf_early=101, conf_short=101, conf_gunshot=101)
        _set_params(fw, thr, monkeypatch)
        ref = detect.reference_events(x, CFG)
        got, _ = detect.firmware_events(x, CFG, firmware=str(fw))
        assert got == ref, "thresholds %r" % thr
        n += len(ref)
        first += sum(1 for e in ref if e[events.E_CLASS] == events.GUNSHOT and not e[events.E_UPDATE]
                     and e[events.E_FRAME] - e[events.E_ONSET] == mid - 1)
    assert n >= 10 and first >= 1, (n, first)          # a shot reported at its first interim decision


def test_firmware_holds_quiet_segments_to_their_quiet_threshold_as_the_reference_does(tmp_path, monkeypatch):
    # conf_quiet_<class> applies while the segment's level has stood less than quiet_rex above
    # its floor: with a quiet_rex that splits this material's events and every quiet threshold
    # at 101, the events of the quiet segments go and the others stay, in both engines
    x = np.concatenate([_audio(*s) for s in SCENES])
    feat = int_model.features(x, CFG)
    for c in ("conf_quiet_gunshot", "conf_quiet_scream", "conf_quiet_glass"):
        monkeypatch.setitem(detect_table.PARAMS, c, 0)                     # the rule off
    evs = detect_model.final_events(detect_model.run(feat, CFG))
    rex = sorted(p[3][3] for p in detect_model.trace(feat, CFG))             # the decisions' rexmax
    fw = _firmware_copy(tmp_path)
    _set_params(fw, {"quiet_rex": rex[len(rex) * 3 // 4], "conf_quiet_gunshot": 101, "conf_quiet_scream": 101,
                     "conf_quiet_glass": 101}, monkeypatch)
    ref = detect.reference_events(x, CFG)
    kept = detect_model.final_events(ref)
    assert 0 < len(kept) < len(evs), (len(kept), len(evs))                 # the rule took some, not all
    got, _ = detect.firmware_events(x, CFG, firmware=str(fw))
    assert got == ref


def test_firmware_splits_a_segment_where_the_reference_does():
    # a bump in near digital silence, then a scream breaking in 35 dB louder while the bump's
    # segment is open: the rms split (split_rise) must start the same new segment on both
    from dsp_reference.sounds import make_event
    rate = CFG["rate"]
    rng = np.random.default_rng(5)
    x = rng.standard_normal(4 * rate) * 10 ** (-90 / 20)
    k0, k1 = int(1.0 * rate), int(1.25 * rate)
    bump = make_event("door_slam", np.random.default_rng(51), rate)[0]
    x[k0:k0 + len(bump)] += bump[: len(x) - k0] / np.abs(bump).max() * 0.01
    x[k0:k0 + int(0.6 * rate)] += rng.standard_normal(int(0.6 * rate)) * 0.003
    sc = make_event("scream", np.random.default_rng(201), rate, duration_s=1.2)[0][int(0.12 * rate):]
    x[k1:k1 + len(sc)] += sc / np.abs(sc).max() * 0.7
    x = audio_io.to_int16(x)
    starts = {p[4] for p in detect_model.trace(int_model.features(x, CFG), CFG)}
    split = [s for s in starts if abs(events.onset_sample(s, CFG["frame"], CFG["hop"]) - k1) <= CFG["hop"] * 3]
    assert split and min(starts) < split[0], sorted(starts)          # the case does split
    fw, ref, _ = _decisions(x)
    assert fw == ref


def test_firmware_reports_an_onset_before_a_cut_as_the_reference_does(cut_street):
    # a scream rising just before babble's segment is cut at its maximum length: both engines
    # report it from where it rose, not from the cut (test_detect_behaviour has the case)
    x, _ = cut_street
    back = {p[9] for p in detect_model.trace(int_model.features(x, CFG), CFG) if p[9] < p[4]}
    fw, _ = detect.firmware_events(x, CFG)
    ref = detect.reference_events(x, CFG)
    assert fw == ref
    assert back and back & {e[events.E_ONSET] for e in ref}, (back, ref)   # an event took that onset


def test_firmware_pitch_runs_and_band_shares_match_the_reference():
    # a siren sweep (long runs of pitch steps the same way; a yelp's jumps reset them) and a
    # scream, in near digital silence (where the low/high shares must skip the bands lit only
    # over the silent floor) and in traffic: every decision's features equal on both engines
    from dsp_reference.confusers import siren
    from dsp_reference.sounds import make_event
    from dsp_reference.scenes import make_background
    rate = CFG["rate"]
    mono = detect_model.FEATURE_NAMES.index("pitch_mono")
    lf = detect_model.FEATURE_NAMES.index("lf_share")
    seen = []
    for bg, lvl in (("night", -100.0), ("traffic", -45.0)):
        x = make_background(bg, np.random.default_rng(8), rate, 12.0) * 10 ** (lvl / 20)
        wail = siren(np.random.default_rng(0), rate, duration_s=3.0)[0]    # a 2.1 s sweep period
        yelp = siren(np.random.default_rng(2), rate, duration_s=3.0)[0]    # 0.22 s: jumps
        sc = make_event("scream", np.random.default_rng(303), rate, duration_s=1.2)[0]
        for t, sig, pk in ((1.0, wail, 0.3), (5.0, yelp, 0.3), (9.5, sc, 0.5)):
            x[int(t * rate):int(t * rate) + len(sig)] += sig / np.abs(sig).max() * pk
        fw, ref, _ = _decisions(audio_io.to_int16(x))
        assert fw == ref, "%s: segment features differ" % bg
        seen += [v for _, v in ref]
    assert max(v[mono] for v in seen) >= 80 and min(v[mono] for v in seen) <= 60   # both kinds of pitch
    assert min(v[lf] for v in seen) <= 2                                            # the band rule acts


def test_firmware_detector_runs_with_heap_to_spare(tmp_path):
    # the runners use 128K (fwrun.HEAP); DSP + detector, compiled from source, must also fit in
    # 112K, so that a checkout at another path (other heap fragmentation) cannot fail the suite
    from host_tools import fwrun
    x = _audio(*SCENES[0])[: 3 * CFG["rate"]]
    src = tmp_path / "in.raw"
    np.asarray(x, dtype="<i2").tofile(str(src))
    text = fwrun.run_script("run_detect.py", [str(src), str(CFG["rate"]), str(CFG["frame"]), str(CFG["hop"])],
                            heap="112K", timeout=600)
    assert "MemoryError" not in text and "frames" in text, text[-500:]
