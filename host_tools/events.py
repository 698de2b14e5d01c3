# SPDX-License-Identifier: MIT
"""The node's event log (`sednode events`): read it over the link, decode and fold its
records, turn them into what an operator reads.  Record layout: node.proto.EVLOG_REC;
the node's side: firmware/node/evlog.py."""
import struct
import time
import zlib

from node import proto
from node.events import CLASS_NAMES, FAULTS, MIC_FAULT

from host_tools.errors import NodeToolError, EXIT_PROTOCOL

WRAP = 1 << 32          # the onset's sample counter is 32 bits (74.6 h at 16 kHz)
KEYS = ("seq", "boot", "uptime_s", "class_id", "confidence", "shots", "update", "onset", "duration",
        "peak_cdb", "cal_cdb", "rate")                 # proto.EVLOG_REC's fields
REC_LEN = proto.EVLOG_REC_LEN


def pack(seq, boot, uptime_s, cls, conf, shots, update, onset, duration, peak, cal, rate):
    """One record as the node writes it (for tests and tools)."""
    b = struct.pack(proto.EVLOG_REC, seq, boot, uptime_s, cls, conf, shots, update, onset & 0xFFFFFFFF,
                    duration, peak, cal, rate)
    return b + struct.pack("<I", zlib.crc32(b))


def seq_of(rec):
    """The record's sequence number, or -1 when it is short or its CRC does not match."""
    if len(rec) < REC_LEN or struct.unpack_from("<I", rec, REC_LEN - 4)[0] != zlib.crc32(bytes(rec[:REC_LEN - 4])):
        return -1
    return struct.unpack_from("<I", rec, 0)[0]


def unpack(rec):
    """Record bytes -> dict (KEYS)."""
    return dict(zip(KEYS, struct.unpack_from(proto.EVLOG_REC, rec, 0)))


def read_log(link, since=0):
    """Every record with seq >= since, oldest first, and the log's header.

    Returns:
        (head, records): head = dict(boot, evicted, first, next, bad); records = dicts (KEYS).
    """
    from host_tools.link import NodeError, update_hint
    recs = []
    while True:
        try:
            p = link.request(proto.EVLOG_GET, struct.pack("<IB", since, proto.EVLOG_MAX)).payload
        except NodeError as e:
            if e.err_code == proto.E_UNKNOWN:
                raise NodeToolError("%s: this node's firmware keeps no event log; %s" % (link.name, update_hint(link.name)),
                                    EXIT_PROTOCOL)
            raise NodeToolError("%s: node refused EVLOG_GET: %s" % (link.name, e.reason), EXIT_PROTOCOL)
        if len(p) < proto.EVLOG_HDR_LEN:
            raise NodeToolError("%s: EVLOG_GET answer of %d bytes, shorter than its header" % (link.name, len(p)),
                                EXIT_PROTOCOL)
        boot, evicted, first, nxt, bad, n = struct.unpack_from(proto.EVLOG_HDR, p, 0)
        if len(p) != proto.EVLOG_HDR_LEN + n * REC_LEN:
            raise NodeToolError("%s: EVLOG_GET answer says %d records but carries %d bytes"
                                % (link.name, n, len(p) - proto.EVLOG_HDR_LEN), EXIT_PROTOCOL)
        for k in range(n):
            r = p[proto.EVLOG_HDR_LEN + k * REC_LEN:proto.EVLOG_HDR_LEN + (k + 1) * REC_LEN]
            if seq_of(r) < 0:       # the node checks too; a record damaged on the wire is not used
                raise NodeToolError("%s: event record with a bad CRC in EVLOG_GET" % link.name, EXIT_PROTOCOL)
            recs.append(unpack(r))
        head = {"boot": boot, "evicted": evicted, "first": first, "next": nxt, "bad": bad}
        if n == 0 or recs[-1]["seq"] + 1 >= nxt:
            return head, recs
        since = recs[-1]["seq"] + 1


def clear_log(link, head, tries=3):
    """Drop the node's records, but only those the host has: the node refuses when events
    arrived after head was read (E_STATE); then the newer ones are read and returned too.

    Returns:
        (records dropped on the node, newer records read meanwhile).
    """
    from host_tools.link import NodeError
    newer = []
    for _ in range(tries):
        try:
            return struct.unpack("<I", link.request(proto.EVLOG_CLEAR, struct.pack("<I", head["next"])).payload)[0], newer
        except NodeError as e:
            if e.err_code != proto.E_STATE:  # E_STATE: events were logged after head was read
                raise NodeToolError("%s: node refused to clear its event log: %s" % (link.name, e.reason),
                                    EXIT_PROTOCOL)
        head, more = read_log(link, head["next"])
        newer += more
    raise NodeToolError("%s: events keep arriving; the log was not cleared (nothing lost: run again)" % link.name,
                        EXIT_PROTOCOL)


def onset_s(r):
    """Seconds from the node's boot to the event's onset (the sample counter unwrapped
    with the uptime the node wrote beside it)."""
    rate = r["rate"] or 16000
    k = round((r["uptime_s"] * rate - r["onset"]) / WRAP)
    return (r["onset"] + max(k, 0) * WRAP) / rate


def fold(records):
    """One record per event: the last revision of each (boot, class, onset), in log order
    of first report; 'revisions' says how many records the event had, 'first_seq' which
    record first reported it (its clip is kept under that number)."""
    out, where = [], {}
    for r in records:
        key = (r["boot"], r["class_id"], r["onset"])
        if key in where:
            i = where[key]
            out[i] = dict(r, revisions=out[i]["revisions"] + 1, first_seq=out[i]["first_seq"])
        else:
            where[key] = len(out)
            out.append(dict(r, revisions=1, first_seq=r["seq"]))
    return out


CLIP_KEYS = ("seq", "first", "onset", "rate", "nsamples", "pred", "index", "version")   # proto.CLIP_HDR


def read_clip(link, seq):
    """The file of event seq's audio clip, as the node keeps it (CLIP_GET, chunk by chunk).

    Raises NodeToolError when the node has none for that event: too old (it keeps the last
    cliptab.CLIP_KEEP), not written yet, clips off, or a firmware without clips."""
    from host_tools.link import NodeError
    data = bytearray()
    size = None
    while size is None or len(data) < size:
        try:
            p = link.request(proto.CLIP_GET, struct.pack("<IH", seq, len(data))).payload
        except NodeError as e:
            raise NodeToolError("%s: event %d: %s" % (link.name, seq, e.reason if e.err_code != proto.E_UNKNOWN else
                                                       "this node's firmware keeps no clips"), EXIT_PROTOCOL)
        if len(p) < 2:
            raise NodeToolError("%s: CLIP_GET answer of %d bytes" % (link.name, len(p)), EXIT_PROTOCOL)
        n = struct.unpack_from("<H", p, 0)[0]
        if size is not None and n != size:
            raise NodeToolError("%s: event %d's clip changed while it was read (%d then %d bytes)"
                                % (link.name, seq, size, n), EXIT_PROTOCOL)
        size = n
        if len(p) == 2 and len(data) < size:
            raise NodeToolError("%s: event %d's clip ends at %d of %d bytes" % (link.name, seq, len(data), size),
                                EXIT_PROTOCOL)
        data += p[2:]
    return bytes(data[:size])


def decode_clip(data):
    """A clip file -> (header dict (CLIP_KEYS), int16 samples at header["rate"]).

    Raises ValueError on a damaged file: short, another version, or a length that does not
    match its header."""
    from dsp_reference import clip_model
    if len(data) < proto.CLIP_HDR_LEN:
        raise ValueError("clip of %d bytes, shorter than its %d-byte header" % (len(data), proto.CLIP_HDR_LEN))
    h = dict(zip(CLIP_KEYS, struct.unpack_from(proto.CLIP_HDR, data, 0)))
    if h["version"] != proto.CLIP_VERSION:
        raise ValueError("clip version %d (this host reads %d)" % (h["version"], proto.CLIP_VERSION))
    want = proto.CLIP_HDR_LEN + (h["nsamples"] + 1) // 2
    if len(data) != want or not 0 <= h["index"] <= 88 or not h["rate"]:
        raise ValueError("clip damaged: %d bytes for %d samples (expected %d), step index %d"
                         % (len(data), h["nsamples"], want, h["index"]))
    pcm = clip_model.decode(data[proto.CLIP_HDR_LEN:], h["nsamples"], h["pred"], h["index"])
    return h, pcm


def clip_onset_s(h):
    """Where the event's onset lies in the clip, seconds from its start."""
    from dsp_reference.clip_model import DELAY
    return ((h["onset"] - h["first"] + DELAY) % (1 << 30)) / (2.0 * h["rate"])     # proto.CLIP_HDR: mod 2**30


def save_clips(link, rows, folder):
    """Read the clip of every event in rows (describe() dicts) into folder as
    <clip_seq>-<class>.wav (16-bit PCM at the clip's rate); each row gets 'clip' (the path) and 'clip_onset_s', or
    'clip' None and 'clip_error' (why: too old, not written yet, damaged)."""
    import os
    from host_tools import audio_io
    os.makedirs(folder, exist_ok=True)
    for d in rows:
        d["clip"] = None
        if d["clip_seq"] is None:
            d["clip_error"] = "a revision: the clip is its event's first record's"
            continue
        try:
            h, pcm = decode_clip(read_clip(link, d["clip_seq"]))
        except (NodeToolError, ValueError) as e:
            d["clip_error"] = str(e)
            continue
        path = os.path.join(folder, "%d-%s.wav" % (d["clip_seq"], d["class"]))
        audio_io.write_wav(path, pcm, h["rate"])
        d["clip"] = path
        d["clip_onset_s"] = round(clip_onset_s(h), 3)


def sync_time(link, now=None):
    """Tell the node the host's time (EVLOG_TIME; the node keeps when its current boot began)
    and return when each boot it remembers began: {boot: unix time, s}."""
    now = time.time() if now is None else now
    sec = int(now)
    f = link.request(proto.EVLOG_TIME, struct.pack("<IH", sec, int(round((now - sec) * 1000)) % 1000))
    n = struct.calcsize(proto.EVLOG_TIME_FMT)
    starts = {}
    for k in range(len(f.payload) // n):
        boot, s, ms = struct.unpack_from(proto.EVLOG_TIME_FMT, f.payload, k * n)
        if boot:
            starts[boot] = s + ms / 1000.0
    return starts


def iso(t):
    """Unix time -> ISO 8601 UTC with milliseconds."""
    ms = int(round((t - int(t)) * 1000))
    sec = int(t) + ms // 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + ".%03dZ" % (ms % 1000)


def describe(r, starts=None):
    """A record as the operator's dict: class name, times in seconds, levels in dB, and the
    event's time (UTC) when its boot's start is known (``starts``, from sync_time: the node
    has no clock, a host tells it the time)."""
    t = onset_s(r)
    cls = class_name(r["class_id"])
    d = {"seq": r["seq"], "boot": r["boot"], "class": cls, "onset_s": round(t, 3),
         "duration_s": round(r["duration"] / (r["rate"] or 16000), 3), "peak_dbfs": r["peak_cdb"] / 100,
         "peak_db_spl": (r["peak_cdb"] + r["cal_cdb"]) / 100 if r["cal_cdb"] else None,
         "confidence": r["confidence"], "time_utc": None}
    if cls == "gunshot":
        d["shots"] = r["shots"]
    elif r["class_id"] == MIC_FAULT:
        d["fault"] = FAULTS[r["shots"]] if r["shots"] < len(FAULTS) else "fault %d" % r["shots"]
    if "revisions" in r:
        d["revisions"] = r["revisions"]
        d["clip_seq"] = r["first_seq"]
    else:
        d["update"] = r["update"]
        d["clip_seq"] = None if r["update"] else r["seq"]
    if starts and r["boot"] in starts:
        d["time_utc"] = iso(starts[r["boot"]] + t)
    return d


def class_name(cls):
    """A class id's name: the detector's classes, and mic_fault (node/events.py)."""
    if cls < len(CLASS_NAMES):
        return CLASS_NAMES[cls]
    return "mic_fault" if cls == MIC_FAULT else "class_%d" % cls


def line(d):
    """One line of text for describe()'s dict."""
    spl = "" if d["peak_db_spl"] is None else " (%.1f dB SPL)" % d["peak_db_spl"]
    when = d["time_utc"] or "boot %d" % d["boot"]
    shots = "  shots %d" % d["shots"] if "shots" in d else "  %s" % d["fault"] if "fault" in d else ""
    return "#%-5d %-24s  +%10.3f s  %-11s  %6.3f s  peak %6.1f dBFS%s  conf %3d%s" % (
        d["seq"], when, d["onset_s"], d["class"], d["duration_s"], d["peak_dbfs"], spl, d["confidence"], shots)
