# SPDX-License-Identifier: MIT
# Audio sources.  Every source fills an array('h') hop with int16 samples at the
# node's rate:  n = await src.read(hop)  returns len(hop), or 0 when the source has
# ended.  `src.dropped` counts samples lost because the app was late.  The DSP never
# knows which source it is fed from.
#   I2S microphone   node/board/esp32.py (Mic)
#   WavSource        a 16-bit mono WAV on the virtual node, looped or once
#   PatternSource    sample[i] = bits 16..31 of (i * 22695477 + 1): the host can
#                    recompute every sample from its index, so a stream is
#                    checked for lost or repeated samples by content
#   SilenceSource
#   InjectRing       samples pushed by the host (INJECT_DATA), consumed by hops
import micropython
import time

try:
    import asyncio
except ImportError:  # CPython never imports this module
    asyncio = None

from node import cobs


@micropython.viper
def _pattern(buf, n: int, start: int):
    # buf: array('h') -- see PatternSource
    p = ptr16(buf)
    i = 0
    while i < n:
        x = (start + i) * 22695477 + 1
        p[i] = (x >> 16) & 0xFFFF
        i += 1


class Pacer:
    # Real-time pacing for sources that are not clocked by hardware.  `fast` (set by
    # the app while streaming) lets a non-real-time source run as fast as the link
    # takes the samples.  Falling behind by more than `slack_ms` in real-time mode
    # loses the backlog, as an I2S DMA overrun would, and counts it in `dropped`.
    def __init__(self, rate, realtime, slack_ms=250):
        self.rate = rate
        self.realtime = realtime
        self.fast = False
        self.slack = slack_ms
        self.dropped = 0
        self.restart()

    def restart(self):
        self.t0 = time.ticks_ms()
        self.done = 0             # samples produced since t0

    async def wait(self, n):
        # wait until n more samples are due; returns samples to skip (overrun)
        if self.fast and not self.realtime:
            self.restart()
            return 0
        due_ms = (self.done + n) * 1000 // self.rate
        late = time.ticks_diff(time.ticks_ms(), self.t0) - due_ms
        if late < 0:
            await asyncio.sleep_ms(-late)
        elif late > self.slack:
            if not self.realtime:     # idle pacing: just catch up
                self.restart()
                return 0
            skip = late * self.rate // 1000
            self.dropped += skip
            self.done += skip
            return skip
        self.done += n
        if self.done > 1 << 24:       # keep the products small
            self.t0 = time.ticks_add(self.t0, self.done * 1000 // self.rate)
            self.done = 0
        return 0


class SilenceSource:
    def __init__(self, rate, realtime=False):
        self.pacer = Pacer(rate, realtime)
        self.index = 0

    @property
    def dropped(self):
        return self.pacer.dropped

    async def read(self, hop):
        self.index += len(hop) + await self.pacer.wait(len(hop))
        for i in range(len(hop)):
            hop[i] = 0
        return len(hop)


class PatternSource(SilenceSource):
    async def read(self, hop):
        self.index += await self.pacer.wait(len(hop))
        _pattern(hop, len(hop), self.index)
        self.index += len(hop)
        return len(hop)


class WavSource(SilenceSource):
    # 16-bit PCM mono; the header's rate is not checked (the vnode converts files
    # to the node's rate before it starts the node)
    def __init__(self, path, rate, loop=True, realtime=False):
        super().__init__(rate, realtime)
        self.f = open(path, "rb")
        self.loop = loop
        self.start = self._find_data()
        self.end = False

    def _find_data(self):
        hdr = self.f.read(12)
        if hdr[:4] != b"RIFF" or hdr[8:12] != b"WAVE":
            raise ValueError("not a WAV file")
        while True:
            ch = self.f.read(8)
            if len(ch) < 8:
                raise ValueError("no data chunk")
            size = ch[4] | ch[5] << 8 | ch[6] << 16 | ch[7] << 24
            if ch[:4] == b"data":
                return self.f.tell()
            self.f.seek(size + (size & 1), 1)

    async def read(self, hop):
        skip = await self.pacer.wait(len(hop))
        if skip:
            self.f.seek(skip * 2, 1)          # past the end just reads short below
        self.index += skip
        want = 2 * len(hop)
        got = 0 if self.end else (self.f.readinto(hop) or 0)
        while got < want:
            if self.loop and not self.end:
                self.f.seek(self.start)
                mv = memoryview(hop)          # wraps once per file length only
                n = self.f.readinto(mv[got // 2:]) or 0
                if n == 0:
                    self.end = True
                got += n
            else:
                self.end = True
                for i in range(got // 2, len(hop)):
                    hop[i] = 0
                got = want
        self.index += len(hop)
        return len(hop)


class InjectRing:
    # Samples from INJECT_DATA frames; the host may only send what it has credit
    # for, so the ring never overflows unless the host breaks the rules.
    def __init__(self, size):
        self.buf = bytearray(2 * size)
        self.size = size
        self.reset()

    def reset(self):
        self.rd = 0               # sample positions, monotonic
        self.wr = 0

    def free(self):
        return self.size - (self.wr - self.rd)

    def avail(self):
        return self.wr - self.rd

    def put(self, src, off, n):
        # n samples from src (bytes) at byte offset off; caller checked free()
        p = (self.wr % self.size) * 2
        first = min(n * 2, len(self.buf) - p)
        cobs.copy(self.buf, p, src, off, first)
        if first < n * 2:
            cobs.copy(self.buf, 0, src, off + first, n * 2 - first)
        self.wr += n

    def get(self, hop):
        # fill hop (array('h')) from the ring; caller checked avail()
        n = len(hop) * 2
        p = (self.rd % self.size) * 2
        first = min(n, len(self.buf) - p)
        cobs.copy(hop, 0, self.buf, p, first)
        if first < n:
            cobs.copy(hop, first, self.buf, 0, n - first)
        self.rd += len(hop)
