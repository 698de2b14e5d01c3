# SPDX-License-Identifier: MIT
# Serial link, node side: COBS framing, CRC, counters, dispatch (docs/protocol.md).
#
# Receiving: bytes that have arrived are read in chunks and gathered up to the next
# 0x00 delimiter; a gathered frame is COBS-decoded in place, checked (length, CRC)
# and handed to `handler(type, seq, buf, n)` with the payload at buf[2:2+n].
# Anything wrong is counted and dropped; the link resyncs at the next delimiter.
# Sending: the caller owns a raw frame buffer laid out as type | seq | payload |
# 4 spare bytes, and calls send(buf, n) with the payload length.  Nothing here
# allocates after __init__.
from array import array

import time

from node import cobs, proto
from micropython import const

_HDR = const(2)
_MIN_FRAME = const(6)         # type + seq + crc
_CHUNK = const(512)
_TX = const(512)              # responses: INFO, config JSON, ERROR, LOG all fit


class Link:
    def __init__(self, port, handler):
        self.port = port
        self.handler = handler
        self.counters = array("I", bytes(4 * proto.NCOUNTERS))
        self.chunk = bytearray(_CHUNK)
        self.acc = bytearray(proto.MAX_ENC)
        self.alen = 0
        self.skip = False     # discarding an oversized frame until the delimiter
        self.tx = bytearray(_TX)                    # responses and small frames
        self.enc = bytearray(proto.MAX_ENC + 1)
        self.table = cobs.TABLE
        self.mask = cobs.MASK32
        self.last_rx = time.ticks_ms()              # last valid frame

    def poll(self):
        # read and dispatch what has arrived; returns the number of bytes read
        n = self.port.readinto(self.chunk, _CHUNK)
        if n:
            self.counters[proto.C_RX_BYTES] += n
            self.feed(self.chunk, n)
        return n

    def feed(self, buf, n):
        i = 0
        cap = proto.MAX_ENC
        while i < n:
            k = cobs.find0(buf, i, n)
            m = k - i
            if not self.skip:
                if self.alen + m > cap:
                    self.skip = True
                    self.counters[proto.C_RX_OVERSIZE] += 1
                else:
                    cobs.copy(self.acc, self.alen, buf, i, m)
                    self.alen += m
            if k < n:                 # delimiter: a frame ends here
                if not self.skip and self.alen:
                    self._frame(self.alen)
                self.skip = False
                self.alen = 0
                i = k + 1
            else:
                i = n

    def _frame(self, n):
        c = self.counters
        n = cobs.decode(self.acc, n)
        if n < 0:
            c[proto.C_RX_BAD_COBS] += 1
            return
        if n < _MIN_FRAME:
            c[proto.C_RX_SHORT] += 1
            return
        if not cobs.crc_ok(self.acc, n, self.table, self.mask):
            c[proto.C_RX_BAD_CRC] += 1
            return
        c[proto.C_RX_FRAMES] += 1
        self.last_rx = time.ticks_ms()
        self.handler(self.acc[0], self.acc[1], self.acc, n - _MIN_FRAME)

    def send(self, buf, n):
        # buf = type | seq | payload (n bytes) | 4 spare bytes for the CRC
        cobs.crc_put(buf, _HDR + n, self.table, self.mask)
        m = cobs.encode(buf, _HDR + n + 4, self.enc)
        self.port.write(self.enc, m)
        self.counters[proto.C_TX_FRAMES] += 1
        self.counters[proto.C_TX_BYTES] += m

    def reply(self, typ, seq, data=None, n=0):
        # send a small frame from self.tx, payload copied from data[0:n] (or
        # already written at self.tx[2:2+n] when data is None)
        t = self.tx
        t[0] = typ
        t[1] = seq
        if data is not None:
            if n > _TX - 6:
                n = _TX - 6
            cobs.copy(t, _HDR, data, 0, n)
        self.send(t, n)

    def error(self, seq, code, ref, text):
        # ERROR frame; allocates (text) -- never on the audio path
        b = text.encode()
        t = self.tx
        t[0] = proto.ERROR
        t[1] = seq
        t[2] = code
        t[3] = ref
        n = min(len(b), 200)
        cobs.copy(t, 4, b, 0, n)
        self.send(t, 2 + n)

    def log(self, text):
        b = text.encode()
        self.reply(proto.LOG, 0, b, min(len(b), 200))
