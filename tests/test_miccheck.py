# SPDX-License-Identifier: MIT
"""The technician's microphone check (host_tools/miccheck.py, `sednode check`): what a
dead, stuck, miswired or clipping I2S microphone looks like, and a street that passes; end
to end against virtual nodes whose "microphone" is silent, a full-scale pattern, or a
street scene."""
import json
import subprocess
import time

import numpy as np
import pytest

from dsp_reference import scenes
from host_tools import audio_io, miccheck, stream

from sednode_cli import SEDNODE, node_events



@pytest.mark.parametrize("seed", [1200, 1201, 1205, 1206, 1210])     # rain, night, traffic, babble
def test_streets_pass(seed):
    sc = scenes.make_scene(seed, rate=16000, seconds=6.0)
    r = miccheck.analyse(audio_io.to_int16(sc.audio), 16000)
    assert r["ok"] and not r["warnings"], r
    assert -70 < r["floor_dbfs"] <= r["loud_dbfs"] < -15


def test_what_broken_microphones_look_like():
    rng = np.random.default_rng(1)
    cases = {
        "no signal": np.zeros(32000, np.int16),
        "stuck at -1": np.full(32000, -1, np.int16),
        "own noise": np.round(rng.normal(0, 0.3, 32000)).astype(np.int16),     # a stray LSB now and then
        "louder than any street": stream.pattern(0, 32000),
        "random data": rng.integers(-32768, 32767, 32000).astype(np.int16),
    }
    for want, x in cases.items():
        r = miccheck.analyse(x, 16000)
        assert not r["ok"] and len(r["failures"]) == 1 and want.split()[0] in r["failures"][0], (want, r)
    # both thresholds follow the gain: 30 dB of gain, 30 dB more noise expected and allowed
    x = np.round(rng.normal(0, 3.0, 32000)).astype(np.int16)                  # about -81 dBFS
    assert miccheck.analyse(x, 16000)["ok"] and not miccheck.analyse(x, 16000, gain_db=30)["ok"]
    y = np.round(rng.normal(0, 6000, 32000)).astype(np.int16)                 # about -15 dBFS
    assert not miccheck.analyse(y, 16000)["ok"] and miccheck.analyse(y, 16000, gain_db=10)["ok"]


def test_warnings_for_clipping_and_dc_and_the_calibrated_levels():
    sc = scenes.make_scene(1205, rate=16000, seconds=6.0)
    a = sc.audio.copy()
    a[16000:16800] = np.clip(a[16000:16800] * 200, -1, 1)                    # a close shot, clipped for 50 ms
    x = audio_io.to_int16(a)
    r = miccheck.analyse(x, 16000, gain_db=6, cal_cdb=11400)
    assert r["ok"] and any("clipping" in w and "gain_db 6" in w for w in r["warnings"]), r
    assert r["level_db_spl"] == round(r["level_dbfs"] + 114.0, 1)
    y = audio_io.to_int16(sc.audio) + 1500
    assert any("DC offset of 4.6%" in w for w in miccheck.analyse(y, 16000)["warnings"])
    with pytest.raises(ValueError):
        miccheck.analyse(np.zeros(100, np.int16), 16000)


def _check(audio, *extra):
    return subprocess.run([SEDNODE, "check", "--port", "sim", "--sim-audio", audio, "--seconds", "2"] + list(extra),
                          capture_output=True, text=True, timeout=60)


def test_sednode_check_against_virtual_nodes(tmp_path):
    r = _check("silence")
    assert r.returncode == 1 and "FAIL       no signal" in r.stdout and "microphone FAILED" in r.stdout, r.stdout
    r = _check("pattern", "--json")
    d = json.loads(r.stdout)
    assert r.returncode == 1 and not d["ok"] and d["level_dbfs"] > -6 and d["lost"] == 0
    sc = scenes.make_scene(1205, rate=16000, seconds=4.0)
    wav = str(tmp_path / "street.wav")
    audio_io.write_wav(wav, audio_io.to_int16(sc.audio), 16000)
    r = _check(wav)
    assert r.returncode == 0 and "microphone OK" in r.stdout and "FAIL" not in r.stdout, r.stdout + r.stderr


def test_the_node_logs_a_dead_microphone_and_its_end(tmp_path):
    # a street with 2.5 s of digital silence in it, then nothing once the file ends
    from host_tools.link import Link
    from host_tools.vnode import VirtualNode
    sc = scenes.make_scene(1205, rate=16000, seconds=3.0)
    a = audio_io.to_int16(sc.audio)
    wav = str(tmp_path / "gap.wav")
    audio_io.write_wav(wav, np.concatenate([a[:16000], np.zeros(40000, np.int16), a[16000:40000]]), 16000)
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "config.json").write_text('{"mic_fault_s": 1}')
    with VirtualNode(audio=wav, loop=False, flash=str(flash)) as vn:
        t = time.monotonic()
        rows = []
        while len(rows) < 2 and time.monotonic() - t < 30:
            time.sleep(0.5)
            rows = node_events(vn.port)[0]
        lk = Link.open(vn.port)
        try:
            faults = lk.get_info()["counters"]["mic_faults"]
        finally:
            lk.close()
    gap, after = rows[:2]
    assert gap["class"] == "mic_fault" and gap["fault"] == "no signal" and gap["revisions"] == 2, gap
    assert abs(gap["onset_s"] - 1.0) < 0.05 and abs(gap["duration_s"] - 2.5) < 0.07 and gap["peak_dbfs"] == -150.0
    assert after["fault"] == "no signal" and abs(after["onset_s"] - 5.0) < 0.05 and after["revisions"] == 1
    assert faults == 2


def test_the_node_logs_a_microphone_pinned_loud(tmp_path):
    from host_tools.vnode import VirtualNode
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "config.json").write_text('{"mic_fault_s": 1}')
    with VirtualNode(audio="pattern", flash=str(flash)) as vn:
        t = time.monotonic()
        rows = []
        while not rows and time.monotonic() - t < 30:
            time.sleep(0.5)
            rows = [r for r in node_events(vn.port)[0] if r["class"] == "mic_fault"]
    assert rows[0]["fault"] == "level pinned" and rows[0]["onset_s"] < 0.1, rows


def test_a_node_with_negative_gain_does_not_take_a_quiet_street_for_a_dead_mic(tmp_path):
    from host_tools.link import Link
    from host_tools.vnode import VirtualNode
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "config.json").write_text('{"mic_fault_s": 1, "gain_db": -6}')
    with VirtualNode(audio="silence", flash=str(flash)) as vn:
        time.sleep(2.5)
        lk = Link.open(vn.port)
        try:
            c = lk.get_info()["counters"]
        finally:
            lk.close()
    assert c["mic_faults"] == 0 and c["dsp_frames"] > 62, c


def test_the_fault_time_is_checked():
    from node import config
    assert config.validate({})["mic_fault_s"] == 10 and config.validate({"mic_fault_s": 0})["mic_fault_s"] == 0
    for bad in (-1, 3601, 2.5):
        with pytest.raises(config.ConfigError):
            config.validate({"mic_fault_s": bad})
