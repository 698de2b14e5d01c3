# SPDX-License-Identifier: MIT
# The detector's viper kernels (node/detect.py calls them once per frame / per decision):
#   floor()  per-band noise floor, deviation and activity of one frame;
#   bins()   each segment feature's bin among the classifier's split edges;
#   boost()  one class's score: the walk of its boosted trees over the bins.
# A module of their own: the unix port (virtual node, tests) compiles the firmware from source,
# and compiling one large module needs a large heap at once.
import micropython


@micropython.viper
def floor(out, fl, dv, prm, res, sgn: int):
    # out: features array('i'); fl, dv: array('i') per band (Q3 cdB); prm: array('i')
    # (the _P_* slots of node/detect.py, read here by number); res: array('i', 7) <- a,
    # a_lf, a_hf, n_hot, rms excess, rms floor, band with the largest excess (-1: none).
    # Values up to |band| << 3 < 2**18: far inside int32.
    o = ptr32(out)
    f = ptr32(fl)
    d = ptr32(dv)
    p = ptr32(prm)
    r = ptr32(res)
    nb = int(p[0])
    blf = int(p[1])
    bhf = int(p[2])
    rise = int(p[3])
    fsh = int(p[4])
    dsh = int(p[5])
    dcap = int(p[6])
    zcap = int(p[7])
    zhot = int(p[8])
    warm = int(p[9])
    first = int(p[10])
    bmin = int(p[12])
    bmin |= -(bmin & sgn)
    rmin = int(p[13])
    rmin |= -(rmin & sgn)
    upd = warm
    if int(p[11]) == 0:
        upd = 1
    if warm:
        dsh = 2
    top = bmin
    b = 0
    while b < nb:                       # the loudest band of the frame
        v = int(o[9 + b])
        v |= -(v & sgn)
        if v > top:
            top = v
        b += 1
    top = (top - int(p[14])) << 3
    a = 0
    alf = 0
    ahf = 0
    nhot = 0
    zmax = 0
    zb = -1
    b = 0
    while b < nb:
        v = int(o[9 + b])               # consts.F_BAND0
        v |= -(v & sgn)
        if v < bmin:
            v = bmin
        v <<= 3
        if first:
            f[b] = v
        fb = int(f[b])
        fb |= -(fb & sgn)
        db = int(d[b])
        z = ((v - fb) >> 3) - (db >> 2)
        if z > zmax:                    # the band standing out most (before the clamp)
            zmax = z
            zb = b
        if z < 0:
            z = 0
        elif z > zcap:
            z = zcap
        a += z
        if v >= top:                    # a band the sound reaches (not one lit over a silent floor)
            if b < blf:
                alf += z
            if b >= bhf:
                ahf += z
        if z >= zhot:
            nhot += 1
        e = v - fb
        if warm:
            fb += e >> 2
        elif e < 0:
            fb += e >> fsh
        elif e > rise:
            fb += rise
        else:
            fb = v
        f[b] = fb
        if upd:
            e = v - fb
            if e < 0:
                e = 0 - e
            if e > dcap:
                e = dcap
            d[b] = db + ((e - db) >> dsh)
        b += 1
    v = int(o[2])
    v |= -(v & sgn)
    if v < rmin:
        v = rmin
    v <<= 3
    fr = int(r[5])
    fr |= -(fr & sgn)
    if first:
        fr = v
    e = v - fr
    r[4] = e >> 3
    if warm:
        fr += e >> 2
    elif e < 0:
        fr += e >> fsh
    elif e > rise:
        fr += rise
    else:
        fr = v
    r[5] = fr
    r[0] = a
    r[1] = alf
    r[2] = ahf
    r[3] = nhot
    r[6] = zb


@micropython.viper
def bins(x, edges, off, xb, nf: int, sgn: int):
    # xb[f] = how many of feature f's edges (edges: int16 bytes, ascending; feature f's are
    # entries off[f] .. off[f + 1] - 1) are below x[f] (array('i')): the bin the trees split on
    xv = ptr32(x)
    e = ptr16(edges)
    o = ptr16(off)
    b = ptr8(xb)
    f = 0
    while f < nf:
        v = int(xv[f])
        v |= -(v & sgn)
        lo = int(o[f])
        hi = int(o[f + 1])
        base = lo
        while lo < hi:
            mid = (lo + hi) >> 1
            if ((int(e[mid]) ^ 0x8000) - 0x8000) < v:
                lo = mid + 1
            else:
                hi = mid
        b[f] = lo - base
        f += 1


@micropython.viper
def boost(nodes, n: int, c: int, depth: int, xb, sc) -> int:
    # nodes: bytes of n whole trees of depth `depth` (node/detect_table.py): per tree its
    # 2**depth - 1 inner nodes in heap order, 11 bits each (feature | split bin << 5) in a
    # little-endian bit stream padded to a byte, then its 2**depth leaves (int8, 2 score
    # units each); xb: the features' bins (bins()); sc: array('i', 4) += the leaves, tree by
    # tree to classes c, c+1, .. cycling 1..3.  Returns the next tree's class.
    nd = ptr8(nodes)
    xv = ptr8(xb)
    s = ptr32(sc)
    ni = (1 << depth) - 1
    nb = (ni * 11 + 7) >> 3                   # packed inner-node bytes
    base = 0
    k = 0
    while k < n:
        i = 0
        while i < ni:
            o = i * 11                        # the node's first bit
            p = base + (o >> 3)
            w = (int(nd[p]) | (int(nd[p + 1]) << 8) | (int(nd[p + 2]) << 16)) >> (o & 7)
            i = i + i + 1                     # (the third byte may be a leaf: masked off below)
            if int(xv[w & 31]) > ((w >> 5) & 63):
                i += 1
        s[c] = int(s[c]) + (((int(nd[base + nb + i - ni]) ^ 0x80) - 0x80) << 1)   # leaf i - ni
        c += 1
        if c > 3:
            c = 1
        base += nb + ni + 1
        k += 1
    return c
