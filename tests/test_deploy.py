# SPDX-License-Identifier: MIT
"""Putting software on a node: `sednode deploy` (real mpremote against a virtual node whose
flash folder then runs what was copied) and `sednode flash` (esptool at its API boundary:
no ESP32 here, so esptool.main is replaced where the board would answer)."""
import json
import os
import shutil
import subprocess

import pytest

from host_tools import cli, deploy
from host_tools.vnode import VirtualNode

from sednode_cli import SEDNODE


def run(capsys, *argv):
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.vnode
def test_deploy_puts_this_firmware_on_a_node_checks_it_and_the_node_runs_it(tmp_path):
    fw = tmp_path / "fw"                       # this firmware, marked so the node can tell which it runs
    shutil.copytree(deploy.FIRMWARE, fw, ignore=shutil.ignore_patterns("__pycache__"))
    consts = (fw / "node" / "consts.py").read_text()
    assert 'FW_VERSION = "' in consts
    (fw / "node" / "consts.py").write_text(consts.replace('FW_VERSION = "', 'FW_VERSION = "deployed-', 1))
    os.makedirs(fw / "node" / "__pycache__")
    (fw / "node" / "__pycache__" / "app.cpython-312.pyc").write_bytes(b"not for the board")
    flash = tmp_path / "flash"
    flash.mkdir()
    with VirtualNode(flash=str(flash)) as node:     # the virtual node runs its flash folder first
        r = subprocess.run([SEDNODE, "deploy", "--port", node.port, "--firmware", str(fw), "--json"],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout)
        assert got["firmware"].startswith("deployed-") and got["files"] == len(deploy.firmware_files(str(fw)))
        info = subprocess.run([SEDNODE, "info", "--port", node.port, "--json"], capture_output=True, text=True,
                              timeout=60)
        assert json.loads(info.stdout)["firmware"] == got["firmware"]
    for f in deploy.firmware_files(str(fw)):
        assert (flash / f).read_bytes() == (fw / f).read_bytes(), f
    assert not (flash / "node" / "__pycache__").exists()


@pytest.mark.vnode
def test_deploy_mpy_puts_compiled_modules_on_the_node_and_source_takes_their_place_again(tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    src = deploy.firmware_files()
    mods = [f for f in src if f.startswith("node/")]
    with VirtualNode(flash=str(flash)) as node:
        for mpy in (True, False):
            r = subprocess.run([SEDNODE, "deploy", "--port", node.port, "--json"] + (["--mpy"] if mpy else []),
                               capture_output=True, text=True, timeout=600)
            assert r.returncode == 0, r.stderr
            got = json.loads(r.stdout)
            assert got["format"] == ("mpy x64" if mpy else "py") and got["files"] == len(src)
            info = subprocess.run([SEDNODE, "info", "--port", node.port], capture_output=True, text=True, timeout=60)
            assert "running    DSP yes  detector yes" in info.stdout, info.stdout + info.stderr
            for f in mods:                             # one form of each module, never both
                assert (flash / (f[:-3] + ".mpy")).exists() == mpy and (flash / f).exists() != mpy, f
                if mpy:
                    assert (flash / (f[:-3] + ".mpy")).read_bytes()[:2] == b"M\x06", f
            for f in ("boot.py", "main.py"):          # MicroPython runs only these as source
                with open(os.path.join(deploy.FIRMWARE, f), "rb") as fh:
                    assert (flash / f).read_bytes() == fh.read()


@pytest.mark.parametrize("mpy, want", [(2822, (6, 3, "x64")), (6 | 3 << 8 | 10 << 10, (6, 3, "xtensawin")),
                                       (6 | 3 << 8 | 11 << 10, (6, 3, "rv32imc")), (6 | 3 << 8, (6, 3, None))])
def test_the_nodes_mpy_format_is_read_from_its_micropython(monkeypatch, mpy, want):
    monkeypatch.setattr(deploy, "_mpremote", lambda port, args, timeout, cwd=None: "MPY %d\n" % mpy)
    assert deploy.node_mpy("/dev/x") == want


@pytest.mark.parametrize("answer, why", [("MPY %d\n" % (5 | 2 << 10), "loads .mpy v5.0; this mpy-cross writes v6.3"),
                                         ("MPY %d\n" % (6 | 3 << 8), "v6.3 with no native code"),
                                         ("MPY -1\n", "does not say which .mpy files it loads")])
def test_deploy_mpy_refuses_a_node_that_cannot_load_these_files_before_copying(monkeypatch, capsys, answer, why):
    calls = []

    def fake(port, args, timeout, cwd=None):
        calls.append(args[0])
        return answer
    monkeypatch.setattr(deploy, "_mpremote", fake)
    rc, out, err = run(capsys, "deploy", "--mpy", "--port", "/dev/null")
    assert rc == 1 and out == "" and why in err, err
    assert calls == ["exec"]                            # asked, nothing removed or copied


def test_mpy_cross_writes_the_format_the_unix_port_loads():
    from host_tools.vnode import unix_mpy
    assert deploy.mpy_cross_version() == deploy.mpy_format(unix_mpy())[:2]


def test_deploy_refuses_a_folder_that_is_no_firmware_before_the_port(tmp_path, capsys):
    rc, out, err = run(capsys, "deploy", "--firmware", str(tmp_path), "--port", "/dev/nonexistent-port")
    assert rc == 2 and out == "" and "does not look like the firmware folder" in err


def test_deploy_to_a_port_that_is_not_there_is_exit_3(capsys):
    rc, out, err = run(capsys, "deploy", "--port", "/dev/nonexistent-port")
    assert rc == 3 and out == "" and "mpremote exec failed" in err and len(err.strip().splitlines()) == 2
    assert "failed to access /dev/nonexistent-port" in err


def _image(tmp_path, first=0xE9, name="micropython.bin"):
    p = tmp_path / name
    p.write_bytes(bytes([first]) + bytes(4095))
    return str(p)


@pytest.mark.parametrize("chip,erase,expect", [
    ("esp32", False, [["--chip", "esp32", "--port", "/dev/ttyUSB7", "--baud", "460800", "write-flash", "-z",
                       "0x1000", "IMG"]]),
    ("esp32s3", True, [["--chip", "esp32s3", "--port", "/dev/ttyUSB7", "--baud", "460800", "erase-flash"],
                       ["--chip", "esp32s3", "--port", "/dev/ttyUSB7", "--baud", "460800", "write-flash", "-z",
                        "0x0", "IMG"]]),
])
def test_flash_hands_esptool_the_image_at_the_chips_offset(tmp_path, capsys, monkeypatch, chip, erase, expect):
    import esptool
    calls = []
    monkeypatch.setattr(esptool, "main", lambda argv: calls.append(list(argv)) or print("esptool says hi"))
    img = _image(tmp_path)
    rc, out, err = run(capsys, "flash", img, "--chip", chip, "--port", "/dev/ttyUSB7", "--json",
                       *(["--erase"] if erase else []))
    assert rc == 0, err
    assert calls == [[img if a == "IMG" else a for a in e] for e in expect]
    assert json.loads(out) == {"port": "/dev/ttyUSB7", "image": img, "chip": chip, "erased": erase}
    assert "esptool says hi" in err                       # esptool's own output goes to stderr


def test_flash_reports_esptools_failure_as_a_port_error(tmp_path, capsys):
    # the real esptool, with a port that is not there
    rc, out, err = run(capsys, "flash", _image(tmp_path), "--port", "/dev/nonexistent-port")
    assert rc == 3 and out == "" and "flash: esptool failed on /dev/nonexistent-port: Could not open" in err


@pytest.mark.parametrize("argv,why", [
    (["IMG_BAD"], "is not an ESP firmware image"),
    (["MISSING"], "cannot read the image"),
    (["IMG", "--chip", "esp8266"], "chip 'esp8266' is not one of"),
    (["IMG", "--port", "sim"], "a virtual node has no flash chip"),
])
def test_flash_refuses_bad_input_before_esptool(tmp_path, capsys, monkeypatch, argv, why):
    import esptool
    monkeypatch.setattr(esptool, "main", lambda argv: pytest.fail("esptool must not run"))
    sub = {"IMG": _image(tmp_path), "IMG_BAD": _image(tmp_path, first=0x7F, name="bad.bin"),
           "MISSING": str(tmp_path / "missing.bin")}
    rc, out, err = run(capsys, "flash", *[sub.get(a, a) for a in argv], *([] if "--port" in argv else
                                                                           ["--port", "/dev/ttyUSB7"]))
    assert rc == 2 and out == "" and why in err, err
