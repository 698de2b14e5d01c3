# SPDX-License-Identifier: MIT
"""10,000 malformed inputs leave the virtual node running, answering INFO, and counting
exactly what it rejected."""
import json
import random
import struct
import threading
import time
import zlib

import pytest

from host_tools.link import Link, build_frame, cobs_encode
from host_tools import messages
from node import proto

pytestmark = pytest.mark.vnode


def _bad_crc(rng):
    raw = bytes([proto.INFO, rng.randrange(1, 256)]) + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
    crc = zlib.crc32(raw) ^ (1 << rng.randrange(32))
    return cobs_encode(raw + struct.pack("<I", crc))


def _truncated(rng):
    f = build_frame(proto.CONFIG_SET, rng.randrange(1, 256), json.dumps({"site": "x" * 20}).encode())
    return f[:rng.randrange(1, len(f) - 2)] + b"\x00"


def _out_of_range(rng, seq):
    k = rng.randrange(7)
    if k == 0:
        return build_frame(proto.CONFIG_SET, seq, json.dumps({"gain_db": rng.choice([-99, 41, 1000])}).encode())
    if k == 1:
        return build_frame(proto.CONFIG_SET, seq, b"{not json")
    if k == 2:
        return build_frame(proto.HELLO, seq, bytes(rng.randrange(0, 5)))            # wrong length
    if k == 3:
        return build_frame(proto.STREAM_START, seq, bytes(7))                       # wrong length
    if k == 4:
        return build_frame(proto.INJECT_DATA, seq, struct.pack("<I", 99) + bytes(10))  # no injection
    if k == 5:
        return build_frame(proto.MONITOR, seq, bytes(3))
    return build_frame(proto.INJECT_END, seq)                                       # no injection


def test_ten_thousand_malformed_inputs(vnode):
    rng = random.Random(10000)
    lk = Link.open(vnode.port, timeout=10)
    c0 = lk.get_info()["counters"]
    plan = (["random"] * 2500 + ["badcrc"] * 2000 + ["truncated"] * 2000 + ["oversize"] * 300 +
            ["unknown"] * 1200 + ["range"] * 2000)
    rng.shuffle(plan)
    assert len(plan) >= 10000
    errors = []
    stop = threading.Event()

    def reader():                     # drain answers so the node never blocks on output
        while not stop.is_set():
            f = lk.recv(0.05)
            if f is not None and f.type == proto.ERROR:
                errors.append(messages.unpack_error(f.payload)[0])
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    batch = bytearray()
    for i, kind in enumerate(plan):
        if kind == "random":          # pure noise, may hold any byte (Ctrl-C included)
            batch += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60))) + b"\x00"
        elif kind == "badcrc":
            batch += _bad_crc(rng)
        elif kind == "truncated":
            batch += _truncated(rng)
        elif kind == "oversize":
            batch += bytes(rng.randrange(1, 256) for _ in range(proto.MAX_ENC + rng.randrange(1, 3000))) + b"\x00"
        elif kind == "unknown":
            t = rng.choice([t for t in range(256) if t not in messages.NAMES])
            batch += build_frame(t, rng.randrange(1, 256), bytes(rng.randrange(0, 30)))
        else:
            batch += _out_of_range(rng, rng.randrange(1, 256))
        if len(batch) > 8000 or i == len(plan) - 1:
            lk.write(bytes(batch))
            batch.clear()
            lk.write(build_frame(proto.PING, 1))      # keep the session (and Ctrl-C off)
            time.sleep(0.002)
    time.sleep(1.0)
    stop.set()
    th.join()
    info = lk.get_info()                              # still running and answering
    c = {k: info["counters"][k] - c0[k] for k in c0}
    n = plan.count
    assert c["rx_bad_crc"] >= n("badcrc")
    assert c["rx_oversize"] == n("oversize")
    assert c["rx_unknown"] == n("unknown")
    assert c["rx_bad_payload"] == n("range")
    rejected = c["rx_bad_crc"] + c["rx_bad_cobs"] + c["rx_short"] + c["rx_oversize"] + c["rx_unknown"] + \
        c["rx_bad_payload"]
    assert rejected >= len(plan) - n("random") // 50          # noise may merge or hide in delimiters
    assert errors.count(proto.E_UNKNOWN) == n("unknown")
    assert c["session_timeouts"] == 0 and vnode.restarts == 0
    print("robustness: %d inputs, counters %s" % (len(plan), {k: v for k, v in c.items() if v}))
    assert lk.ping() >= 0
    lk.close()
