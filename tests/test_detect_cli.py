# SPDX-License-Identifier: MIT
"""`sednode detect` end to end: JSON lines, nothing for an event-free file, resampling of
44.1 kHz input, the firmware engine, and a one-line error with exit code 2 for a bad WAV."""
import json
import struct

import numpy as np
import pytest

from dsp_reference.scenes import make_background
from dsp_reference.sounds import make_event
from host_tools import audio_io, cli

KEYS = {"file", "class", "onset_s", "duration_s", "peak_dbfs", "confidence"}


def _write(path, rate, with_shot, seconds=5.0):
    n = int(seconds * rate)
    x = make_background("traffic", np.random.default_rng(2), rate, seconds) * 10 ** (-50 / 20)
    if with_shot:
        s = make_event("gunshot", np.random.default_rng(1), rate, distance_m=30.0, n_shots=1, tail_s=0.3)[0]
        k = int(2.0 * rate)
        x[k:k + len(s)] += s[: n - k] / np.abs(s).max() * 0.5
    audio_io.write_wav(str(path), audio_io.to_int16(x), rate)
    return str(path)


def _run(capsys, argv):
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("engine", ["reference", "firmware"])
def test_json_lines_for_a_gunshot_at_44k1(tmp_path, capsys, engine):
    path = _write(tmp_path / "shot.wav", 44100, True)
    rc, out, _ = _run(capsys, ["detect", path, "--engine", engine, "--json"])
    assert rc == 0
    lines = [json.loads(l) for l in out.strip().splitlines()]
    assert len(lines) == 1
    ev = lines[0]
    assert KEYS <= set(ev) and ev["file"] == path and ev["class"] == "gunshot"
    assert abs(ev["onset_s"] - 2.0) < 0.05 and ev["duration_s"] > 0 and 0 <= ev["confidence"] <= 100
    assert -12 < ev["peak_dbfs"] < -2


def test_a_folder_stands_for_the_wav_files_below_it(tmp_path, capsys):
    (tmp_path / "night" / "pole7").mkdir(parents=True)
    a = _write(tmp_path / "night" / "b_shot.wav", 16000, True)
    b = _write(tmp_path / "night" / "pole7" / "A_SHOT.WAV", 16000, True)
    (tmp_path / "night" / "notes.txt").write_text("not audio")
    rc, out, err = _run(capsys, ["detect", str(tmp_path / "night"), "--json"])
    assert rc == 0
    assert [json.loads(l)["file"] for l in out.strip().splitlines()] == [a, b]
    (tmp_path / "empty").mkdir()
    rc, out, err = _run(capsys, ["detect", str(tmp_path / "empty")])
    assert rc == 0 and out == "" and "no .wav files" in err


def test_a_recorders_dc_offset_changes_no_event(tmp_path, capsys):
    # the node's microphone passes no DC; a recording's offset (up to 8 % of full scale among
    # the real development clips) is removed when the file is read, so the events are the same
    path = _write(tmp_path / "shot.wav", 16000, True)
    x, rate = audio_io.read_wav(path)
    off = str(tmp_path / "offset.wav")
    audio_io.write_wav(off, audio_io.to_int16(x[:, 0] + 0.08), rate)
    outs = []
    for p in (path, off):
        rc, out, _ = _run(capsys, ["detect", p, "--json"])
        assert rc == 0
        outs.append([dict(json.loads(l), file=None) for l in out.strip().splitlines()])
    assert outs[0] and outs[1] == outs[0]


def test_nothing_for_a_file_without_events(tmp_path, capsys):
    path = _write(tmp_path / "quiet.wav", 16000, False)
    rc, out, _ = _run(capsys, ["detect", path, "--json"])
    assert rc == 0 and out == ""


def test_several_files_one_line_per_event(tmp_path, capsys):
    a = _write(tmp_path / "a.wav", 44100, True)
    b = _write(tmp_path / "b.wav", 16000, False)
    rc, out, _ = _run(capsys, ["detect", a, b, "--json"])
    assert rc == 0
    assert [json.loads(l)["file"] for l in out.strip().splitlines()] == [a]


def test_gunshot_at_22k05(tmp_path, capsys):
    a = _write(tmp_path / "a.wav", 22050, True)
    rc, out, _ = _run(capsys, ["detect", a, "--json"])
    assert rc == 0 and [json.loads(l)["class"] for l in out.strip().splitlines()] == ["gunshot"]


@pytest.mark.parametrize("blob", [b"", b"RIFF\x00\x00\x00\x00WAVEjunk",
                                  b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + struct.pack("<I", 16)
                                  + struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)])
def test_malformed_wav_exit_2_one_line(tmp_path, capsys, blob):
    p = tmp_path / "bad.wav"
    p.write_bytes(blob)
    rc, out, err = _run(capsys, ["detect", str(p), "--json"])
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "bad.wav" in err


def test_a_bad_file_among_good_ones_loses_none_of_them(tmp_path, capsys):
    # one unreadable file in a batch: its error, and the files after it are still done
    a = _write(tmp_path / "a.wav", 16000, True)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    c = _write(tmp_path / "c.wav", 22050, True)
    rc, out, err = _run(capsys, ["detect", a, str(bad), str(tmp_path / "missing.wav"), c, "--json"])
    assert rc == 2
    assert [json.loads(l)["file"] for l in out.strip().splitlines()] == [a, c]
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "bad.wav" in lines[0] and "missing.wav" in lines[1]


@pytest.mark.parametrize("block", [1000, 4000, 1 << 20])
def test_the_lead_in_found_a_block_at_a_time_is_the_quietest_window(monkeypatch, block):
    # detect._energy_at keeps the running sum of squares a block at a time (an hours-long
    # file's whole cumulative sum would take 8 bytes a sample); the window it picks is the one
    # the whole cumulative sum picks, on a signal whose quiet stretches tie
    import functools
    from host_tools import detect
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(50000) * 3000).astype(np.int16)
    x[11000:17000] = 0
    x[30000:36000] = 0
    x[40000:44000] = (rng.standard_normal(4000) * 5).astype(np.int16)
    e = np.cumsum(np.concatenate([[0.0], x.astype(np.float64) ** 2]))
    n = int(detect.QUIET_S * 16000)
    starts = np.arange(0, len(x) - n + 1, n // 4)
    k = int(starts[np.argmin(e[starts + n] - e[starts])])
    assert k == 11000
    monkeypatch.setattr(detect, "_energy_at", functools.partial(detect._energy_at, block=block))
    reps = [x[k:k + n] if i % 2 == 0 else x[k:k + n][::-1] for i in range(5)]
    y, start = detect.file_view(x, 16000)
    assert start == 16000 and np.array_equal(y[:start], np.concatenate(reps)[:16000])
    assert np.array_equal(y[start + len(x):], np.concatenate(reps)[:int(detect.LEAD_OUT_S * 16000)])


def test_onset_just_before_the_file_start_is_kept_at_zero():
    # a clip that starts right at its event: the first analysis frame straddles the lead-in
    # join, so the onset lands a frame early; within ONSET_TOL_S it is the file's event
    from host_tools import detect
    from node import events
    cfg = detect.default_cfg()
    lead = cfg["rate"]
    tol = int(detect.ONSET_TOL_S * cfg["rate"])

    def rec(t):
        return (events.GUNSHOT, t, 10, -600, 80, 1, 0, t + 12)

    t_near = (lead - cfg["frame"]) // cfg["hop"] + 1          # onset a few ms before the join
    on = events.onset_sample(t_near, cfg["frame"], cfg["hop"]) - lead
    assert -tol <= on < 0
    kept = detect.to_dicts([rec(t_near)], cfg, offset_samples=lead, tol_samples=tol)
    assert len(kept) == 1 and kept[0]["onset_s"] == 0.0
    assert detect.to_dicts([rec(t_near - 8)], cfg, offset_samples=lead, tol_samples=tol) == []
    assert detect.to_dicts([rec(t_near)], cfg, offset_samples=lead) == []


def test_an_event_from_the_lead_in_that_runs_into_the_file_is_the_files():
    # a clip that begins with its shot has the shot's tail in its quietest window: the lead-in
    # made of it (its last QUIET_S is that window played backwards: the tail swells towards the
    # join) opened a segment 0.15 s early, the shot merged into that event, and a clear gunshot
    # file reported nothing.  Kept (at 0) when it lasts INTO_S into the file; an event born
    # earlier in the lead-in is the lead-in's own loop (a car horn clip's: a scream 0.49 s early).
    from host_tools import detect
    from node import events
    cfg = detect.default_cfg()
    lead, hop = cfg["rate"], cfg["hop"]
    into = int(detect.INTO_S * cfg["rate"])
    born = int(detect.QUIET_S * cfg["rate"])
    t0 = (lead - cfg["frame"]) // hop - 8                      # 0.15 s before the join

    def rec(dur, t=t0):
        return (events.GUNSHOT, t, dur, -600, 97, 1, 0, t + dur)

    on = events.onset_sample(t0, cfg["frame"], hop) - lead
    assert on < -int(detect.ONSET_TOL_S * cfg["rate"])
    kept = detect.to_dicts([rec(30)], cfg, offset_samples=lead, into_samples=into, born_samples=born)
    assert len(kept) == 1 and kept[0]["onset_s"] == 0.0 and kept[0]["class"] == "gunshot"
    assert kept[0]["duration_s"] == round((on + 30 * hop) / cfg["rate"], 4)  # the part in the file
    clip = on + 20 * hop                                         # a clip that ends before the event
    cut = detect.to_dicts([rec(30)], cfg, offset_samples=lead, into_samples=into, born_samples=born,
                          end_samples=clip)
    assert cut[0]["duration_s"] == round(clip / cfg["rate"], 4)
    short = (into - on) // hop - 1                               # ends just short of INTO_S
    assert on + short * hop < into
    assert detect.to_dicts([rec(short)], cfg, offset_samples=lead, into_samples=into, born_samples=born) == []
    assert detect.to_dicts([rec(30)], cfg, offset_samples=lead) == []   # without it: dropped
    early = t0 - 20                                              # born 0.47 s before the join
    assert events.onset_sample(early, cfg["frame"], hop) - lead < -born
    assert detect.to_dicts([rec(60, early)], cfg, offset_samples=lead, into_samples=into, born_samples=born) == []
