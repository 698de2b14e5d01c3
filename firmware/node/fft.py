# SPDX-License-Identifier: MIT
# Fixed-point real FFT, viper kernels: an N/2-point complex radix-2 FFT plus the
# real-FFT split, with a per-frame block exponent.
#
# Word size: every intermediate fits int32 (dsp_reference.int_model checks each one
# on real data), because the ESP32's viper int is 32-bit while the host's is 64-bit.
# ptr16/ptr32 loads are zero-extended on some ports, so signed loads are extended by
# hand: 16-bit with (v ^ 0x8000) - 0x8000, 32-bit with v |= -(v & sgn), sgn = 1 << 31
# passed in from Python (on the ESP32 it truncates to 0x80000000, the sign bit).
#
# Precision: the windowed frame is normalised so its largest component is in
# [2**19, 2**20) (right or left shift: quiet frames keep their precision), and every
# stage halves its outputs, so data stay below 2**20 * 1.21**stages <= 2**22.8.
# A 22-bit value times a Q15 twiddle does not fit 32 bits, so products are split:
# b = bh * 2**8 + bl (bl in 0..255) and
#   (b.w + 2**14) >> 15 == (H >> 7) + ((((H & 127) << 8) + L + 2**14) >> 15)
# with H = bh.w (< 2**31) and L = bl.w (< 2**24): exact, no overflow.
import micropython

NORM_BITS = 20      # window output: OR of |values| < 2**NORM_BITS


def bitrev_pairs(m):
    # (i, j) pairs with i < j = bit-reverse(i) for an m-point FFT, as a flat array('H')
    from array import array
    bits = 0
    while (1 << bits) < m:
        bits += 1
    out = []
    for i in range(m):
        j, v = 0, i
        for _ in range(bits):
            j = (j << 1) | (v & 1)
            v >>= 1
        if i < j:
            out.append(i)
            out.append(j)
    return array("H", out)


@micropython.viper
def window(frame, win, buf, n: int, sgn: int) -> int:
    # buf[i] = x[i]*w[i] scaled by 2**-sh so that OR of |values| is in [2**19, 2**20).
    # frame: array('h') n samples; win: array('h') Q15 Hann (>= 0); buf: array('i') n.
    # Returns sh (-6..11, 0 for a silent frame): x*w/2**15 = buf * 2**(sh - 15).
    x = ptr16(frame)
    w = ptr16(win)
    z = ptr32(buf)
    acc = 0
    i = 0
    while i < n:
        v = ((int(x[i]) ^ 0x8000) - 0x8000) * int(w[i])   # |v| <= 2**30
        z[i] = v
        acc |= v ^ (v >> 31)
        i += 1
    if acc == 0:
        return 0
    bl = 0
    while (acc >> bl) != 0:
        bl += 1
    sh = bl - 20
    if sh > 0:
        r = 1 << (sh - 1)
        i = 0
        while i < n:
            v = int(z[i])
            v |= -(v & sgn)
            z[i] = (v + r) >> sh
            i += 1
    elif sh < 0:
        ls = 0 - sh
        i = 0
        while i < n:
            v = int(z[i])
            v |= -(v & sgn)
            z[i] = v << ls
            i += 1
    return sh


@micropython.viper
def bitrev(buf, pairs, npairs: int):
    # swap complex elements i <-> j for each pair; buf is interleaved re, im int32
    z = ptr32(buf)
    p = ptr16(pairs)
    k = 0
    while k < npairs:
        i = int(p[2 * k]) << 1
        j = int(p[2 * k + 1]) << 1
        t = z[i]
        z[i] = z[j]
        z[j] = t
        t = z[i + 1]
        z[i + 1] = z[j + 1]
        z[j + 1] = t
        k += 1


@micropython.viper
def cfft(buf, tw, m: int, sgn: int):
    # In-place radix-2 DIT complex FFT of m points (bit-reversed input), every stage
    # scaled by 1/2 (floor).  The first stage (twiddle 1) needs no multiply.
    # tw: array('h') interleaved cos, sin of W_N^k (N = 2m), k = 0..m, Q15, sin >= 0.
    z = ptr32(buf)
    t = ptr16(tw)
    a = 0
    while a < (m << 1):
        ar = int(z[a])
        ar |= -(ar & sgn)
        ai = int(z[a + 1])
        ai |= -(ai & sgn)
        br = int(z[a + 2])
        br |= -(br & sgn)
        bi = int(z[a + 3])
        bi |= -(bi & sgn)
        z[a] = (ar + br) >> 1
        z[a + 1] = (ai + bi) >> 1
        z[a + 2] = (ar - br) >> 1
        z[a + 3] = (ai - bi) >> 1
        a += 4
    size = 4
    step = m >> 1            # twiddle index step: W_size^j = W_N^(j * 2m / size)
    while size <= m:
        half = size >> 1
        j = 0
        while j < half:
            ti2 = (j * step) << 1
            wr = (int(t[ti2]) ^ 0x8000) - 0x8000
            wi = int(t[ti2 + 1])
            a = j << 1
            while a < (m << 1):
                b = a + size              # complex index a/2 + half, interleaved
                br = int(z[b])
                br |= -(br & sgn)
                bi = int(z[b + 1])
                bi |= -(bi & sgn)
                # (br + j bi) * (wr - j wi), exact through the hi/lo split
                hr = br >> 8
                lr = br & 255
                hi = bi >> 8
                li = bi & 255
                h = hr * wr + hi * wi
                xr = (h >> 7) + ((((h & 127) << 8) + lr * wr + li * wi + 16384) >> 15)
                h = hi * wr - hr * wi
                xi = (h >> 7) + ((((h & 127) << 8) + li * wr - lr * wi + 16384) >> 15)
                ar = int(z[a])
                ar |= -(ar & sgn)
                ai = int(z[a + 1])
                ai |= -(ai & sgn)
                z[a] = (ar + xr) >> 1
                z[a + 1] = (ai + xi) >> 1
                z[b] = (ar - xr) >> 1
                z[b + 1] = (ai - xi) >> 1
                a += size << 1
            j += 1
        size <<= 1
        step >>= 1


@micropython.viper
def split(buf, tw, spec, m: int, sgn: int) -> int:
    # Real-FFT split: X[k] = (Fe - j W_N^k Fo) / 2 for k = 0..m, with
    # Fe = Z[k] + conj(Z[m-k]), Fo = Z[k] - conj(Z[m-k]).  W Fo is split at 9 bits
    # (Fo may reach 2**23.8).  spec: array('i') 2*(m+1), interleaved re, im.
    # Returns the smallest shift ps with (OR of |X| components) >> ps < 2**15.
    z = ptr32(buf)
    t = ptr16(tw)
    x = ptr32(spec)
    acc = 0
    k = 0
    while k <= m:
        ka = k
        if ka == m:
            ka = 0
        kb = m - k
        if kb == m:
            kb = 0
        zr = int(z[ka << 1])
        zr |= -(zr & sgn)
        zi = int(z[(ka << 1) + 1])
        zi |= -(zi & sgn)
        cr = int(z[kb << 1])
        cr |= -(cr & sgn)
        ci = int(z[(kb << 1) + 1])
        ci = 0 - (ci | -(ci & sgn))                   # conj
        fr = zr - cr
        fi = zi - ci
        wr = (int(t[k << 1]) ^ 0x8000) - 0x8000
        wi = int(t[(k << 1) + 1])
        hr = fr >> 9
        lr = fr & 511
        hi = fi >> 9
        li = fi & 511
        h = hr * wr + hi * wi
        tr = (h >> 6) + ((((h & 63) << 9) + lr * wr + li * wi + 16384) >> 15)
        h = hi * wr - hr * wi
        ti = (h >> 6) + ((((h & 63) << 9) + li * wr - lr * wi + 16384) >> 15)
        v = (zr + cr + ti) >> 1
        x[k << 1] = v
        acc |= v ^ (v >> 31)
        v = (zi + ci - tr) >> 1
        x[(k << 1) + 1] = v
        acc |= v ^ (v >> 31)
        k += 1
    ps = 0
    while (acc >> ps) >= 32768:
        ps += 1
    return ps


@micropython.viper
def power(spec, pw, m: int, ps: int, sgn: int, st):
    # pw[k] = (Xr'^2 >> 1) + (Xi'^2 >> 1), X' = X >> ps (rounded), k = 0..m;
    # st[2] = OR of all pw (stored, not returned: a value >= 2**30 returned to
    # Python would allocate on the ESP32).
    x = ptr32(spec)
    p = ptr32(pw)
    r = (1 << ps) >> 1
    acc = 0
    k = 0
    while k <= m:
        a = int(x[k << 1])
        a = ((a | -(a & sgn)) + r) >> ps
        b = int(x[(k << 1) + 1])
        b = ((b | -(b & sgn)) + r) >> ps
        v = ((a * a) >> 1) + ((b * b) >> 1)
        p[k] = v
        acc |= v
        k += 1
    q = ptr32(st)
    q[2] = acc
