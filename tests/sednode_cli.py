# SPDX-License-Identifier: MIT
"""What the CLI tests share: the `sednode` command of this environment (every test that runs
it), and `sednode events` run against a port (tests/test_evlog.py, test_clips.py,
test_miccheck.py)."""
import json
import os
import subprocess
import sys

SEDNODE = os.path.join(os.path.dirname(sys.executable), "sednode")


def node_events(port, *extra):
    """`sednode events --json` on port: (one dict per event line, the summary dict)."""
    r = subprocess.run([SEDNODE, "events", "--port", port, "--json"] + list(extra), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stderr.strip().splitlines()[-1].split(": ", 1)[1])
    return [json.loads(x) for x in r.stdout.splitlines()], summary
