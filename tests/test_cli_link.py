# SPDX-License-Identifier: MIT
"""The link commands end to end (in-process `sednode ...`), against the virtual node."""
import json
import subprocess
import wave

import numpy as np
import pytest

from host_tools import audio_io, cli, stream as hstream
from host_tools.errors import EXIT_PORT, EXIT_USAGE

pytestmark = pytest.mark.vnode
from sednode_cli import SEDNODE


def run(capsys, *argv):
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_info_port_sim_json():
    # the literal command, as a separate process
    r = subprocess.run([SEDNODE, "info", "--port", "sim", "--json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["board"] == "unix" and info["uid"] and info["firmware"]
    assert info["counters"]["rx_frames"] >= 1 and "rx_bad_crc" in info["counters"]
    assert r.stderr == ""


def test_info_text(capsys, vnode):
    rc, out, err = run(capsys, "info", "--port", vnode.port)
    assert rc == 0 and "board      unix" in out and "counters" in out


def test_config_get_set(capsys, vnode):
    rc, out, _ = run(capsys, "config", "set", "site=elm-st-3", "--port", vnode.port, "--json")
    assert rc == 0 and json.loads(out)["site"] == "elm-st-3"
    rc, out, _ = run(capsys, "config", "get", "--port", vnode.port, "--json")
    assert json.loads(out)["site"] == "elm-st-3"
    run(capsys, "config", "set", "site=", "--port", vnode.port)


def test_config_bad_value_exit_code(capsys, vnode):
    rc, out, err = run(capsys, "config", "set", "gain_db=77", "--port", vnode.port)
    assert rc == EXIT_USAGE and "gain_db" in err and out == ""
    rc, out, err = run(capsys, "config", "set", "nonsense=1", "--port", vnode.port)
    assert rc == EXIT_USAGE and "unknown key" in err


def test_missing_port_exit_code(capsys):
    rc, out, err = run(capsys, "info", "--port", "/dev/does-not-exist")
    assert rc == EXIT_PORT and "cannot open" in err and err.count("\n") == 1


def test_ports_json(capsys):
    rc, out, _ = run(capsys, "ports", "--json")
    assert rc == 0 and isinstance(json.loads(out), list)


def test_stream_writes_wav(capsys, vnode, tmp_path):
    out_wav = tmp_path / "s.wav"
    rc, out, err = run(capsys, "stream", "--seconds", "2", "-o", str(out_wav), "--port", vnode.port, "--json")
    assert rc == 0, err
    r = json.loads(out)
    assert r["samples"] == 32000 and r["dropped"] == 0
    with wave.open(str(out_wav)) as w:
        assert w.getnframes() == 32000 and w.getframerate() == 16000
        x = np.frombuffer(w.readframes(32000), "<i2")
    assert np.array_equal(x, hstream.pattern(r["first_index"], 32000))


def test_inject_json(capsys, vnode, tmp_path):
    from dsp_reference import signals
    wav = tmp_path / "in.wav"
    audio_io.write_wav(str(wav), signals.street(16000, 1.0), 16000)
    rc, out, err = run(capsys, "inject", str(wav), "--port", vnode.port, "--json")
    assert rc == 0, err
    r = json.loads(out)
    assert r["samples"] == 62 * 256 and r["frames"] == 61 and len(r["features"]) == 61   # whole hops only
    assert isinstance(r["events"], list)


def test_monitor_json(capsys, vnode):
    rc, out, err = run(capsys, "monitor", "--seconds", "1", "--interval", "100", "--port", vnode.port, "--json")
    assert rc == 0, err
    lines = [json.loads(l) for l in out.splitlines()]
    levels = [l for l in lines if l["type"] == "level"]
    assert len(levels) >= 5 and all(-151 <= l["rms_db"] <= 0 for l in levels)


@pytest.mark.parametrize("argv", [["stream", "--seconds", "1", "-o", "{missing}/x.wav"],
                                  ["stream", "--seconds", "1", "-o", "{tmp}"],
                                  ["hil", "--junit", "{missing}/x.xml"]])
def test_an_output_path_that_cannot_be_written_is_refused_before_the_port(tmp_path, capsys, argv):
    # checked before the port is opened (a port that does not exist would give exit code 3),
    # so nothing is streamed or injected only to be lost at the end
    argv = [a.format(missing=tmp_path / "no" / "such", tmp=tmp_path) for a in argv]
    rc = cli.main(argv + ["--port", str(tmp_path / "ttyNOPE")])
    err = capsys.readouterr().err
    assert rc == EXIT_USAGE and len(err.strip().splitlines()) == 1 and "cannot write" in err, err
