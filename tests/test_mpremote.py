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
