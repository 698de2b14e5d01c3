# SPDX-License-Identifier: MIT
# Event audio clips: the node keeps its recent audio in RAM and writes the part around
# each logged event onto its flash, for an operator to listen to (`sednode events
# --clips DIR`, CLIP_GET).  Reference model: dsp_reference/clip_model.py (bit-exact);
# file layout: proto.CLIP_HDR; rules: docs/protocol.md, "Event clips".
#
#   clips = Clips(cfg); per mic hop: clips.push(hop, index), then the detector, then
#   clips.after(app) (writes what is due);
#   clips.want(seq, onset) for each new event the log kept; clips.answer() for CLIP_GET.
#
# Audio: a halfband low-pass (cliptab.CLIP_HB) and every second sample, then 4-bit IMA
# ADPCM: a hop of `hop` samples becomes one block of hop/4 bytes, the ring holds the
# blocks of one clip (cliptab.geometry), with each block's input sample index and
# the coder's state before it (a clip decodes from its first block alone).
# A clip runs from clip_ms/2 before the event's onset to clip_ms/2 after it; an event
# decided later than that (a scream is decided at its end) gets the last clip_ms before
# its decision.  The ring stops taking sound (a gap: blocks carry their index, and a clip
# never spans one) only while a clip is due and another still being written.  A clip is
# written CLIP_CHUNK bytes per hop into clip.tmp, then renamed to clip.<seq % CLIP_KEEP>
# (atomic: a power cut leaves the old clip or the new one).
# push() allocates nothing (the viper kernel node/clip_kern.py, over preallocated arrays).
import os
import struct
from array import array

from micropython import const

from node import cliptab, proto
from node.clip_kern import enc

_HIST = const(30)       # input samples of history the 31-tap filter needs (clip_kern.enc)
_QUEUE = const(4)       # events whose clips wait to be written
_MASK = const(0x3FFFFFFF)  # sample indices are kept mod 2**30 (see _after)


def _after(a, b):
    # sample index a minus b, both taken mod 2**30 (the ESP32's small ints are 31-bit
    # signed: a counter kept to 30 bits never needs a heap-allocated long int)
    return ((a - b + 0x20000000) & _MASK) - 0x20000000


class Clips:
    def __init__(self, cfg):
        hop = cfg["hop"]
        self.hop = hop
        self.rate = cfg["rate"] >> 1
        self.bs, self.bb, self.nb, self.pre, self.post = cliptab.geometry(cfg["rate"], hop, cfg["clip_ms"])
        # the ring in 1 KB pieces: a running node's heap seldom has 8 KB in one block
        self.per = max(1, 1024 // self.bb)              # blocks a piece
        self.ring = [bytearray(self.per * self.bb) for _ in range((self.nb + self.per - 1) // self.per)]
        self.bidx = array("i", bytes(4 * self.nb))    # each block's first input sample (mod 2**30)
        self.bst = array("i", bytes(4 * self.nb))     # the coder's state before it: pred << 8 | index
        self.w = array("H", [32768] * (_HIST + hop))   # silence before the first hop
        self.st = array("h", (0, 0))
        self.hb = array("h", cliptab.CLIP_HB)
        self.steps = array("H", cliptab.IMA_STEP)
        self.wp = 0             # the slot the next block goes to
        self.count = 0          # blocks in the ring (up to nb)
        self.queue = []         # (seq, onset) of events whose clips are due
        self.f = None           # clip.tmp while a clip is written
        self.saved = 0
        self.errors = 0

    def _end(self):
        # input index just past the newest block
        return self.bidx[(self.wp - 1) % self.nb] + self.hop

    def _due(self, onset):
        # the ring holds the sound up to self.post past the onset
        return self.count and _after(self._end(), onset) >= self.post

    def frozen(self):
        # the ring takes no sound while a clip is due and waits for the one being written
        # (a clip being written is not overwritten: it is written from its oldest block on,
        # CLIP_CHUNK bytes a hop, at least two blocks, while the ring moves on by one)
        return self.queue and self._due(self.queue[0][1])

    def push(self, hop, index):
        if self.frozen():
            return
        s = self.wp
        self.bidx[s] = index & _MASK
        self.bst[s] = (self.st[0] << 8) | self.st[1]
        enc(hop, self.hop, self.w, self.hb, self.ring[s // self.per], (s % self.per) * self.bb, self.st, self.steps)
        self.wp = 0 if s + 1 == self.nb else s + 1
        if self.count < self.nb:
            self.count += 1

    def after(self, app):
        # after a mic hop went through the detector: write what is due, update the counters
        self.step()
        app.c[proto.C_CLIPS] = self.saved
        app.c[proto.C_CLIP_ERRORS] = self.errors

    def want(self, seq, onset):
        # an event the log kept as seq: its clip is written once the audio after it is in
        if len(self.queue) < _QUEUE:
            self.queue.append((seq, onset & _MASK))
            return True
        self.errors += 1
        return False

    def pending(self, seq):
        return (self.f is not None and self.f_seq == seq) or any(q[0] == seq for q in self.queue)

    def _run(self, onset):
        # the slots of the clip around onset: contiguous blocks from the one holding
        # onset - pre to the one holding onset + post.  An event decided late (a scream at its
        # end) finds the ring past onset - pre: its clip is then the latest whole clip's
        # worth before the decision.  Returns (first slot, blocks)
        newest = last = (self.wp - 1) % self.nb
        while _after(self.bidx[last], onset) >= self.post:
            p = self._back(last)
            if p < 0:
                break
            last = p
        first, k = last, 1
        while _after(onset, self.bidx[first]) < self.pre:
            p = self._back(first)
            if p < 0:
                break
            first = p
            k += 1
        while k < self.nb and last != newest:
            n = 0 if last + 1 == self.nb else last + 1
            if self.bidx[n] != (self.bidx[last] + self.hop) & _MASK:
                break
            last = n
            k += 1
        return first, k

    def _back(self, s):
        # the slot before s if it holds the block just before s's, else -1
        if (self.wp - 1 - s) % self.nb + 1 >= self.count:
            return -1
        p = (s - 1) % self.nb
        if (self.bidx[p] + self.hop) & _MASK != self.bidx[s]:
            return -1
        return p

    def step(self):
        # per hop: start the next due clip, or write the next chunk of the one under way
        if self.f is None:
            if not self.queue or not self._due(self.queue[0][1]):
                return
            seq, onset = self.queue.pop(0)
            try:
                self._begin(seq, onset)
            except OSError:
                self._fail()
                return
        try:                            # the first chunk before the next hop can overwrite it
            bb = self.bb
            left = cliptab.CLIP_CHUNK // bb
            while left and self.f_left:
                s = self.f_slot
                o = s % self.per                # as far as the piece, the ring or the clip go
                k = min(left, self.f_left, self.nb - s, self.per - o)
                self.f.write(memoryview(self.ring[s // self.per])[o * bb:(o + k) * bb])
                self.f_slot = 0 if s + k == self.nb else s + k
                self.f_left -= k
                left -= k
            if not self.f_left:
                self.f.close()
                self.f = None
                os.rename("clip.tmp", "clip.%d" % (self.f_seq % cliptab.CLIP_KEEP))
                self.saved += 1
        except OSError:
            self._fail()

    def _begin(self, seq, onset):
        first, k = self._run(onset)
        st = self.bst[first]
        hdr = struct.pack(proto.CLIP_HDR, seq, self.bidx[first], onset & _MASK, self.rate,
                          k * self.bs, st >> 8, st & 0xFF, proto.CLIP_VERSION)
        self.f = open("clip.tmp", "wb")
        self.f_seq, self.f_slot, self.f_left = seq, first, k
        self.f.write(hdr)

    def _fail(self, lost=1):
        # flash full or failing: this clip is lost (counted), the ring goes on
        self.errors += lost
        if self.f is not None:
            try:
                self.f.close()
            except OSError:
                pass
            self.f = None
        try:
            os.remove("clip.tmp")
        except OSError:
            pass

    def close(self):
        # a new config replaces this ring: a clip under way is given up (not a failure)
        if self.f is not None:
            self._fail(0)

    def answer(self, app, seq, buf, n):
        # CLIP_GET: <IH event seq, offset -> <H file size, then up to CLIP_MAX bytes of it
        if not app.need(seq, proto.CLIP_GET, n, 6):
            return
        ev, off = struct.unpack_from("<IH", buf, 2)
        if self.pending(ev):
            app.bad(seq, proto.E_STATE, proto.CLIP_GET, "the clip of event %d is not written yet" % ev)
            return
        t = app.link.tx
        try:
            with open("clip.%d" % (ev % cliptab.CLIP_KEEP), "rb") as f:
                head = f.read(4)
                if len(head) < 4 or struct.unpack("<I", head)[0] != ev:
                    raise OSError(2)
                size = f.seek(0, 2)
                f.seek(off)
                k = f.readinto(memoryview(t)[4:4 + proto.CLIP_MAX]) if off < size else 0
        except OSError:
            app.bad(seq, proto.E_RANGE, proto.CLIP_GET, "no clip of event %d on this node (it keeps the last %d)"
                    % (ev, cliptab.CLIP_KEEP))
            return
        struct.pack_into("<H", t, 2, size)
        app.link.reply(proto.CLIP_GET | proto.RESPONSE, seq, None, 2 + (k or 0))
