# SPDX-License-Identifier: MIT
"""The instruction-count estimate of `make bench`: its firmware runner, the count's parsing and
the arithmetic from counts to an ESP32 estimate.  (The counts themselves need valgrind and are
a benchmark's figures, not a test's.)"""
import os
import stat

import numpy as np
import pytest

from dsp_reference.scenes import make_scene
from host_tools import audio_io, bench, detect, fwrun
from host_tools.errors import NodeToolError
from node import config

CFG = config.validate({})


def test_the_counting_runner_sees_every_frame_the_detector_runner_sees(tmp_path):
    x = audio_io.to_int16(make_scene(5, seconds=3.0, snr_db=10.0).audio)
    src = str(tmp_path / "in.raw")
    np.asarray(x, dtype="<i2").tofile(src)
    _, info = detect.firmware_events(x, CFG)
    geo = [str(CFG["rate"]), str(CFG["frame"]), str(CFG["hop"])]
    for on in ("0", "1"):
        out = fwrun.run_script("icount.py", ["det", src] + geo + [on])
        assert out.split() == ["frames=%d" % info["frames"]]
    for args in (["cal", "0"], ["dsp"] + geo + ["3"], ["clf", "2"]):
        assert fwrun.run_script("icount.py", args) == ""          # runs, prints nothing


def _fake_valgrind(tmp_path, monkeypatch, text):
    exe = tmp_path / "valgrind"
    exe.write_text('#!/bin/sh\nshift 2\n"$@"\nrc=$?\necho "%s" >&2\nexit $rc\n' % text)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ["PATH"])


def test_the_count_is_read_from_callgrind_and_the_run_still_happens(tmp_path, monkeypatch):
    _fake_valgrind(tmp_path, monkeypatch, "==42== Collected : 123456789")
    n, out = fwrun.instructions("icount.py", ["clf", "1"])
    assert n == 123456789 and out == ""
    with pytest.raises(NodeToolError, match="firmware run failed"):
        fwrun.instructions("icount.py", ["det", str(tmp_path / "missing.raw"), "16000", "512", "256", "1"])
    _fake_valgrind(tmp_path, monkeypatch, "==42== something else")
    with pytest.raises(NodeToolError, match="no instruction count"):
        fwrun.instructions("icount.py", ["cal", "0"])


def test_no_valgrind_no_estimate(monkeypatch):
    monkeypatch.setattr(fwrun.shutil, "which", lambda name: None)
    assert fwrun.instructions("icount.py", ["cal", "0"]) is None
    assert bench.instruction_estimate(16000, 512, 256) is None


def test_counts_become_the_estimate_by_differences(monkeypatch):
    frames = []

    def fake(script, args):
        mode, rest = args[0], args[1:]
        if mode == "cal":
            return 1000 + int(rest[0]) * 50000000, ""
        if mode == "dsp":
            return 2000 + int(rest[3]) * 500000, ""
        if mode == "clf":
            return 3000 + int(rest[0]) * 400000, ""
        n = os.path.getsize(rest[0]) // 2 // 256 - 1
        frames.append(n)
        return 4000 + int(rest[4]) * n * 25000, "frames=%d\n" % n
    monkeypatch.setattr(fwrun, "instructions", fake)
    ic = bench.instruction_estimate(16000, 512, 256)
    assert ic["cal_loop_instructions"] == 50000000
    assert ic["dsp_instructions_per_frame"] == 500000
    assert ic["detector_instructions_per_frame"] == 25000 and frames
    assert ic["decision_instructions"] == 400000
    assert ic["est_esp32_ms_per_hop"] == pytest.approx(500000 / 50e6 * 271.0)          # 2.71 ms
    assert ic["est_esp32_cpu_percent"] == pytest.approx(100 * 2.71 / 16.0)
    assert ic["detector_est_esp32_cpu_percent"] == pytest.approx(100 * 0.1355 / 16.0)
    assert ic["worst_frame_est_esp32_ms"] == pytest.approx(2.71 + 0.1355 + 2.168)


def test_the_app_heap_scan_finds_where_every_larger_heap_starts_everything(monkeypatch):
    from host_tools import vnode
    seen = []

    def fake(code, cwd, heap, firmware=None):
        k = int(heap[:-1])
        mpy = firmware != bench_fw
        seen.append((k, mpy))
        ok = (k >= 150 and k != 154) if not mpy else k >= 140      # source: one size in the middle fails
        return type("R", (), {"stdout": "UP %s %d\n" % (ok, 100 * k)})()
    from host_tools import deploy
    bench_fw = deploy.FIRMWARE
    monkeypatch.setattr(vnode, "run_firmware", fake)
    r = bench.app_heap(top_k=160, floor_k=100)
    assert r["py"] == {"free_bytes": 16000, "min_heap_k": 155}      # 154 fails: 155 and up all start
    assert r["mpy"] == {"free_bytes": 16000, "min_heap_k": 140}
    assert (139, True) in seen and (153, False) not in seen


def test_a_failing_valgrind_leaves_the_timed_cost_standing(monkeypatch):
    from host_tools import evaluate

    def broken(*a, **k):
        raise NodeToolError("firmware run failed (icount.py): valgrind: something broke", 1)
    monkeypatch.setattr(fwrun, "instructions", broken)
    c = evaluate.esp32_cost(CFG, seconds=2.0)
    assert c["frames"] > 0 and c["est_esp32_cpu_percent"] > 0
    assert "est_esp32_cpu_percent_counted" not in c and "something broke" in c["instructions_error"]
