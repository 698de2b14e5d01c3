# SPDX-License-Identifier: MIT
# Event log on flash: every event the detector raises from the microphone is kept,
# across reboots, until a host reads it (`sednode events`, EVLOG_GET) -- a pole node
# is mostly not connected to anyone.  Record layout: proto.EVLOG_REC (+ CRC-32, as in
# a frame); rules: docs/protocol.md, "Event log".  Node only (the host decodes with
# host_tools/events.py); kept small: it is compiled on the node, in what heap is left.
#
# Two files, evlog.0 and evlog.1, up to `per` records each, appended one at a time and
# closed (LittleFS commits on close: a power cut loses at most the record being
# written; a torn record fails its CRC, is skipped and counted as bad, and the next one
# starts on a whole slot).  When the file being written is full, the other -- the
# oldest records -- is emptied and written next: oldest first out, at least `per`
# records kept.  evlog.st: boot count, records evicted, next sequence number.
# evlog.tm: the node has no clock, so a host tells it the time (EVLOG_TIME) and the node
# keeps, for its last EVLOG_TIMES boots, when each began (proto.EVLOG_TIME_FMT); the host turns a
# record's onset since boot into a time with its boot's entry.
import os
import struct

from node import cobs, proto

_N = proto.EVLOG_REC_LEN


def _seq(r):
    # a slot's sequence number, or -1 when torn (short or CRC mismatch)
    if len(r) < _N or not cobs.crc_ok(r, _N, cobs.TABLE, cobs.MASK32):
        return -1
    return struct.unpack_from("<I", r, 0)[0]


class EventLog:
    def __init__(self, per=256):
        self.per = per
        self.rec = bytearray(_N)
        try:
            with open("evlog.st", "rb") as f:
                boots, self.evicted, seq = struct.unpack("<III", f.read(12))
        except (OSError, ValueError):       # none yet, or torn: count again from here
            boots, self.evicted, seq = 0, 0, 1
        self.boot = (boots + 1) & 0xFFFF
        self.bad = 0
        self.valid = [0, 0]
        top = [0, 0]
        for i in (0, 1):
            for r in self._slots(i, 0):
                s = _seq(r)
                if s < 0:
                    self.bad += 1
                else:
                    self.valid[i] += 1
                    top[i] = max(top[i], s)
        self.cur = 1 if top[1] > top[0] else 0          # the file written last
        try:
            size = os.stat("evlog.%d" % self.cur)[6]
        except OSError:
            size = 0
        self.fill = (size + _N - 1) // _N                # slots used, a torn one too
        self.pad = self.fill * _N - size                 # zeros that square a torn tail
        self.seq = max(seq, top[0] + 1, top[1] + 1)
        self._save()
        self.times = bytearray(proto.EVLOG_TIMES * 8)
        try:
            with open("evlog.tm", "rb") as f:
                f.readinto(self.times)
        except OSError:
            pass

    def _save(self):
        with open("evlog.tmp", "wb") as f:
            f.write(struct.pack("<III", self.boot, self.evicted, self.seq))
        os.rename("evlog.tmp", "evlog.st")

    def _slots(self, i, k):
        # the slots of file i from slot k on
        try:
            f = open("evlog.%d" % i, "rb")
        except OSError:
            return
        with f:
            f.seek(k * _N)
            while True:
                r = f.read(_N)
                if not r:
                    return
                yield r

    def _first(self, i):
        for r in self._slots(i, 0):
            s = _seq(r)
            if s >= 0:
                return s
        return 0

    def add(self, cls, conf, shots, update, onset, duration, peak, cal, rate, uptime_s):
        # append one event; returns its sequence number
        if self.fill >= self.per:           # full: the other file's (oldest) records go
            self.cur ^= 1
            self.evicted += self.valid[self.cur]
            self.valid[self.cur] = self.fill = self.pad = 0
            try:
                os.remove("evlog.%d" % self.cur)
            except OSError:
                pass
        s = self.seq
        struct.pack_into(proto.EVLOG_REC, self.rec, 0, s, self.boot, uptime_s, cls, conf, shots, update,
                         onset & 0xFFFFFFFF, duration, peak, cal, rate)
        cobs.crc_put(self.rec, _N - 4, cobs.TABLE, cobs.MASK32)
        with open("evlog.%d" % self.cur, "ab") as f:
            if self.pad:
                f.write(bytes(self.pad))
                self.pad = 0
            f.write(self.rec)
        self.fill += 1
        self.valid[self.cur] += 1
        self.seq = s + 1
        self._save()
        return s

    def first(self):
        # sequence number of the oldest record kept (0: none)
        return self._first(self.cur ^ 1) or self._first(self.cur)

    def read(self, since, out, pos, most):
        # copy up to `most` good records with seq >= since, oldest first, into out at pos;
        # returns how many.  Seqs run on slot by slot in a file (a torn slot only pushes
        # later ones back), so each file is read from slot since - its first seq.
        n = 0
        for i in (self.cur ^ 1, self.cur):
            for r in self._slots(i, max(0, since - self._first(i))):
                if n >= most:
                    return n
                if _seq(r) >= since:
                    out[pos + _N * n:pos + _N * n + _N] = r
                    n += 1
        return n

    def set_time(self, sec, ms, up_ms):
        # the host's clock (unix s + ms) at uptime up_ms: keep when this boot began (entry
        # boot % EVLOG_TIMES), unless that is within 2 s of what is kept (no write per host)
        a = sec * 1000 + ms - up_ms
        o = 8 * (self.boot % proto.EVLOG_TIMES)
        b, s, m = struct.unpack_from(proto.EVLOG_TIME_FMT, self.times, o)
        if b == self.boot and abs(s * 1000 + m - a) <= 2000:
            return
        struct.pack_into(proto.EVLOG_TIME_FMT, self.times, o, self.boot, a // 1000, a % 1000)
        with open("evlog.tmp", "wb") as f:
            f.write(self.times)
        os.rename("evlog.tmp", "evlog.tm")

    def clear(self):
        # drop every record (neither evicted nor bad); the numbering goes on
        k = self.valid[0] + self.valid[1]
        for i in (0, 1):
            try:
                os.remove("evlog.%d" % i)
            except OSError:
                pass
        self.valid = [0, 0]
        self.fill = self.pad = self.bad = self.cur = 0
        self._save()
        return k
