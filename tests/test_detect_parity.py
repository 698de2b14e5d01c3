# SPDX-License-Identifier: MIT
"""Layer 2: the firmware detector (node/detect.py on the MicroPython unix port, fed by the
firmware DSP) against the integer reference (dsp_reference/detect_model.py fed by int_model):
identical event records on generated scenes, no heap allocation on non-event frames, every
reference intermediate inside int32, and a table that really is the one the firmware walks."""
import pytest

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


def test_firmware_segment_features_identical_to_reference():
    # every classifier input, all NSEGF features, not only the events they lead to
    for s in SCENES[:3]:
        x = _audio(*s)
        _, info = detect.firmware_events(x, CFG, mode="feat")
        _, samples = detect_model.run(int_model.features(x, CFG), CFG, collect=True)
        ref = [(t, x_) for _, t, _, x_ in samples]
        assert len(ref) >= 5 and all(len(v) == detect_model.NSEGF for _, v in ref)
        assert info["decisions"] == ref, "scene %r: segment features differ" % (s,)
        # and the classifier's answer (boosted-tree scores, integer softmax) to each of them
        assert info["answers"] == [detect_model.classify(v) for _, v in ref], "scene %r" % (s,)


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
    ni = (1 << depth) - 1
    per = 2 * (3 * ni + 1)                       # bytes per tree
    assert sum(len(b) for b in detect_table.NODES) == n * per and n % 3 == 0
    assert all(len(b) % per == 0 for b in detect_table.NODES)   # whole trees per bytes object
    m = detect_model.Boost(detect_table.NODES, n, depth)
    assert (m.feat >= 0).all() and (m.feat < detect_model.NSEGF).all()
    # every tree splits somewhere and says something (not a padded or empty table)
    assert (m.thr != 0).any(axis=1).all() and (m.leaf != 0).any(axis=1).all()
    # the firmware's viper sum of the leaves (a 32-bit word on the device) cannot overflow
    assert n * int(abs(m.leaf).max()) < 1 << 30


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
