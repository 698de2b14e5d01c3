# SPDX-License-Identifier: MIT
"""`make bench`: DSP speed and memory on the MicroPython unix port, scaled to an ESP32.

ESP32 estimate: a viper `while` loop of 5,000,000 iterations takes 271 ms on an
ESP32-S3 at 240 MHz (published); the same loop is timed in the same run on the unix
port and every unix time is scaled by 271 / that time.  A second estimate scales machine
instruction counts (valgrind's callgrind, when installed) by the loop's count instead of
times (instruction_estimate: why it differs).  Also times a plain
MicroPython float FFT (what a user would write first) and numpy's FFT under CPython.
Prints a table and writes bench/latest.json.
"""
import json
import os
import sys
import tempfile
import time

import numpy as np

from host_tools import fwrun
from host_tools.errors import NodeToolError

GEOMETRIES = [(16000, 512, 256), (32000, 1024, 512)]
TARGET_CPU_PERCENT = 10.0
TARGET_HEAP_BYTES = 32 * 1024


def numpy_fft_us(n, reps=2000):
    x = np.random.default_rng(0).standard_normal(n)
    best = None
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps):
            np.fft.rfft(x)
        dt = (time.perf_counter() - t) / reps * 1e6
        best = dt if best is None or dt < best else best
    return best


def run_geometry(rate, frame, hop):
    args = [str(rate), str(frame), str(hop)]
    r = json.loads(fwrun.run_script("bench_dsp.py", args).strip().splitlines()[-1])
    # the plain float FFT does not fit the firmware runs' heap on the 64-bit unix port (8-byte
    # pointers, 16-byte boxed floats): it gets a 1 MB heap, and that is said in the JSON
    r.update(json.loads(fwrun.run_script("bench_dsp.py", args + ["float"], heap="1M").strip().splitlines()[-1]))
    r["float_fft_heap"] = "1M"
    scale = fwrun.ESP32_CAL_MS / r["calib_loop_ms_unix"]
    hop_ms = 1000.0 * hop / rate
    r["esp32_scale"] = scale
    r["est_esp32_ms_per_hop"] = r["frame_us_unix"] * scale / 1000.0
    r["est_esp32_cpu_percent"] = fwrun.esp32_percent(r["frame_us_unix"], r["calib_loop_ms_unix"], hop, rate)
    r["est_esp32_fft_ms"] = r["fft_us_unix"] * scale / 1000.0
    r["numpy_fft_us"] = numpy_fft_us(frame)
    r["hop_ms"] = hop_ms
    return r


def detector_cost(rate, frame, hop):
    """The detector's per-frame cost, the same calibration scaling (host_tools.evaluate)."""
    from host_tools import evaluate
    from node import config
    return evaluate.esp32_cost(config.validate({"rate": rate, "frame": frame, "hop": hop}), counted=False)


def clip_cost(rate, hop, clip_ms=2000):
    """The clip coder's cost per hop (config clip_ms > 0), scaled like the DSP."""
    r = json.loads(fwrun.run_script("bench_clip.py", [str(rate), str(hop), str(clip_ms)]).strip().splitlines()[-1])
    r["clip_ms"] = clip_ms
    r["est_esp32_cpu_percent"] = fwrun.esp32_percent(r["push_us_unix"], r["calib_loop_ms_unix"], hop, rate)
    return r


def _count(*args):
    return fwrun.instructions("icount.py", [str(a) for a in args])[0]


def counted_detector(rate, frame, hop):
    """Instructions of the calibration loop (cal_loop_instructions) and the detector's per frame
    on the cost scene, decisions included (detector_instructions_per_frame), each the difference
    of two runs of host_tools/mp/icount.py, with and without the work, and that share of one
    ESP32-S3 core (detector_est_esp32_cpu_percent); None without valgrind."""
    from dsp_reference.scenes import make_scene
    from host_tools import audio_io, evaluate
    first = fwrun.instructions("icount.py", ["cal", "0"])
    if first is None:
        return None
    cal = _count("cal", 1) - first[0]
    geo = [str(rate), str(frame), str(hop)]
    x = audio_io.to_int16(make_scene(evaluate.COST_SEED, seconds=evaluate.COST_SECONDS, snr_db=10.0).audio)
    with tempfile.TemporaryDirectory(prefix="sednode-ic-") as d:
        src = os.path.join(d, "in.raw")
        np.asarray(x, dtype="<i2").tofile(src)
        on, text = fwrun.instructions("icount.py", ["det", src] + geo + ["1"])
        n = int(text.split("frames=")[1].split()[0])
        det = (on - _count("det", src, *geo, 0)) / n
    return {"cal_loop_instructions": cal, "detector_instructions_per_frame": det,
            "detector_est_esp32_cpu_percent": 100.0 * det * fwrun.ESP32_CAL_MS / cal / (1000.0 * hop / rate)}


def instruction_estimate(rate, frame, hop, frames=50, decisions=20):
    """The ESP32 estimate from instruction counts (valgrind's callgrind) instead of times.

    A count does not vary with the machine's load, and it does not carry the host CPU's speed
    on the calibration loop: a tight 3-instruction loop runs at about one iteration per clock
    on a modern x86 core, much faster for its instructions than the DSP's code, so on such a
    host the timed scaling overstates the device's time.  Each figure is the difference of two
    runs of host_tools/mp/icount.py, with and without the work.  Returns a dict (None without
    valgrind): instructions of the calibration loop, of a DSP frame, of the detector per frame
    (counted_detector) and of one classifier decision; ms on an ESP32-S3 (instructions x 271 ms
    / the loop's instructions) and per cent of one core; the worst frame (DSP + detector + one
    more decision) in ms against the hop.
    """
    out = counted_detector(rate, frame, hop)
    if out is None:
        return None
    cal = out["cal_loop_instructions"]
    geo = [str(rate), str(frame), str(hop)]
    dsp = (_count("dsp", *geo, frames) - _count("dsp", *geo, 0)) / frames
    clf = (_count("clf", decisions) - _count("clf", 0)) / decisions
    hop_ms = 1000.0 * hop / rate
    ms = {k: v * fwrun.ESP32_CAL_MS / cal
          for k, v in (("dsp", dsp), ("detector", out["detector_instructions_per_frame"]), ("decision", clf))}
    out.update(dsp_instructions_per_frame=dsp, decision_instructions=clf, est_esp32_ms_per_hop=ms["dsp"],
               est_esp32_cpu_percent=100.0 * ms["dsp"] / hop_ms, detector_est_esp32_ms_per_frame=ms["detector"],
               decision_est_esp32_ms=ms["decision"],
               worst_frame_est_esp32_ms=ms["dsp"] + ms["detector"] + ms["decision"], hop_ms=hop_ms)
    return out


_APP_UP = ("import boot\nfrom node import app\na = app.App()\nimport gc\ngc.collect()\n"
           "print('UP', a.dsp is not None and a.det is not None and a.evlog is not None and a.boot_msg is None,"
           " gc.mem_free())\n")


def app_heap(top_k=160, floor_k=100):
    """The whole app on the virtual node's runtime (firmware pinned as the node runs it), from
    source and as .mpy files (deploy --mpy, the unix port's own architecture): free heap after
    App() at top_k, and the smallest heap from which every size up to top_k, in 1K steps,
    starts it with DSP, detector and event log and nothing to say.  The figures move by a few K
    with any edit of the firmware (docs/virtual_node.md, "Heap")."""
    from host_tools import deploy, vnode

    def up(k, firmware):
        with tempfile.TemporaryDirectory(prefix="sednode-heap-") as d:
            w = vnode.run_firmware(_APP_UP, d, "%dK" % k, firmware=firmware).stdout.split()
        return (w[w.index("UP") + 1] == "True", int(w[w.index("UP") + 2])) if "UP" in w else (False, None)
    out = {"heap_k": top_k}
    with tempfile.TemporaryDirectory(prefix="sednode-mpy-") as mpy_fw:
        deploy.stage_firmware(deploy.FIRMWARE, mpy_fw, deploy.mpy_format(vnode.unix_mpy())[2])
        for form, fw in (("py", deploy.FIRMWARE), ("mpy", mpy_fw)):
            ok, free = up(top_k, fw)
            m = top_k if ok else None
            while m is not None and m > floor_k and up(m - 1, fw)[0]:
                m -= 1
            out[form] = {"free_bytes": free if ok else None, "min_heap_k": m}
    return out


def table(results):
    rows = [("window", "window_us_unix"), ("FFT (complex + split)", "fft_us_unix"),
            ("power", "power_us_unix"), ("bands", "bands_us_unix"), ("features", "features_us_unix"),
            ("whole frame", "frame_us_unix"), ("plain MicroPython float FFT", "float_fft_us_unix"),
            ("numpy rfft (CPython)", "numpy_fft_us"), ("calibration loop, ms", "calib_loop_ms_unix"),
            ("est. ESP32 ms per hop", "est_esp32_ms_per_hop"), ("est. ESP32 CPU %", "est_esp32_cpu_percent"),
            ("DSP heap, bytes", "heap_peak_bytes"), ("alloc per frame, bytes", "alloc_per_frame_bytes")]
    head = "%-30s" % "µs on the unix port" + "".join("%16s" % ("%d Hz / %d" % (r["rate"], r["frame"])) for r in results)
    lines = [head]
    for label, key in rows:
        lines.append("%-30s" % label + "".join("%16s" % ("no heap" if r[key] is None else "%.2f" % r[key])
                                                 for r in results))
    return "\n".join(lines)


def main(out_dir="bench"):
    results = [run_geometry(*g) for g in GEOMETRIES]
    main_r = results[0]
    det = detector_cost(*GEOMETRIES[0])
    main_r["detector_us_unix"] = det["det_us_per_frame_unix"]
    main_r["detector_est_esp32_cpu_percent"] = det["est_esp32_cpu_percent"]
    main_r["pipeline_est_esp32_cpu_percent"] = main_r["est_esp32_cpu_percent"] + det["est_esp32_cpu_percent"]
    summary = {k: main_r[k] for k in ("fft_us_unix", "frame_us_unix", "calib_loop_ms_unix", "est_esp32_ms_per_hop",
                                      "est_esp32_cpu_percent", "float_fft_us_unix", "numpy_fft_us",
                                      "heap_peak_bytes", "detector_est_esp32_cpu_percent",
                                      "pipeline_est_esp32_cpu_percent")}
    summary["detector"] = det
    clip = clip_cost(GEOMETRIES[0][0], GEOMETRIES[0][2])
    summary["clips"] = clip
    summary["targets"] = {"est_esp32_cpu_percent_max": TARGET_CPU_PERCENT, "heap_bytes_max": TARGET_HEAP_BYTES,
                          "cpu_met": main_r["est_esp32_cpu_percent"] <= TARGET_CPU_PERCENT,
                          "heap_met": main_r["heap_peak_bytes"] <= TARGET_HEAP_BYTES}
    summary["app_heap"] = ah = app_heap()
    try:
        ic = instruction_estimate(*GEOMETRIES[0])
        summary["instruction_count"] = ic if ic is not None else {"skipped": "valgrind not installed"}
    except NodeToolError as e:               # valgrind there but failing: the timed figures stand
        ic = None
        summary["instruction_count"] = {"skipped": str(e)}
    summary["geometries"] = results
    summary["method"] = ("unix-port times scaled by %.0f ms / (same-run viper 5M-iteration loop); "
                         "best of repeated runs" % fwrun.ESP32_CAL_MS)
    print(table(results))
    print("detector (16 kHz): %.1f µs per frame on the unix port, est. ESP32 %.2f%% of a core (target <= 5%%); "
          "DSP + detector %.1f%%" % (det["det_us_per_frame_unix"], det["est_esp32_cpu_percent"],
                                     main_r["pipeline_est_esp32_cpu_percent"]))
    print("event clips (clip_ms %d, off by default): %.2f µs per hop on the unix port, est. ESP32 %.2f%% of a core; "
          "%d B of heap (ring %d B)" % (clip["clip_ms"], clip["push_us_unix"], clip["est_esp32_cpu_percent"],
                                       clip["heap_bytes"], clip["ring_bytes"]))
    if ic is None:
        print("instruction-count estimate: skipped (%s)" % summary["instruction_count"]["skipped"])
    else:
        print("instruction-count estimate (callgrind; calibration loop %.1f M instructions = 271 ms): DSP %.0f k "
              "instructions per frame = %.2f ms per hop = %.1f%% of a core; detector %.1f k per frame = %.2f%%; "
              "one classifier decision %.0f k = %.2f ms; worst frame (DSP + detector + a decision) %.2f ms of %.0f ms"
              % (ic["cal_loop_instructions"] / 1e6, ic["dsp_instructions_per_frame"] / 1e3, ic["est_esp32_ms_per_hop"],
                 ic["est_esp32_cpu_percent"], ic["detector_instructions_per_frame"] / 1e3,
                 ic["detector_est_esp32_cpu_percent"], ic["decision_instructions"] / 1e3,
                 ic["decision_est_esp32_ms"], ic["worst_frame_est_esp32_ms"], ic["hop_ms"]))
    print("whole app (virtual node, %dK heap): from source %s B free, starts with everything from %sK up; "
          "deployed as .mpy %s B free, from %sK up" % (ah["heap_k"], ah["py"]["free_bytes"], ah["py"]["min_heap_k"],
                                                      ah["mpy"]["free_bytes"], ah["mpy"]["min_heap_k"]))
    print("targets: CPU <= %.0f%% -> %s, heap <= %d B -> %s" % (
        TARGET_CPU_PERCENT, "met" if summary["targets"]["cpu_met"] else "MISSED",
        TARGET_HEAP_BYTES, "met" if summary["targets"]["heap_met"] else "MISSED"))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "latest.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print("wrote %s" % os.path.join(out_dir, "latest.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
