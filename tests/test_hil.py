# SPDX-License-Identifier: MIT
"""`sednode hil`: the device's DSP equals the numpy reference bit for bit.

Runs against the virtual node by default, against a real board with --node-port.
"""
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from host_tools import cli
from host_tools.errors import EXIT_FAIL

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from sednode_cli import SEDNODE


def test_hil_default_suite_passes(node_port, tmp_path, capsys):
    xml = tmp_path / "hil.xml"
    rc = cli.main(["hil", "--port", node_port, "--junit", str(xml)])
    out, err = capsys.readouterr()
    assert rc == 0, out + err
    assert "failed" in out and " 0 failed" in out
    suite = ET.parse(xml).getroot()
    assert suite.get("failures") == "0" and int(suite.get("tests")) >= 40


def test_hil_files(node_port, tmp_path, capsys):
    from dsp_reference import signals
    from host_tools import audio_io
    wav = tmp_path / "chirp.wav"
    audio_io.write_wav(str(wav), signals.chirp(16000, 0.5, 100, 7000), 16000)
    rc = cli.main(["hil", str(wav), "--port", node_port, "--json"])
    out, _ = capsys.readouterr()
    assert rc == 0 and '"ok": true' in out


@pytest.mark.vnode
def test_hil_fails_loudly_on_changed_constant(tmp_path):
    """A firmware copy with CDB_MUL off by one must fail the HIL check."""
    fw = tmp_path / "firmware"
    shutil.copytree(os.path.join(ROOT, "firmware"), fw)
    for name in ("consts.py", "dsp.py"):
        p = fw / "node" / name
        s = p.read_text()
        assert "19266" in s
        p.write_text(s.replace("19266", "19267"))
    xml = tmp_path / "hil.xml"
    r = subprocess.run([SEDNODE, "hil", "--port", "sim", "--sim-firmware", str(fw), "--junit", str(xml)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == EXIT_FAIL, r.stdout + r.stderr
    assert "FAIL" in r.stdout and "HIL FAILED" in r.stderr
    assert int(ET.parse(xml).getroot().get("failures")) > 0


@pytest.mark.device
def test_real_board_identity(node_port):
    from host_tools.link import Link
    with Link.open(node_port) as lk:
        assert lk.info["board"] != "unix"
        assert lk.info["free_heap"] > 20000
