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


@pytest.mark.xfail(strict=True, reason="known defect (eval report): this 22.05 kHz resampled shot is "
                   "classified as none by the current forest; remove this marker when it passes")
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
