# SPDX-License-Identifier: MIT
"""Field calibration (`sednode calibrate`, host_tools/calibrate.py): the tone measurement on
made signals, every refusal, and the command against a virtual node hearing a calibrator."""
import json
import subprocess

import numpy as np
import pytest

from host_tools import audio_io, calibrate
from host_tools.errors import NodeToolError

RATE = 16000
from sednode_cli import SEDNODE


def _tone(dbfs=-26.0, freq=1000.0, seconds=3.0, noise_dbfs=-75.0, am_db=0.0, seed=1):
    t = np.arange(int(seconds * RATE)) / RATE
    env = 10 ** (am_db / 20 * np.sin(2 * np.pi * 2.0 * t))          # a wavering level (hand-held)
    x = 32768 * 10 ** (dbfs / 20) * env * np.sin(2 * np.pi * freq * t)
    x += np.random.default_rng(seed).normal(0, 32768 * 10 ** (noise_dbfs / 20), len(t))
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


@pytest.mark.parametrize("dbfs,freq", [(-26.0, 1000.0), (-26.0, 1011.0), (-40.5, 1000.0), (-6.0, 250.0)])
def test_a_steady_tone_is_measured_to_a_hundredth_of_a_db(dbfs, freq):
    m = calibrate.tone(_tone(dbfs, freq), RATE, 1000.0 if freq > 900 else 250.0)
    assert abs(m["level_dbfs"] - dbfs) < 0.02 and abs(m["freq_hz"] - freq) < 0.5, m
    assert m["share"] > 0.99 and m["wander_db"] < 0.1


def test_94_db_at_the_nominal_sensitivity_gives_the_nominal_offset():
    m = calibrate.tone(_tone(-26.0), RATE, 1000.0)
    d = calibrate.derive(m, 94.0, 1000.0, 3000)
    assert abs(d["cal_cdb"] - 12000) <= 2 and d["warnings"] == []
    d = calibrate.derive(dict(m, level_dbfs=-6.0), 114.0, 1000.0, 3000)      # a 114 dB calibrator
    assert d["cal_cdb"] == 12000 and d["sensitivity_dbfs"] == -26.0


@pytest.mark.parametrize("x,freq,why", [
    (_tone(-26.0, am_db=1.5), 1000.0, "wanders by"),
    (_tone(-26.0, freq=250.0), 1000.0, "no steady 1000 Hz tone"),
    (_tone(-26.0, noise_dbfs=-30.0), 1000.0, "no steady 1000 Hz tone"),
    (_tone(-85.0, noise_dbfs=-110.0), 1000.0, "self-noise"),
    (_tone(-26.0, freq=1080.0), 1000.0, "at 1080 Hz, not 1000 Hz"),
    (_tone(0.5), 1000.0, "clipped"),
    (np.zeros(3 * RATE, np.int16), 1000.0, "no steady"),
])
def test_no_offset_is_derived_from_a_recording_that_is_not_a_calibrator(x, freq, why):
    with pytest.raises(NodeToolError) as e:
        m = calibrate.tone(x, RATE, freq)
        calibrate.derive(m, 94.0, freq, int(np.max(np.abs(x.astype(np.int32)))))
    assert why in str(e.value) and e.value.code == 1, str(e.value)


def test_a_sensitivity_far_from_the_microphones_gets_a_warning():
    d = calibrate.derive(calibrate.tone(_tone(-18.0), RATE, 1000.0), 94.0, 1000.0, 5000)
    assert d["cal_cdb"] == pytest.approx(11200, abs=3) and "from the INMP441's nominal" in d["warnings"][0]


def test_too_short_a_recording_is_refused():
    with pytest.raises(NodeToolError, match="too short"):
        calibrate.tone(_tone(seconds=0.3), RATE, 1000.0)


@pytest.mark.vnode
def test_calibrating_a_node_that_hears_a_calibrator_saves_its_offset(tmp_path):
    from host_tools.vnode import VirtualNode
    wav = str(tmp_path / "calibrator.wav")
    audio_io.write_wav(wav, _tone(-27.3, seconds=8.0), RATE)          # a mic 1.3 dB less sensitive
    with VirtualNode(audio=wav, flash=str(tmp_path / "flash")) as node:
        r = subprocess.run([SEDNODE, "calibrate", "--port", node.port, "--apply", "--json"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout)
        assert abs(got["cal_cdb"] - 12130) <= 3 and got["applied"] and got["cal_cdb_before"] == 0
        r = subprocess.run([SEDNODE, "config", "get", "--port", node.port, "--json"], capture_output=True,
                           text=True, timeout=60)
        assert json.loads(r.stdout)["cal_cdb"] == got["cal_cdb"]
        r = subprocess.run([SEDNODE, "monitor", "--port", node.port, "--seconds", "1", "--interval", "200",
                            "--json"], capture_output=True, text=True, timeout=60)
        levels = [x for x in map(json.loads, r.stdout.splitlines()) if x["type"] == "level"]
        assert levels and all(x["rms_db_spl"] == pytest.approx(x["rms_db"] + got["cal_cdb"] / 100) for x in levels)
    with open(tmp_path / "flash" / "config.json") as f:                  # kept on the node's flash
        assert json.load(f)["cal_cdb"] == got["cal_cdb"]


@pytest.mark.vnode
def test_calibrating_without_a_calibrator_changes_nothing_and_says_why(tmp_path):
    r = subprocess.run([SEDNODE, "calibrate", "--port", "sim", "--sim-audio", "silence", "--apply"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stdout == "", r
    assert "no steady 1000 Hz tone" in r.stderr and len(r.stderr.strip().splitlines()) == 1
