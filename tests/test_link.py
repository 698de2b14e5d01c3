# SPDX-License-Identifier: MIT
"""The link against the virtual node: requests, config, sessions, streaming, injection."""
import struct
import time

import numpy as np
import pytest

from host_tools import stream as hstream
from host_tools.errors import NodeToolError, EXIT_PORT, EXIT_USAGE
from host_tools.inject import inject
from host_tools.link import Link, NodeError
from node import config, proto

pytestmark = pytest.mark.vnode
RATE = 16000


def test_hello_reports_identity(link):
    info = link.info
    assert info["proto_version"] == proto.PROTO_VERSION
    assert info["board"] == "unix" and len(info["uid"]) == 12
    assert info["firmware"] and info["rate"] == RATE
    assert info["free_heap"] > 10000
    assert info["counters"]["sessions"] >= 1
    assert set(info["counters"]) == set(proto.COUNTERS)


def test_config_get_set_and_hash(link):
    cfg = link.config_get()
    assert config.validate(cfg) == cfg
    assert link.get_info()["config_hash"] == "%08x" % proto.config_hash(cfg)
    new = link.config_set({"site": "pole-17"})
    assert new["site"] == "pole-17"
    assert link.get_info()["config_hash"] == "%08x" % proto.config_hash(new)
    link.config_set({"site": cfg["site"]})


@pytest.mark.parametrize("change, why", [({"hop": 300}, "hop"), ({"gain_db": 99}, "gain_db"),
                                         ({"colour": 1}, "unknown config key"), ({"rate": "fast"}, "rate")])
def test_config_rejected_with_reason(link, change, why):
    before = link.get_info()["counters"]["rx_bad_payload"]
    with pytest.raises(NodeError) as e:
        link.config_set(change)
    assert why in e.value.reason and e.value.code == EXIT_USAGE
    assert link.get_info()["counters"]["rx_bad_payload"] == before + 1


def test_timeout_reports_what_arrived():
    lk = Link.open("loop://", hello=False, timeout=0.3)       # echoes our own bytes back
    with pytest.raises(NodeToolError) as e:
        lk.request(proto.INFO)
    assert e.value.code == EXIT_PORT
    assert "no answer to INFO" in str(e.value) and "received" in str(e.value)
    lk.ser.close()


def test_stream_60s_exact_by_content(link):
    """60 s at 16 kHz: exactly 960,000 samples, each equal to the node's known pattern."""
    parts = []
    r = hstream.stream(link, 60.0, on_samples=lambda i, x: parts.append((i, x.copy())))
    x = np.concatenate([p[1] for p in parts])
    assert r["samples"] == len(x) == 960000
    assert r["dropped"] == 0 and r["duplicated"] == 0 and r["node_dropped"] == 0
    assert np.array_equal(x, hstream.pattern(r["first_index"], len(x)))
    assert all(b[0] == a[0] + len(a[1]) for a, b in zip(parts, parts[1:]))
    assert r["overhead"] <= 0.03, r["overhead"]
    print("stream: %.0f samples/s, %.0f bytes/s, overhead %.2f%%" % (
        r["samples"] / r["seconds"], r["bytes"] / r["seconds"], 100 * r["overhead"]))


def test_stream_gap_detected_by_sample_counter(vnode, link):
    """Bytes lost on the line: the damaged AUDIO frame fails its CRC and the host
    reports exactly its samples as dropped, by the sample counter."""
    parts = []
    link.request(proto.PING)
    vnode.drop_down = 0
    t0 = time.monotonic()

    def cb(i, x):
        parts.append((i, x.copy()))
        if len(parts) == 20:
            vnode.drop_down = 100                 # cut into the middle of the next frame
    r = hstream.stream(link, 5.0, on_samples=cb)
    assert r["dropped"] in (1024, 2048) and r["gaps"]
    assert r["samples"] + r["dropped"] == 80000
    for i, x in parts:
        assert np.array_equal(x, hstream.pattern(i, len(x)))
    assert time.monotonic() - t0 < 30


def test_stream_stop_early(link):
    f = link.request(proto.STREAM_START, struct.pack("<I", 0))
    rate, first = struct.unpack("<II", f.payload)
    time.sleep(0.2)
    sent, dropped = struct.unpack("<II", link.request(proto.STREAM_STOP).payload)
    assert sent > 0 and dropped == 0
    got = 0
    while True:
        fr = link.recv(0.3)
        if fr is None:
            break
        if fr.type == proto.AUDIO:
            got += (len(fr.payload) - 4) // 2
    assert got <= sent


def test_inject_features_match_reference(link):
    from dsp_reference import int_model, signals
    cfg = config.validate(link.config_get())
    x = signals.street(RATE, 2.0)
    r = inject(link, x)
    ref = int_model.features(x, cfg)
    assert r["features"].shape == ref.shape and np.array_equal(r["features"], ref)
    assert r["frames"] == ref.shape[0] and not r["missing_frames"]


def test_inject_rules_enforced(link):
    with pytest.raises(NodeError) as e:                       # data without start
        link.request(proto.INJECT_DATA, struct.pack("<I", 0) + bytes(64))
    assert e.value.err_code == proto.E_STATE
    link.request(proto.INJECT_START, struct.pack("<IB", 0, 0))
    with pytest.raises(NodeError) as e:                       # wrong offset
        link.request(proto.INJECT_DATA, struct.pack("<I", 5) + bytes(64))
    assert e.value.err_code == proto.E_OVERFLOW
    end = link.request(proto.INJECT_END)
    assert struct.unpack("<III", end.payload)[0] == 0
    assert link.get_info()["counters"]["inject_overrun"] >= 1


def test_session_times_out_and_restores_ctrl_c(vnode):
    lk = Link.open(vnode.port)
    before = lk.get_info()["counters"]["session_timeouts"]
    time.sleep(proto.SESSION_TIMEOUT_MS / 1000 + 0.7)
    info = lk.get_info()                      # the link re-opens the session with a HELLO
    assert info["counters"]["session_timeouts"] == before + 1
    lk.close()
