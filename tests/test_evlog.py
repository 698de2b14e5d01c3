# SPDX-License-Identifier: MIT
"""The node's event log on flash (firmware/node/evlog.py, EVLOG_GET / EVLOG_CLEAR,
`sednode events`): the module runs on the MicroPython unix port, the command against
virtual nodes that share one flash folder across a restart; the host decodes the
records the firmware wrote (host_tools/events.py)."""
import os
import subprocess
import time

import pytest

from host_tools import events, messages
from node import proto

HERE = os.path.dirname(os.path.abspath(__file__))
FIRMWARE = os.path.join(os.path.dirname(HERE), "firmware")
from sednode_cli import SEDNODE, node_events


# Runs on the unix port in a fresh flash folder: 4 records per file, so the log keeps 4..8.
_SCRIPT = r"""
import os
from node import evlog
def rec(lg, k):
    return lg.add(1, 90, k, 0, 1000 * k, 256, -1234, 0, 16000, k)
def seqs(lg, since=0):
    out = bytearray(32 * 20)
    n = lg.read(since, out, 0, 20)
    return [evlog._seq(out[32 * i:32 * i + 32]) for i in range(n)]
lg = evlog.EventLog(per=4)
print("boot", lg.boot, "seqs", [rec(lg, k) for k in range(10)])
print("kept", seqs(lg), "first", lg.first(), "evicted", lg.evicted)
print("since7", seqs(lg, 7), "max2", lg.read(0, bytearray(64), 0, 2))
lg = evlog.EventLog(per=4)                       # a reboot
print("boot", lg.boot, "next", lg.seq, "kept", seqs(lg), "evicted", lg.evicted, "bad", lg.bad, "first", lg.first())
with open("evlog." + str(lg.cur), "ab") as f:         # a power cut in the middle of a record
    f.write(b"\x01" * 13)
lg = evlog.EventLog(per=4)
print("torn bad", lg.bad, "kept", seqs(lg), "first", lg.first())
s = rec(lg, 11)
print("after torn", s, "kept", seqs(lg), "since", seqs(lg, s))
print("cleared", lg.clear(), "kept", seqs(lg), "first", lg.first())
lg = evlog.EventLog(per=4)
print("after clear boot", lg.boot, "next", lg.seq)
with open("evlog.st", "wb") as f:                     # a torn state file
    f.write(b"\x00\x01")
lg = evlog.EventLog(per=4)
print("lost state boot", lg.boot, "next", lg.seq, "kept", seqs(lg))
lg = evlog.EventLog(per=4)
print("again boot", lg.boot, "next", rec(lg, 1), "kept", seqs(lg))
lg.set_time(1700000000, 500, 2500)                    # the host's time at uptime 2.5 s
os.remove("evlog.tm")
lg.set_time(1700000001, 900, 3400)                    # 0.5 s off: kept as it was, no write
print("time", bytes(lg.times[16:24]), "tm" in "".join(os.listdir()))
lg.set_time(1700000100, 0, 3000)                      # 97 s off: the host's clock wins
lg = evlog.EventLog(per=4)                            # boot 3 keeps boot 2's start
lg.set_time(1700000200, 0, 1000)
print("times", [(lg.times[8 * i], bytes(lg.times[8 * i + 2:8 * i + 8])) for i in range(8) if lg.times[8 * i]])
"""


def _on_unix_port(tmp_path, text):
    """Run text as a script on the unix port (ESP32-sized heap) with the firmware importable and
    tmp_path as the flash (working folder); returns its stdout lines."""
    from host_tools.vnode import run_firmware
    r = run_firmware(text, tmp_path, "100K", timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_the_log_keeps_evicts_and_survives_reboots_and_torn_writes_on_the_unix_port(tmp_path):
    out = _on_unix_port(tmp_path, _SCRIPT)
    assert out[0] == "boot 1 seqs [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"
    # 10 records in files of 4: the first file was emptied when the third began (oldest first)
    assert out[1] == "kept [5, 6, 7, 8, 9, 10] first 5 evicted 4"
    assert out[2] == "since7 [7, 8, 9, 10] max2 2"
    assert out[3] == "boot 2 next 11 kept [5, 6, 7, 8, 9, 10] evicted 4 bad 0 first 5"   # found again at boot
    # the torn slot is skipped and counted; the next record starts on a whole slot and is read back
    assert out[4] == "torn bad 1 kept [5, 6, 7, 8, 9, 10] first 5"
    assert out[5] == "after torn 11 kept [5, 6, 7, 8, 9, 10, 11] since [11]"
    # a clear drops what was kept; the numbering goes on from the state file, written by
    # rename; only when that is lost too with an empty log do numbers start at 1 again
    assert out[6] == "cleared 7 kept [] first 0"
    assert out[7] == "after clear boot 4 next 12"
    assert out[8] == "lost state boot 1 next 1 kept []"
    assert out[9] == "again boot 2 next 1 kept [1]"
    # the start of boot 2 (1700000000.5 - 2.5 s) sits at entry 2; a host 0.5 s off does not rewrite it
    import struct
    t2 = struct.pack("<HIH", 2, 1699999998, 0)
    assert out[10] == "time %r False" % t2
    assert out[11] == "times [(2, %r), (3, %r)]" % (struct.pack("<IH", 1700000097, 0),
                                                     struct.pack("<IH", 1700000199, 0))


def test_the_host_decodes_what_the_firmware_writes(tmp_path):
    _on_unix_port(tmp_path, "from node import evlog\nlg = evlog.EventLog()\n"
                            "lg.add(1, 97, 2, 1, 5 * (1 << 32) + 160, 4096, -1500, 12000, 16000, 90)\n")
    rec = (tmp_path / "evlog.0").read_bytes()
    assert rec == events.pack(1, 1, 90, 1, 97, 2, 1, 160, 4096, -1500, 12000, 16000)
    d = events.unpack(rec)
    assert events.seq_of(rec) == 1 and d["onset"] == 160 and d["peak_cdb"] == -1500 and d["shots"] == 2
    assert d["uptime_s"] == 90 and d["cal_cdb"] == 12000 and d["rate"] == 16000
    bad = bytearray(rec)
    bad[5] ^= 1
    assert events.seq_of(bad) == -1 and events.seq_of(rec[:20]) == -1


def test_onsets_unwrap_the_32_bit_sample_counter_with_the_uptime():
    r = {"onset": 160, "uptime_s": 5 * (1 << 32) // 16000 + 1, "rate": 16000}
    assert events.onset_s(r) == pytest.approx((5 * (1 << 32) + 160) / 16000)
    assert events.onset_s({"onset": 32000, "uptime_s": 3, "rate": 16000}) == 2.0


def test_revisions_fold_into_their_event():
    base = {"boot": 1, "confidence": 95, "update": 0, "onset": 16000, "class_id": 1, "shots": 1,
            "duration": 3000, "peak_cdb": -2000, "cal_cdb": 0, "rate": 16000, "uptime_s": 2}
    recs = [dict(base, seq=1), dict(base, seq=2, class_id=2, onset=48000),
            dict(base, seq=3, shots=3, update=1, duration=9000), dict(base, seq=4, boot=2)]
    f = events.fold(recs)
    assert [(r["seq"], r["revisions"]) for r in f] == [(3, 2), (2, 1), (4, 1)]
    d = events.describe(f[0], {1: 1000.25})
    assert d["class"] == "gunshot" and d["shots"] == 3 and d["duration_s"] == 0.562
    assert d["time_utc"] == "1970-01-01T00:16:41.250Z" and d["peak_db_spl"] is None   # boot 1 began at 1000.25
    assert events.describe(f[2], {1: 1000.25})["time_utc"] is None                     # boot 2: no time known
    assert events.iso(59.9996) == "1970-01-01T00:01:00.000Z"
    assert events.describe(dict(f[0], cal_cdb=12000))["peak_db_spl"] == 100.0


def _scene_wav(tmp_path):
    # 4 s of the benchmark street of seed 1201 (10 dB) with its gunshot 2.78 s in
    from dsp_reference import scenes
    from host_tools import audio_io
    sc = scenes.make_scene(1201, rate=16000, seconds=30.0)
    path = str(tmp_path / "shot.wav")
    audio_io.write_wav(path, audio_io.to_int16(sc.audio[10 * 16000:14 * 16000]), 16000)
    return path


def test_an_event_heard_with_no_host_is_read_after_a_restart_and_cleared(tmp_path):
    from host_tools.link import Link
    from host_tools.vnode import VirtualNode
    flash = str(tmp_path / "flash")
    os.mkdir(flash)
    with VirtualNode(audio=_scene_wav(tmp_path), loop=False, flash=flash) as node:
        t = time.monotonic()                 # nobody listens while the node hears the street
        while not os.path.exists(os.path.join(flash, "evlog.0")) and time.monotonic() - t < 30:
            time.sleep(0.2)
        time.sleep(1.0)
        got, summary = node_events(node.port)
    assert [e["class"] for e in got] == ["gunshot"] and got[0]["time_utc"].endswith("Z"), got
    assert summary["boot"] == 1 and summary["evicted"] == 0 and summary["bad"] == 0
    assert 2.6 < got[0]["onset_s"] < 3.0 and got[0]["confidence"] >= 90

    with VirtualNode(audio="silence", flash=flash) as node:       # the node restarted
        again, summary = node_events(node.port)
        assert summary["boot"] == 2 and [e["seq"] for e in again] == [got[0]["seq"]]
        # the first boot's start, which the first `events` told the node, dates its event still
        assert again[0]["time_utc"] == got[0]["time_utc"] and again[0]["onset_s"] == got[0]["onset_s"]
        lk = Link.open(node.port)
        try:                                 # a host that did not read the newest record may not clear
            f = lk.request(proto.EVLOG_CLEAR, b"\x01\x00\x00\x00", accept_error=True)
            assert f.type == proto.ERROR and messages.unpack_error(f.payload)[0] == proto.E_STATE
            f = lk.request(proto.EVLOG_GET, b"\x00", accept_error=True)          # bad length
            assert f.type == proto.ERROR and messages.unpack_error(f.payload)[0] == proto.E_LENGTH
        finally:
            lk.close()
        cleared, summary = node_events(node.port, "--clear")
        assert summary["cleared"] == 1 and [e["seq"] for e in cleared] == [got[0]["seq"]]
        assert node_events(node.port)[0] == []
        assert summary["next_seq"] == got[0]["seq"] + 1


def test_a_node_without_the_event_log_is_told_to_update(tmp_path):
    # a node whose firmware predates the event log: this firmware without its two requests
    import shutil
    from host_tools.vnode import VirtualNode
    old = tmp_path / "fw"
    shutil.copytree(FIRMWARE, old, ignore=shutil.ignore_patterns("__pycache__"))
    app = (old / "node" / "app.py").read_text()
    wired = "proto.EVLOG_GET: self.h_evlog_get, proto.EVLOG_CLEAR: self.h_evlog_clear,"
    assert wired in app
    (old / "node" / "app.py").write_text(app.replace(wired, ""))
    with VirtualNode(firmware=str(old)) as node:
        r = subprocess.run([SEDNODE, "events", "--port", node.port], capture_output=True, text=True, timeout=60)
    assert r.returncode == 4 and r.stdout == "", r
    assert "keeps no event log; update its firmware" in r.stderr and "sednode deploy --port %s" % node.port in r.stderr
    assert "mpremote connect %s cp -r" % node.port in r.stderr
