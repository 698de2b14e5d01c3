# SPDX-License-Identifier: MIT
"""mpremote can always take the port back: after a host session, Ctrl-C interrupts the
app and the real `mpremote connect PTY resume exec ...` gets the REPL."""
import os
import subprocess
import sys

import pytest

from host_tools.link import Link
from host_tools.vnode import VirtualNode

pytestmark = pytest.mark.vnode
MPREMOTE = os.path.join(os.path.dirname(sys.executable), "mpremote")


def test_mpremote_takes_over_after_session():
    with VirtualNode() as vn:
        with Link.open(vn.port) as lk:               # a session: Ctrl-C is data meanwhile
            lk.get_info()
        r = subprocess.run([MPREMOTE, "connect", os.path.realpath(vn.port), "resume", "exec",
                            "import sys; print(6 * 7, sys.platform)"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["42", "linux"]
        # the app is gone (REPL); the host tools soft-reset the node and get it back
        with Link.open(vn.port) as lk:
            assert lk.info["uptime_ms"] < 5000
            assert lk.ping() >= 0


def test_mpremote_after_silent_host():
    """A host that vanishes without BYE: after the session timeout mpremote still gets in."""
    with VirtualNode() as vn:
        lk = Link.open(vn.port)
        lk.ser.close()                               # no BYE
        import time
        time.sleep(5.6)
        r = subprocess.run([MPREMOTE, "connect", os.path.realpath(vn.port), "resume", "exec", "print(1+1)"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stdout.strip() == "2", r.stderr


def test_the_documented_install_copies_this_firmware_onto_a_node(tmp_path):
    # the README's install line (and the hint a protocol mismatch gives) is a real mpremote
    # command; on the virtual node it needs `resume` (no soft reset), as every mpremote call here
    from host_tools.link import INSTALL_ARGS, install_hint
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "README.md")) as f:
        assert install_hint("/dev/ttyUSB0") in f.read()
    with VirtualNode(audio="silence", flash=str(tmp_path)) as vn:
        r = subprocess.run([MPREMOTE, "connect", os.path.realpath(vn.port), "resume"] + list(INSTALL_ARGS),
                           capture_output=True, text=True, timeout=120, cwd=root)
        assert r.returncode == 0, r.stderr
    for dirpath, _, names in os.walk(os.path.join(root, "firmware", "node")):
        for name in names:
            if name.endswith(".py"):
                src = os.path.join(dirpath, name)
                rel = os.path.relpath(src, os.path.join(root, "firmware"))
                with open(src, "rb") as a, open(tmp_path / rel, "rb") as b:
                    assert a.read() == b.read(), rel
    assert (tmp_path / "boot.py").exists() and (tmp_path / "main.py").exists()


def test_a_node_of_another_protocol_is_refused_with_the_install_hint(monkeypatch):
    from host_tools.errors import NodeToolError, EXIT_PROTOCOL
    from node import proto
    with VirtualNode(audio="silence") as vn:
        monkeypatch.setattr(proto, "PROTO_VERSION", proto.PROTO_VERSION + 1)
        with pytest.raises(NodeToolError) as e:
            Link.open(vn.port)
        assert e.value.code == EXIT_PROTOCOL
        assert "mpremote connect %s cp -r" % vn.port in str(e.value), str(e.value)
        assert "sednode deploy --port %s" % vn.port in str(e.value), str(e.value)


def _repl_heap_after_interrupt():
    with VirtualNode() as vn:
        r = subprocess.run([MPREMOTE, "connect", os.path.realpath(vn.port), "resume", "exec",
                            "import gc, sys; gc.collect(); "
                            "print(gc.mem_free(), len([k for k in sys.modules if k.startswith('node')]))"],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    free, mods = map(int, r.stdout.split())
    assert mods == 0, r.stdout
    return free


def test_the_repl_gets_the_heap_back_when_the_app_ends():
    # app.run lets go of the interrupted task (and with it the app's buffers) and main.py drops
    # the app's modules, so that mpremote's own work has room on a node it interrupted: a
    # fresh clone's install copy ran out of heap (a 1280-byte block) with ~24 KB left here
    free = _repl_heap_after_interrupt()
    assert free > 100000, free


def test_the_app_s_modules_are_let_go_even_when_one_of_its_functions_is_still_referenced(tmp_path):
    # CI's clone kept ~72 KB at the REPL (54,208 B free, this checkout 126,624 B): the GC scans
    # the C stack conservatively, and a stale word there pointing at an app function kept that
    # function's module, and through its globals every module it imported.  Which word is
    # stale depends on the heap's layout; here a real reference stands in for it.
    # main.drop_app() empties the modules' globals: only the function itself stays.
    from host_tools.vnode import run_firmware
    (tmp_path / "SAFE").write_text("")          # main.py defines drop_app without starting the app
    code = ("import gc, main\nfrom node import app\na = app.App()\nkeep = app.App.h_info\n"
            "del a, app\ngc.collect()\nbefore = gc.mem_free()\nmain.drop_app()\n"
            "print(before, gc.mem_free())\n")
    r = run_firmware(code, tmp_path, "160K", timeout=60)
    assert r.returncode == 0, r.stderr
    before, after = map(int, r.stdout.split()[-2:])
    assert after - before > 60000, (before, after)       # 71,968 B here; 640 B without emptying
