# SPDX-License-Identifier: MIT
# Frame DSP: sliding frame -> windowed real FFT -> power -> 24 log bands, levels,
# flux, centroid, high-band share, tonality, pitch and harmonicity.  Integer only;
# every buffer is made in __init__, process() allocates nothing.  Feature layout and
# units: node/consts.py.
import micropython
from array import array
from micropython import const

from node import consts, fft, tables

_FLOOR = const(-15000)          # consts.FLOOR_CDB
_CDB_MUL = const(19266)         # consts.CDB_MUL
# st[] slots shared by the kernels
# (fft.window writes slot 5, fft.power_shape slots 10..13: keep the numbers in step)
_ST_PS = const(1)               # spectrum shift before squaring (power for shape())
_ST_RSH = const(5)              # rms sum shift (peak and sum go to lin[nb], lin[nb+1])
_ST_WSH = const(6)              # window normalisation shift
_ST_FIRST = const(7)            # 1 until the first frame's bands are known (flux = 0)
_ST_CEN = const(8)              # centroid, Hz
_ST_HF = const(9)               # high-band share, 1/1024
_ST_KQ_HI = const(10)           # sum(k*Q), high word (x 2**30)
_ST_KQ_LO = const(11)           # sum(k*Q), low word
_ST_QSUM = const(12)            # sum(Q)
_ST_QTOP = const(13)            # sum(Q) at or above HF_SPLIT_HZ
_ST_PHZ = const(14)             # pitch, Hz
_ST_HARM = const(15)            # harmonicity, Q10 log2 per harmonic


@micropython.viper
def shift_in(frame, n: int, hop: int, src):
    # slide the frame left by hop samples and append hop new samples from src ('h')
    f = ptr16(frame)
    s = ptr16(src)
    i = 0
    k = n - hop
    while i < k:
        f[i] = f[i + hop]
        i += 1
    j = 0
    while j < hop:
        f[k + j] = s[j]
        j += 1


@micropython.viper
def band_power(spec, edges, bshift, nb: int, lin, bexp, sgn: int):
    # Band powers straight from the spectrum, each band with its own exponent so a
    # weak band keeps its precision next to a loud one:  X' = X >> pb (rounded) with
    # pb chosen per band so |X'| <= 2**15, lin[b] = sum(((Xr'^2>>1) + (Xi'^2>>1)) >> s_b)
    # over bins edges[b]..edges[b+1]-1 (s_b = bshift[b]), bexp[b] = s_b + 1 + 2*pb.
    x = ptr32(spec)
    e = ptr16(edges)
    sh = ptr16(bshift)
    o = ptr32(lin)
    be = ptr32(bexp)
    b = 0
    while b < nb:
        k0 = int(e[b]) << 1
        k1 = int(e[b + 1]) << 1
        acc = 0
        k = k0
        while k < k1:
            v = (int(x[k]) ^ sgn) - sgn
            acc |= v ^ (v >> 31)
            k += 1
        pb = 0
        while (acc >> pb) >= 32768:
            pb += 1
        r = (1 << pb) >> 1
        s = int(sh[b])
        tot = 0
        k = k0
        while k < k1:
            v = (((int(x[k]) ^ sgn) - sgn) + r) >> pb
            u = (((int(x[k + 1]) ^ sgn) - sgn) + r) >> pb
            tot += (((v * v) >> 1) + ((u * u) >> 1)) >> s
            k += 2
        o[b] = tot
        be[b] = s + 1 + 2 * pb
        b += 1


@micropython.viper
def shape(rate16: int, cshift: int, st):
    # Spectral centroid (Hz) and high-band share (1/1024) from the sums of power_shape():
    # numerator and denominator are brought down together to a 16-bit denominator.
    q = ptr32(st)
    hi = int(q[_ST_KQ_HI])
    lo = int(q[_ST_KQ_LO])
    den = int(q[_ST_QSUM])
    cen = 0
    hf = 0
    if den > 0:
        ds = 0
        while (den >> ds) >= 65536:
            ds += 1
        d = den >> ds
        num = (hi << (30 - ds)) + (lo >> ds)
        qq = num // d
        rr = num - qq * d
        cq8 = (qq << 8) + ((rr << 8) // d)
        cen = (cq8 * rate16) >> cshift
        hf = ((int(q[_ST_QTOP]) >> ds) << 10) // d
    q[_ST_CEN] = cen
    q[_ST_HF] = hf


@micropython.viper
def log2_q10(src, dst, i0: int, i1: int, add: int, lt):
    # dst[i] = Q10 log2(src[i] + add) for i in i0..i1-1 (-1 where that is <= 0), by the
    # 256-entry mantissa table; src and dst may be the same array.  Values < 2**31.
    s = ptr32(src)
    d = ptr32(dst)
    tab = ptr16(lt)
    i = i0
    while i < i1:
        v = int(s[i]) + add
        if v <= 0:
            d[i] = -1
        else:
            b = 0
            if v >> 16:
                b = 16
            if v >> (b + 8):
                b += 8
            if v >> (b + 4):
                b += 4
            if v >> (b + 2):
                b += 2
            if v >> (b + 1):
                b += 1
            if b >= 8:
                idx = (v >> (b - 8)) & 255
            else:
                idx = (v << (8 - b)) & 255
            d[i] = (b << 10) + int(tab[idx])
        i += 1


@micropython.viper
def pitch(pw, clo: int, chi: int, nsh: int, rate: int, hsh: int, st):
    # Harmonic comb over L[k] = Q10 log2(Q[k] + 1) of the bin powers Q that power_shape()
    # left in pw (log2_q10 turns them into L in place; Q < 2**21, so L <= 21 * 1024): for
    # every f0 candidate c (half-bin units, clo..chi)
    #   D(c) = sum_{h=1..2**nsh} L[(h*c + 1) >> 1] - L[((2h - 1)*c + 2) >> 2]
    # (comb teeth minus the valleys half-way between them: a tilted spectrum cancels).
    # st[_ST_PHZ] <- (c* * rate) >> hsh Hz of the first best candidate,
    # st[_ST_HARM] <- max(D(c*), 0) >> nsh.  |D| <= 4 * 21504: far inside int32.
    p = ptr32(pw)
    q = ptr32(st)
    nh = 1 << nsh
    best = 0
    cb = 0
    c = clo
    while c <= chi:
        s = 0
        h = 1
        while h <= nh:
            s += int(p[(h * c + 1) >> 1]) - int(p[((2 * h - 1) * c + 2) >> 2])
            h += 1
        if cb == 0 or s > best:
            best = s
            cb = c
        c += 1
    if best < 0:
        best = 0
    q[_ST_PHZ] = (cb * rate) >> hsh
    q[_ST_HARM] = best >> nsh


@micropython.viper
def finish(lg, bexp, nb: int, lg2n: int, kq10: int, st, prev, out):
    # every output in cdB from lg[0..nb+4] = log2_q10 of lin (bands, peak, rms sum, tonal
    # max, tonal sum, tonal bin count).
    dst = ptr32(lg)
    q = ptr32(st)
    o = ptr32(out)
    pv = ptr32(prev)
    sgn = 1
    sgn <<= 31
    e = (int(q[_ST_WSH]) ^ sgn) - sgn
    e = e - 15 + lg2n - 1                                # block exponent of X (FFT scales by 2/n)
    o[0] = e
    first = int(q[_ST_FIRST])
    flux = 0
    be = ptr32(bexp)
    b = 0
    while b < nb:
        L = (int(dst[b]) ^ sgn) - sgn
        c = _FLOOR
        if L >= 0:
            L += ((int(be[b]) + 2 * e) << 10) + kq10
            c = (L * _CDB_MUL) >> 16
            if c < _FLOOR:
                c = _FLOOR
        if first == 0:
            old = (int(pv[b]) ^ sgn) - sgn
            if c > old:
                flux += c - old
        pv[b] = c
        o[9 + b] = c                                     # consts.F_BAND0
        b += 1
    q[_ST_FIRST] = 0
    o[3] = flux
    L = (int(dst[nb]) ^ sgn) - sgn                       # peak
    c = _FLOOR
    if L >= 0:
        c = ((2 * L - 30720) * _CDB_MUL) >> 16
    o[1] = c
    L = (int(dst[nb + 1]) ^ sgn) - sgn                   # rms
    c = _FLOOR
    if L >= 0:
        c = ((L + ((int(q[_ST_RSH]) - lg2n - 30) << 10)) * _CDB_MUL) >> 16
        if c < _FLOOR:
            c = _FLOOR
    o[2] = c
    o[4] = q[_ST_CEN]
    o[5] = q[_ST_HF]
    c = 0                                                # tonality
    L = (int(dst[nb + 3]) ^ sgn) - sgn
    if L >= 0:
        c = ((int(dst[nb + 2]) + int(dst[nb + 4]) - L) * _CDB_MUL) >> 16
    o[6] = c
    o[7] = q[_ST_PHZ]
    o[8] = (int(q[_ST_HARM]) * _CDB_MUL) >> 16


def _bitlen(v):
    n = 0
    while v >> n:
        n += 1
    return n


class DSP:
    # One instance per audio stream.  push_hop() takes hop new samples (array('h')
    # or memoryview) and returns 1 when out[] holds a new frame's features.
    def __init__(self, cfg):
        n = cfg["frame"]
        rate = cfg["rate"]
        self.n, self.hop, self.m = n, cfg["hop"], n >> 1
        self.lg2n = consts.log2_int(n)
        self.sgn = 1 << 31
        self.win, self.tw = self._tables(n)
        self.pairs = fft.bitrev_pairs(self.m)
        self.npairs = len(self.pairs) >> 1
        self.frame = array("h", bytes(2 * n))
        self.buf = array("i", bytes(4 * n))
        self.spec = array("i", bytes(4 * (n + 2)))
        edges = consts.band_edges(rate, n)
        self.nb = len(edges) - 1
        self.edges = array("H", edges)
        self.bshift = array("H", [_bitlen(edges[b + 1] - edges[b] - 1) for b in range(self.nb)])
        self.lin = array("i", bytes(4 * (self.nb + 5)))
        self.bexp = array("i", bytes(4 * self.nb))
        self.lg = array("i", bytes(4 * (self.nb + 5)))
        self.tlo, self.thi, self.lin[self.nb + 4] = consts.tonal_bins(rate, n)
        self.prev = array("i", bytes(4 * self.nb))
        self.out = array("i", bytes(4 * consts.NFEAT))
        self.st = array("i", bytes(4 * 16))
        self.kq10 = ((-26 - 2 * self.lg2n) << 10) - consts.LOG2_3_Q10
        self.khf = (consts.HF_SPLIT_HZ * n + rate - 1) // rate
        self.clo, self.chi, self.kp = consts.pitch_bins(rate, n)
        self.nsh = consts.log2_int(consts.PITCH_NH)
        self.rate = rate
        self.rate16 = rate >> 4
        self.cshift = 8 + self.lg2n - 4
        self.lt = tables.LOG2_Q10
        self.reset()

    @staticmethod
    def _tables(n):
        # Q15 Hann window and interleaved (cos, sin) twiddles W_N^k, k = 0..3n/4,
        # indexed out of the shipped quarter-wave table (no floats on the device).
        s = tables.SIN_Q15
        q = consts.NMAX >> 2
        step = consts.NMAX // n

        def sinq(j):        # j in 0 .. NMAX/2
            if j > q:
                j = 2 * q - j
            return s[2 * j] | (s[2 * j + 1] << 8)

        def cosq(j):        # j in 0 .. NMAX/2
            return sinq(q - j) if j <= q else -sinq(j - q)

        def sin_any(j):     # j in 0 .. 3*NMAX/4
            return sinq(j) if j <= 2 * q else -sinq(j - 2 * q)

        def cos_any(j):
            return cosq(j) if j <= 2 * q else -cosq(j - 2 * q)

        win = array("h", bytes(2 * n))
        for i in range(n):
            j = i * step
            if j > 2 * q:
                j = 4 * q - j
            win[i] = (32767 - cosq(j)) >> 1
        nt = 3 * n // 4 + 1
        tw = array("h", bytes(4 * nt))
        for k in range(nt):
            tw[2 * k] = cos_any(k * step)
            tw[2 * k + 1] = sin_any(k * step)
        return win, tw

    def reset(self):
        for i in range(self.n):
            self.frame[i] = 0
        self.filled = 0
        self.frames = 0
        self.st[_ST_FIRST] = 1

    def push_hop(self, samples):
        shift_in(self.frame, self.n, self.hop, samples)
        if self.filled < self.n:
            self.filled += self.hop
            if self.filled < self.n:
                return 0
        self.process()
        return 1

    # the stages, separately callable for the benchmark
    def stage_window(self):
        self.st[_ST_WSH] = fft.window(self.frame, self.win, self.buf, self.n, self.sgn, self.lin, self.nb,
                                      self.st)

    def stage_fft(self):
        fft.bitrev(self.buf, self.pairs, self.npairs)
        fft.cfft(self.buf, self.tw, self.m, self.sgn)
        self.st[_ST_PS] = fft.split(self.buf, self.tw, self.spec, self.m, self.sgn)

    def stage_power(self):
        # the FFT work buffer is free now: it carries the bin powers to pitch()
        fft.power_shape(self.spec, self.m, self.st[_ST_PS], self.sgn, self.khf, self.tlo, self.thi,
                        self.st, self.lin, self.nb, self.buf, self.kp)

    def stage_bands(self):
        band_power(self.spec, self.edges, self.bshift, self.nb, self.lin, self.bexp, self.sgn)

    def stage_features(self):
        shape(self.rate16, self.cshift, self.st)
        log2_q10(self.buf, self.buf, 1, self.kp + 1, 1, self.lt)
        pitch(self.buf, self.clo, self.chi, self.nsh, self.rate, self.lg2n + 1, self.st)
        log2_q10(self.lin, self.lg, 0, self.nb + 5, 0, self.lt)
        finish(self.lg, self.bexp, self.nb, self.lg2n, self.kq10, self.st, self.prev, self.out)

    def process(self):
        self.stage_window()
        self.stage_fft()
        self.stage_power()
        self.stage_bands()
        self.stage_features()
        self.frames += 1
