# SPDX-License-Identifier: MIT
# Serial link protocol: message ids, payload layouts, counters, error codes.
# Valid under MicroPython and CPython: the node and the host tools import this one
# file, so both sides always agree.  Wire format and rules: docs/protocol.md.  What
# only the host needs (decoders, names for messages and errors) is in
# host_tools/messages.py: this module is compiled on the node, in its heap.
#
# Frame on the wire:  COBS( type:u8 | seq:u8 | payload | crc32:u32le ) 0x00
#   crc32 is CRC-32/ISO-HDLC (zlib.crc32) over type, seq and payload.
#   Requests (host -> node) carry seq 1..255 and get exactly one answer with the
#   same seq: the response type (request | 0x80) or ERROR.  Frames the node sends
#   on its own (AUDIO, FEATURES, EVENT, LEVEL, LOG, CREDIT, STREAM_END, ERROR about
#   something that was not a request) carry seq 0.
import struct

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

PROTO_VERSION = const(1)

HDR_LEN = const(2)            # type, seq
CRC_LEN = const(4)
MAX_PAYLOAD = const(2056)     # INJECT_DATA: 4-byte offset + 1024 samples, plus slack
MAX_RAW = const(2062)         # HDR_LEN + MAX_PAYLOAD + CRC_LEN
MAX_ENC = const(2072)         # COBS worst case: MAX_RAW + MAX_RAW // 254 + 1
AUDIO_SAMPLES = const(1024)   # samples per AUDIO frame (protocol overhead ~1.4 %)
INJECT_SAMPLES = const(1024)  # most samples one INJECT_DATA frame may carry
SESSION_TIMEOUT_MS = const(5000)  # host silence that ends a session (Ctrl-C back on)
INTR_CHAR = const(3)          # Ctrl-C; a session-opening HELLO must not contain it

# requests, host -> node; response type = request | RESPONSE
RESPONSE = const(0x80)
HELLO = const(0x10)         # <HI proto_version, nonce          -> INFO layout
INFO = const(0x11)          # (empty)                            -> INFO layout
CONFIG_GET = const(0x12)    # (empty)                            -> JSON object, full config
CONFIG_SET = const(0x13)    # JSON object, keys to change        -> JSON object, full config
STREAM_START = const(0x14)  # <I samples wanted (0: until STOP)  -> <II rate, first sample index
STREAM_STOP = const(0x15)   # (empty)                            -> <II samples sent, samples dropped
INJECT_START = const(0x16)  # <IB total samples (0: unknown), flags -> <II rate, credit (samples)
INJECT_DATA = const(0x17)   # <I offset, int16le samples         -> no response (CREDIT later)
INJECT_END = const(0x18)    # (empty)                            -> <III samples, frames, events
MONITOR = const(0x19)       # <H LEVEL period ms (0: off)         -> (empty)
REBOOT = const(0x1A)        # (empty)                            -> (empty), then the node resets
BYE = const(0x1B)           # (empty)                            -> (empty), session ends
PING = const(0x1C)          # (empty)                            -> <I uptime ms
EVLOG_GET = const(0x1D)     # <IB first seq wanted, most records -> EVLOG_HDR, n records (node/evlog.py)
EVLOG_CLEAR = const(0x1E)   # <I the node's next seq as last read -> <I records dropped
EVLOG_TIME = const(0x1F)    # <IH host's unix time s, ms (0, 0: ask) -> EVLOG_TIMES x EVLOG_TIME_FMT
CLIP_GET = const(0x20)      # <IH event seq, byte offset          -> <H file size, then up to CLIP_MAX bytes

# node -> host, seq 0
AUDIO = const(0x40)         # <I index of first sample since boot, int16le samples
FEATURES = const(0x41)      # <IB frame index since injection start, nfeat, nfeat * <i
EVENT = const(0x42)         # EVENT_FMT below
LEVEL = const(0x43)         # <Ihh sample index, peak cdB, rms cdB (last frame, dBFS)
LOG = const(0x44)           # utf-8 text
CREDIT = const(0x45)        # <I more samples the host may send
STREAM_END = const(0x46)    # <II samples sent, samples dropped (stream finished by itself)
ERROR = const(0x7F)         # <BB code, type it refers to, utf-8 reason

INJ_FEATURES = const(1)     # INJECT_START flags: send FEATURES per frame
INJ_EVENTS = const(2)       # send EVENT per detection

# EVENT: event number since boot, class id (node/events.py), onset sample index
# (since boot, or since injection start while injecting: the first new sample of
# the onset frame), duration in samples, peak cdB (dBFS), confidence 0..100, shot
# count, update (0: new event, 1: revision of the last event of that class)
EVENT_FMT = "<IBIIhBBB"
EVENT_LEN = const(18)

# EVLOG_GET answer: boot count now, records evicted so far, first seq kept (0: none),
# next seq, bad (torn) records skipped, n; then n records of EVLOG_REC_LEN bytes,
# oldest first.  At most EVLOG_MAX records per answer (they fit the node's 512-byte
# response buffer); the host asks again from the last seq + 1.
# A record (node/evlog.py): seq, boot count, uptime s, class id, confidence, shots,
# update, onset sample since boot (low 32 bits), duration samples, peak cdB, cal_cdb,
# rate; then the CRC-32 of those 28 bytes.
EVLOG_REC = "<IHIBBBBIIhhH"
EVLOG_REC_LEN = const(32)
EVLOG_TIME_FMT = "<HIH"     # boot, unix time s and ms when it began (boot 0: an empty entry)
EVLOG_TIMES = const(8)      # boots whose start the node keeps
EVLOG_HDR = "<HIIIHB"
EVLOG_HDR_LEN = const(17)
EVLOG_MAX = const(15)

# An event's audio clip (config clip_ms > 0), as the node keeps it on flash (clip.<seq % CLIP_KEEP>) and CLIP_GET
# reads it out: CLIP_HDR, then nsamples 4-bit IMA ADPCM codes, two a byte, low nibble first.
# Header: event seq, input sample index (since boot, mod 2**30) of the clip's first block,
# the event's onset (same counter), clip rate (half the node's), nsamples, the ADPCM
# predictor and step index the first code is decoded from, CLIP_VERSION.  Clip sample k is
# centred on input sample first + 2k - 14 (the halfband filter's delay).  node/clip.py.
CLIP_HDR = "<IIIHIhBB"
CLIP_HDR_LEN = const(22)
CLIP_VERSION = const(1)
CLIP_MAX = const(480)       # bytes of clip per CLIP_GET answer (the 512-byte response buffer)

# ERROR codes
E_UNKNOWN = const(1)        # unknown message type
E_LENGTH = const(2)         # payload length wrong for the type
E_RANGE = const(3)          # a value out of range
E_CONFIG = const(4)         # config rejected (reason follows)
E_STATE = const(5)          # not allowed now (e.g. INJECT_DATA without INJECT_START)
E_OVERFLOW = const(6)       # host sent more than its credit / out-of-order offset
E_INTERNAL = const(7)       # exception in a handler (text follows)
E_NODSP = const(8)          # firmware built without the DSP

# INFO payload: INFO_FMT, then ncounters * <I (names: COUNTERS), then three
# length-prefixed (u8) utf-8 strings: firmware version, board, unique id (hex).
INFO_FMT = "<HIIIIBB"       # proto version, config hash, uptime ms, free heap, rate, caps, ncounters
INFO_LEN = const(20)
CAP_DSP = const(1)          # caps: the firmware has the DSP (FEATURES work)
CAP_DETECT = const(2)       # and the detector (EVENTs)
COUNTERS = (
    "rx_bytes",             # bytes read from the port
    "rx_frames",            # frames that passed COBS, length and CRC checks
    "rx_bad_cobs",          # undecodable frames (bad COBS code)
    "rx_bad_crc",           # CRC mismatch
    "rx_short",             # shorter than type + seq + crc
    "rx_oversize",          # longer than MAX_ENC before a delimiter
    "rx_unknown",           # valid frames of an unknown type
    "rx_bad_payload",       # valid frames with a bad length or out-of-range value
    "tx_frames",
    "tx_bytes",
    "audio_dropped",        # samples the node could not stream or process in time
    "inject_overrun",       # INJECT_DATA beyond credit or out of order
    "sessions",             # HELLOs that opened a session
    "session_timeouts",     # sessions ended by host silence
    "dsp_frames",           # frames through the DSP since boot
    "events",               # detector events since boot
    "evlog_errors",         # events the node could not write to its event log (flash full or failing)
    "clips",                # event audio clips written to flash
    "clip_errors",          # clips lost: flash full or failing, or more than 4 events waiting
    "mic_faults",           # microphone faults begun (events.MIC_FAULT records)
)
NCOUNTERS = const(20)
C_RX_BYTES = const(0)
C_RX_FRAMES = const(1)
C_RX_BAD_COBS = const(2)
C_RX_BAD_CRC = const(3)
C_RX_SHORT = const(4)
C_RX_OVERSIZE = const(5)
C_RX_UNKNOWN = const(6)
C_RX_BAD_PAYLOAD = const(7)
C_TX_FRAMES = const(8)
C_TX_BYTES = const(9)
C_AUDIO_DROPPED = const(10)
C_INJECT_OVERRUN = const(11)
C_SESSIONS = const(12)
C_SESSION_TIMEOUTS = const(13)
C_DSP_FRAMES = const(14)
C_EVENTS = const(15)
C_EVLOG_ERRORS = const(16)
C_CLIPS = const(17)
C_CLIP_ERRORS = const(18)
C_MIC_FAULTS = const(19)

def pack_info(cfg_hash, uptime_ms, free_heap, rate, caps, counters, fw, board, uid):
    out = bytearray(struct.pack(INFO_FMT, PROTO_VERSION, cfg_hash & 0xFFFFFFFF,
                                uptime_ms & 0xFFFFFFFF, free_heap, rate, caps, len(counters)))
    for c in counters:
        out += struct.pack("<I", c & 0xFFFFFFFF)
    for s in (fw, board, uid):
        b = s.encode()[:255]
        out.append(len(b))
        out += b
    return out


_TABLE = []


def crc32(data, crc=0):
    # CRC-32/ISO-HDLC, bit-identical to zlib.crc32 and binascii.crc32 (slow path:
    # config hash and tests).  On the node: the link's viper CRC over a copy, so that no
    # second 256-entry table (2 KB of heap on the unix port) is built
    if not crc:
        try:
            from node import cobs
            n = len(data)
            b = bytearray(n + 4)
            b[:n] = data
            cobs.crc_put(b, n, cobs.TABLE, cobs.MASK32)
            return b[n] | b[n + 1] << 8 | b[n + 2] << 16 | b[n + 3] << 24
        except ImportError:     # CPython
            pass
    if not _TABLE:          # built aside, then put in at once: a MemoryError halfway
        t = []              # must not leave a short table behind for every later call
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
            t.append(c)
        _TABLE.extend(t)
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def canonical_config(cfg):
    # the text the config hash is taken over: "key=value\n" in sorted key order
    out = []
    for k in sorted(cfg):
        out.append("%s=%s\n" % (k, cfg[k]))
    return "".join(out)


def config_hash(cfg):
    return crc32(canonical_config(cfg).encode())
