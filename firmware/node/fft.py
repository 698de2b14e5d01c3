# SPDX-License-Identifier: MIT
# Fixed-point real FFT, viper kernels: an N/2-point complex radix-2 FFT plus the
# real-FFT split, with a per-frame block exponent.
#
# Word size: every intermediate fits int32 (dsp_reference.int_model checks each one
# on real data), because the ESP32's viper int is 32-bit while the host's is 64-bit.
# ptr16/ptr32 loads are zero-extended on some ports, so signed loads are extended by
# hand: 16-bit with (v ^ 0x8000) - 0x8000, 32-bit with (v ^ sgn) - sgn, sgn = 1 << 31
# passed in from Python (on the ESP32 it truncates to 0x80000000, the sign bit, and
# the expression is the identity; on a 64-bit port it extends bit 31).
#
# Precision: the windowed frame is normalised so its largest component is in
# [2**19, 2**20) (right or left shift: quiet frames keep their precision); a radix-2
# stage halves its outputs (component growth <= 1.21), a radix-4 stage quarters them
# (growth <= 1.31), so data stay below 2**20 * 1.21 * 1.31**4 < 2**21.9.
# A 22-bit value times a Q15 twiddle does not fit 32 bits, so products are split:
# b = bh * 2**8 + bl (bl in 0..255), H = bh.w (< 2**29.5), L = bl.w (< 2**24), and
# b.w / 2**(15+s) is taken as (H + (L >> 8) + r) >> (7+s), well inside int32.
import micropython
from micropython import const

_NORM_BITS = const(20)   # window output: OR of |values| < 2**_NORM_BITS (int_model.NORM_BITS)


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
def window(frame, win, buf, n: int, sgn: int, lin, nb: int, st) -> int:
    # buf[i] = x[i]*w[i] scaled by 2**-sh so that OR of |values| is in [2**19, 2**20).
    # frame: array('h') n samples; win: array('h') Q15 Hann (>= 0); buf: array('i') n.
    # Returns sh (-5..11, 0 for a silent frame): x*w/2**15 = buf * 2**(sh - 15).
    # The same pass measures the levels: lin[nb] = max|x|, lin[nb+1] = S >> rs with
    # S = sum(x*x) kept exactly in two words (hi * 2**30 + lo), st[5] = rs.
    x = ptr16(frame)
    w = ptr16(win)
    z = ptr32(buf)
    o = ptr32(lin)
    q = ptr32(st)
    acc = 0
    pk = 0
    lo = 0
    hi = 0
    i = 0
    while i < n:
        s = (int(x[i]) ^ 0x8000) - 0x8000
        v = s * int(w[i])                                 # |v| <= 2**30
        z[i] = v
        acc |= v ^ (v >> 31)
        lo += s * s
        hi += lo >> 30
        lo &= 0x3FFFFFFF
        if s < 0:
            s = 0 - s
        if s > pk:
            pk = s
        i += 1
    o[nb] = pk
    rs = 0
    if hi == 0:
        o[nb + 1] = lo
    else:
        while (hi >> rs) != 0:
            rs += 1
        rs -= 1                                           # bitlen(S) - 31
        o[nb + 1] = (hi << (30 - rs)) + (lo >> rs)
    q[5] = rs
    if acc == 0:
        return 0
    bl = 0
    while (acc >> bl) != 0:
        bl += 1
    sh = bl - _NORM_BITS
    if sh > 0:
        r = 1 << (sh - 1)
        i = 0
        while i < n:
            z[i] = (((int(z[i]) ^ sgn) - sgn) + r) >> sh
            i += 1
    elif sh < 0:
        ls = 0 - sh
        i = 0
        while i < n:
            z[i] = ((int(z[i]) ^ sgn) - sgn) << ls
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
    # In-place complex FFT of m points (bit-reversed input), scaled by 1/m.
    # Pass 1: stages 1+2 as one multiply-free radix-4 pass (twiddles 1, -j).
    # If log2(m) is odd, one radix-2 stage (halving) brings the block length to 8.
    # Then radix-4 stages: four blocks of length q at offsets 0, q, 2q, 3q become one
    # of length 4q: with w = W_4q^j, a0 = A0/4, a1 = w^2 A1/4, a2 = w A2/4, a3 = w^3 A3/4,
    #   Y0 = (a0+a1)+(a2+a3), Y2 = (a0+a1)-(a2+a3), Y1 = (a0-a1)-j(a2-a3), Y3 = (a0-a1)+j(a2-a3)
    # Products through the hi/lo split: (A w)/4 = (H + (L >> 8) + 256) >> 9.
    # tw: array('h') interleaved cos, sin of W_N^k (N = 2m), k = 0..3m/2, Q15.
    z = ptr32(buf)
    t = ptr16(tw)
    m2 = m << 1
    a = 0
    while a < m2:
        x0r = (int(z[a]) ^ sgn) - sgn
        x0i = (int(z[a + 1]) ^ sgn) - sgn
        x1r = (int(z[a + 2]) ^ sgn) - sgn
        x1i = (int(z[a + 3]) ^ sgn) - sgn
        x2r = (int(z[a + 4]) ^ sgn) - sgn
        x2i = (int(z[a + 5]) ^ sgn) - sgn
        x3r = (int(z[a + 6]) ^ sgn) - sgn
        x3i = (int(z[a + 7]) ^ sgn) - sgn
        sr = x0r + x1r
        si = x0i + x1i
        dr = x0r - x1r
        di = x0i - x1i
        ur = x2r + x3r
        ui = x2i + x3i
        vr = x2r - x3r
        vi = x2i - x3i
        z[a] = (sr + ur) >> 2
        z[a + 1] = (si + ui) >> 2
        z[a + 4] = (sr - ur) >> 2
        z[a + 5] = (si - ui) >> 2
        z[a + 2] = (dr + vi) >> 2
        z[a + 3] = (di - vr) >> 2
        z[a + 6] = (dr - vi) >> 2
        z[a + 7] = (di + vr) >> 2
        a += 8
    q = 4
    lg = 0
    while (1 << lg) < m:
        lg += 1
    if lg & 1:                       # one radix-2 stage, q = 4 -> 8
        j = 0
        while j < 4:
            ti2 = (j * (m >> 2)) << 1
            wr = (int(t[ti2]) ^ 0x8000) - 0x8000
            wi = (int(t[ti2 + 1]) ^ 0x8000) - 0x8000
            a = j << 1
            while a < m2:
                b = a + 8
                br = int(z[b])
                bi = int(z[b + 1])
                lr = br & 255
                li = bi & 255
                br = ((br ^ sgn) - sgn) >> 8
                bi = ((bi ^ sgn) - sgn) >> 8
                xr = (br * wr + bi * wi + ((lr * wr + li * wi) >> 8) + 128) >> 8
                xi = (bi * wr - br * wi + ((li * wr - lr * wi) >> 8) + 128) >> 8
                ar = ((int(z[a]) ^ sgn) - sgn) >> 1
                ai = ((int(z[a + 1]) ^ sgn) - sgn) >> 1
                z[a] = ar + xr
                z[a + 1] = ai + xi
                z[b] = ar - xr
                z[b + 1] = ai - xi
                a += 16
            j += 1
        q = 8
    while q < m:
        step = m // (q << 1)         # w = W_4q^j = W_N^(j * step), N = 2m
        q2 = q << 1                  # interleaved offsets of the blocks
        blk = q << 3                 # interleaved length of one group of four blocks
        j = 0
        while j < q:
            k = (j * step) << 1
            w1r = (int(t[k]) ^ 0x8000) - 0x8000
            w1i = (int(t[k + 1]) ^ 0x8000) - 0x8000
            w2r = (int(t[k << 1]) ^ 0x8000) - 0x8000
            w2i = (int(t[(k << 1) + 1]) ^ 0x8000) - 0x8000
            w3r = (int(t[k * 3]) ^ 0x8000) - 0x8000
            w3i = (int(t[k * 3 + 1]) ^ 0x8000) - 0x8000
            a = j << 1
            while a < m2:
                b = a + q2
                c = b + q2
                d = c + q2
                a0r = ((int(z[a]) ^ sgn) - sgn) >> 2
                a0i = ((int(z[a + 1]) ^ sgn) - sgn) >> 2
                xr = int(z[b])
                xi = int(z[b + 1])
                lr = xr & 255
                li = xi & 255
                xr = ((xr ^ sgn) - sgn) >> 8
                xi = ((xi ^ sgn) - sgn) >> 8
                a1r = (xr * w2r + xi * w2i + ((lr * w2r + li * w2i) >> 8) + 256) >> 9
                a1i = (xi * w2r - xr * w2i + ((li * w2r - lr * w2i) >> 8) + 256) >> 9
                xr = int(z[c])
                xi = int(z[c + 1])
                lr = xr & 255
                li = xi & 255
                xr = ((xr ^ sgn) - sgn) >> 8
                xi = ((xi ^ sgn) - sgn) >> 8
                a2r = (xr * w1r + xi * w1i + ((lr * w1r + li * w1i) >> 8) + 256) >> 9
                a2i = (xi * w1r - xr * w1i + ((li * w1r - lr * w1i) >> 8) + 256) >> 9
                xr = int(z[d])
                xi = int(z[d + 1])
                lr = xr & 255
                li = xi & 255
                xr = ((xr ^ sgn) - sgn) >> 8
                xi = ((xi ^ sgn) - sgn) >> 8
                a3r = (xr * w3r + xi * w3i + ((lr * w3r + li * w3i) >> 8) + 256) >> 9
                a3i = (xi * w3r - xr * w3i + ((li * w3r - lr * w3i) >> 8) + 256) >> 9
                sr = a0r + a1r
                si = a0i + a1i
                dr = a0r - a1r
                di = a0i - a1i
                ur = a2r + a3r
                ui = a2i + a3i
                vr = a2r - a3r
                vi = a2i - a3i
                z[a] = sr + ur
                z[a + 1] = si + ui
                z[c] = sr - ur
                z[c + 1] = si - ui
                z[b] = dr + vi
                z[b + 1] = di - vr
                z[d] = dr - vi
                z[d + 1] = di + vr
                a += blk
            j += 1
        q <<= 2


@micropython.viper
def split(buf, tw, spec, m: int, sgn: int) -> int:
    # Real-FFT split, bins k and m-k together.  With A = Z[k], B = Z[m-k],
    # Fe = A + conj(B), Fo = A - conj(B), t = (W_N^k Fo) / 2 (split at 9 bits):
    #   X[k] = (Fe_r/2 + t_i, Fe_i/2 - t_r),  X[m-k] = (Fe_r/2 - t_i, -(Fe_i/2) - t_r)
    # X[0] = Zr + Zi, X[m] = Zr - Zi (of Z[0]), X[m/2] = conj(Z[m/2]).
    # spec: array('i') 2*(m+1), interleaved.  Returns the smallest shift ps with
    # (OR of |X| components) >> ps < 2**15.
    z = ptr32(buf)
    t = ptr16(tw)
    x = ptr32(spec)
    zr = (int(z[0]) ^ sgn) - sgn
    zi = (int(z[1]) ^ sgn) - sgn
    v = zr + zi
    x[0] = v
    x[1] = 0
    acc = v ^ (v >> 31)
    v = zr - zi
    x[m << 1] = v
    x[(m << 1) + 1] = 0
    acc |= v ^ (v >> 31)
    h = m                          # interleaved index of bin m/2
    v = (int(z[h]) ^ sgn) - sgn
    x[h] = v
    acc |= v ^ (v >> 31)
    v = sgn - (int(z[h + 1]) ^ sgn)
    x[h + 1] = v
    acc |= v ^ (v >> 31)
    k = 2                          # interleaved index of bin 1
    kb = (m << 1) - 2              # interleaved index of bin m-1
    while k < h:
        ar = (int(z[k]) ^ sgn) - sgn
        ai = (int(z[k + 1]) ^ sgn) - sgn
        br = (int(z[kb]) ^ sgn) - sgn
        bi = (int(z[kb + 1]) ^ sgn) - sgn
        er = (ar + br) >> 1
        ei = (ai - bi) >> 1
        fr = ar - br
        fi = ai + bi
        wr = (int(t[k]) ^ 0x8000) - 0x8000
        wi = (int(t[k + 1]) ^ 0x8000) - 0x8000
        hr = fr >> 9
        lr = fr & 511
        hi = fi >> 9
        li = fi & 511
        tr = (hr * wr + hi * wi + ((lr * wr + li * wi) >> 9) + 64) >> 7
        ti = (hi * wr - hr * wi + ((li * wr - lr * wi) >> 9) + 64) >> 7
        v = er + ti
        x[k] = v
        acc |= v ^ (v >> 31)
        v = ei - tr
        x[k + 1] = v
        acc |= v ^ (v >> 31)
        v = er - ti
        x[kb] = v
        acc |= v ^ (v >> 31)
        v = 0 - ei - tr
        x[kb + 1] = v
        acc |= v ^ (v >> 31)
        k += 2
        kb -= 2
    ps = 0
    while (acc >> ps) >= 32768:
        ps += 1
    return ps


@micropython.viper
def power_shape(spec, m: int, ps: int, sgn: int, khf: int, tlo: int, thi: int, st, lin, nb: int, pw, kp: int):
    # Bin powers P = (Xr'^2 >> 1) + (Xi'^2 >> 1), X' = X >> ps (rounded; |X'| <= 2**15),
    # reduced to Q = P >> 10 (<= 2**20, 17-20 significant bits since the largest
    # |X'| component is >= 2**14; k*Q <= 2**29 with m <= 512), for bins 1..m:
    #   st[10], st[11] = sum(k*Q) exactly in two words (hi * 2**30 + lo),
    #   st[12] = sum(Q), st[13] = sum(Q, k >= khf)      -> centroid, high-band share
    #   lin[nb+2] = max(Q), lin[nb+3] = sum(Q) over tlo..thi  -> tonality
    #   pw[k] = Q for k = 1..kp                                -> pitch (node.dsp.pitch)
    x = ptr32(spec)
    pq = ptr32(pw)
    q = ptr32(st)
    o = ptr32(lin)
    r = (1 << ps) >> 1
    lo = 0
    hi = 0
    den = 0
    top = 0
    tmax = 0
    tsum = 0
    k = 1
    while k <= m:
        a = (((int(x[k << 1]) ^ sgn) - sgn) + r) >> ps
        b = (((int(x[(k << 1) + 1]) ^ sgn) - sgn) + r) >> ps
        v = (((a * a) >> 1) + ((b * b) >> 1)) >> 10
        lo += k * v
        hi += lo >> 30
        lo &= 0x3FFFFFFF
        den += v
        if k <= kp:
            pq[k] = v
        if k >= khf:
            top += v
        if k >= tlo:
            if k <= thi:
                tsum += v
                if v > tmax:
                    tmax = v
        k += 1
    q[10] = hi
    q[11] = lo
    q[12] = den
    q[13] = top
    o[nb + 2] = tmax
    o[nb + 3] = tsum
