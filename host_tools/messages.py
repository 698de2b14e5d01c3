# SPDX-License-Identifier: MIT
"""Host-side view of the link protocol: decoders of the node's payloads and names for
message types and error codes.  The ids, layouts and counters themselves are in
node/proto.py, which both sides import; what only the host needs lives here, so the
node does not compile it into its heap."""
import struct

from node import proto
from node.proto import RESPONSE

NAMES = {proto.HELLO: "HELLO", proto.INFO: "INFO", proto.CONFIG_GET: "CONFIG_GET", proto.CONFIG_SET: "CONFIG_SET",
         proto.STREAM_START: "STREAM_START", proto.STREAM_STOP: "STREAM_STOP", proto.INJECT_START: "INJECT_START",
         proto.INJECT_DATA: "INJECT_DATA", proto.INJECT_END: "INJECT_END", proto.MONITOR: "MONITOR",
         proto.REBOOT: "REBOOT", proto.BYE: "BYE", proto.PING: "PING", proto.EVLOG_GET: "EVLOG_GET",
         proto.EVLOG_CLEAR: "EVLOG_CLEAR", proto.EVLOG_TIME: "EVLOG_TIME", proto.CLIP_GET: "CLIP_GET", proto.AUDIO: "AUDIO",
         proto.FEATURES: "FEATURES",
         proto.EVENT: "EVENT", proto.LEVEL: "LEVEL", proto.LOG: "LOG", proto.CREDIT: "CREDIT",
         proto.STREAM_END: "STREAM_END", proto.ERROR: "ERROR"}
ERRORS = {proto.E_UNKNOWN: "unknown type", proto.E_LENGTH: "bad length", proto.E_RANGE: "out of range",
          proto.E_CONFIG: "config rejected", proto.E_STATE: "bad state", proto.E_OVERFLOW: "overflow",
          proto.E_INTERNAL: "internal", proto.E_NODSP: "no dsp"}
EVENT_KEYS = ("number", "class_id", "onset", "duration", "peak_cdb", "confidence", "shots", "update")  # EVENT_FMT


def name(t):
    """Human name of a message type, responses as "INFO.r"."""
    if t & RESPONSE:
        return NAMES.get(t & 0x7F, "0x%02x" % t) + ".r"
    return NAMES.get(t, "0x%02x" % t)


def unpack_info(p):
    """INFO payload -> dict (unknown extra counters are kept as counter_N)."""
    ver, h, up, heap, rate, caps, nc = struct.unpack_from(proto.INFO_FMT, p, 0)
    pos = proto.INFO_LEN
    counters = {}
    for i in range(nc):
        key = proto.COUNTERS[i] if i < len(proto.COUNTERS) else "counter_%d" % i
        counters[key] = struct.unpack_from("<I", p, pos)[0]
        pos += 4
    strs = []
    for _ in range(3):
        n = p[pos]
        strs.append(bytes(p[pos + 1:pos + 1 + n]).decode())
        pos += 1 + n
    return {"proto_version": ver, "firmware": strs[0], "board": strs[1], "uid": strs[2],
            "config_hash": "%08x" % h, "uptime_ms": up, "free_heap": heap, "rate": rate,
            "dsp": bool(caps & proto.CAP_DSP), "detector": bool(caps & proto.CAP_DETECT), "counters": counters}


def unpack_event(p):
    """EVENT payload -> dict (EVENT_KEYS)."""
    return dict(zip(EVENT_KEYS, struct.unpack_from(proto.EVENT_FMT, p, 0)))


def unpack_error(p):
    """ERROR payload -> (code, type it refers to, reason)."""
    code, ref = p[0], p[1]
    return code, ref, bytes(p[2:]).decode("utf-8", "replace") if len(p) > 2 else ""
