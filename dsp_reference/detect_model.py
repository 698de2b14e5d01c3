# SPDX-License-Identifier: MIT
"""Integer reference model of the firmware event detector (firmware/node/detect.py).

Input: the per-frame DSP features ((F, NFEAT) ints from ``int_model.features``).  Output:
event tuples laid out as in ``node.events`` (class, onset frame, duration, peak cdB,
confidence, shots, update flag, emit frame).  The arithmetic is the firmware's, written
independently in plain Python integers; every value the device keeps in a 32-bit word
passes through ``Ranges.chk`` so a test can prove it fits int32.

Stages (docs/detector.md has the reasoning):
  1. per-band noise floor (Q3 cdB): fast fall, slow constant rise (a low percentile), and a
     per-band mean absolute deviation (Q3) learned outside events;
  2. activity A = sum over bands of clamp(band - floor - 2*dev, 0, ZCAP), with its low- and
     high-frequency parts (over the bands within share_rel of the frame's loudest only) and
     the count of "hot" bands; broadband level above the rms floor;
  3. segmentation: start at A >= A_ON, end after HANG frames of A < A_OFF or at MAXLEN
     (a much stronger onset past the first SPLIT_AGE frames -- A twice the segment's peak, or
     an rms split_rise above its loudest frame -- starts a new segment, and so does
     a swell past SWELL_AGE frames: a short average of A swell_q2/4 times the segment's mean);
     impulses = rms rises >= IMP_JUMP over one or two frames while >= IMP_MIN above the
     rms floor;
  4. decision: gradient-boosted trees over 32 integer segment features (table shipped in
     node/detect_table.py; integer softmax confidence 0..100), GAP frames after the first and the last impulse (early,
     gunshot only), every MID frames of the segment (interim, any class) and at the
     segment end; per-class confidence thresholds (conf_*; conf_early for the early
     gunshot, conf_short for a shot whose segment ends before its early decision,
     conf_mid_<class> for an interim decision, but conf_first_<class> at the first interim
     decision (a shot's last one within its 0.3 s latency budget, and where a siren's start
     passes for a scream); conf_switch for a segment right after another class's event);
     refractory merging of same-class events into updates.
"""
import hashlib

import numpy as np

from dsp_reference import int_model
from node import consts, events
from node import detect_table as T

NSEGF = 32               # segment feature count (FEATURE_NAMES)
FEATURE_NAMES = ("dur", "amax", "amean", "rexmax", "jump", "attack", "sustain", "decay", "tonal_mean",
                 "tonal_frac", "hf_mean", "cen_mean", "lf_share", "hf_share", "nimp", "rough", "crest",
                 "nhot", "final", "cen_var", "jmax", "hf_peak", "ctx", "zb_mean", "zb_var", "zb_peak",
                 "voiced", "pitch_mean", "pitch_var", "harm_mean", "pitch_peak", "pitch_mono")


CTX_SH = 7               # context: decay of the recent-segment activity (1/128 per frame, ~2 s)
CTX_INC = 1024           # added per segment start
MID = -1                 # _decide(only=MID): an interim decision (any class, conf_mid_<class>)


class Ranges(int_model.Ranges):
    """int_model.Ranges with a fast chk() for the plain ints of the per-frame state machine."""

    def chk(self, name, v):
        lo, hi = self.seen.get(name, (v, v))
        self.seen[name] = (min(lo, v), max(hi, v))
        return v


def frames_for_ms(ms, cfg):
    """Frame count of a duration at this geometry (at least 1)."""
    return max(1, (ms * cfg["rate"] + cfg["hop"] * 500) // (cfg["hop"] * 1000))


def params(cfg):
    """Detector constants for a DSP geometry (the firmware derives the same numbers)."""
    P = T.PARAMS
    rate, n, hop = cfg["rate"], cfg["frame"], cfg["hop"]
    edges = consts.band_edges(rate, n)
    nb = len(edges) - 1
    b_lf = sum(1 for b in range(nb) if edges[b + 1] * rate <= P["lf_hz"] * n)
    b_hf = nb - sum(1 for b in range(nb) if edges[b] * rate >= P["hf_hz"] * n)
    out = {"nb": nb, "b_lf": b_lf, "b_hf": b_hf,
           "rise": max(1, P["rise_cdb_s"] * 8 * hop // rate),
           "rise_seg": max(1, P["rise_seg_cdb_s"] * 8 * hop // rate)}
    for k in ("warm", "min_start", "hang", "maxlen", "back", "gap", "imp_sep", "refr", "split_age", "mid", "swell_age"):
        out[k] = frames_for_ms(P[k + "_ms"], cfg)
    for k in ("fall_sh", "dev_sh", "end_sh", "band_min", "rms_min", "dev_init", "dev_cap", "zcap", "zhot", "a_on", "a_off", "split_a", "imp_jump", "imp_rel",
              "imp_min", "sus_db", "decay_db", "tonal_hi", "voiced_cdb", "swell_sh", "swell_q2", "swell_min", "split_rise", "share_rel", "mono_hz"):
        out[k] = P[k]
    out["conf"] = [101, P["conf_gunshot"], P["conf_scream"], P["conf_glass"]]
    out["conf_early"] = P["conf_early"]
    out["conf_mid"] = [101, P["conf_mid_gunshot"], P["conf_mid_scream"], P["conf_mid_glass"]]
    out["conf_short"] = P["conf_short"]
    out["conf_first"] = [101, P["conf_first_gunshot"], P["conf_first_scream"], P["conf_first_glass"]]
    out["conf_switch"] = P["conf_switch"]
    out["quiet_rex"] = P["quiet_rex"]
    out["conf_quiet"] = [0, P["conf_quiet_gunshot"], P["conf_quiet_scream"], P["conf_quiet_glass"]]
    return out


EXP2_Q15 = tuple(int(round(32768 * 2.0 ** (-i / 32.0))) for i in range(32))   # 2^(-i/32), Q15
LOG2E_Q10 = 1477         # log2(e) in Q10
LEAF_Q = 256             # score units per logit
LEAF_STEP = 2            # score units per step of a table leaf (int8: -127..127 steps, +-0.99 logit)


def exp_neg_q15(d):
    """32768 * e^(-d / LEAF_Q) for d >= 0, by a 32-entry table of 2^(-i/32) and a shift
    (the firmware's arithmetic; within 2.2 % of the exact value)."""
    if d >= 4096:                              # e^-16 and below: 0 in Q15 (and no overflow)
        return 0
    t = (d * LOG2E_Q10) >> 10                  # base-2 exponent, Q8
    n = t >> 8
    return 0 if n > 15 else EXP2_Q15[(t >> 3) & 31] >> n


def softmax_conf(scores):
    """(class, confidence 0..100) of per-class scores in LEAF_Q units, class 0 (none) at 0:
    the highest score wins (lowest id on a tie), confidence = 100 x its softmax share."""
    best = 0
    for c in range(1, events.NCLASSES):
        if scores[c] > scores[best]:
            best = c
    m = scores[best]
    tot = sum(exp_neg_q15(m - scores[c]) for c in range(events.NCLASSES))
    return best, 100 * 32768 // tot


def leaf_index(X, feat, thr, depth):
    """Heap index (2**depth - 1 ..) of the leaf each row of X reaches in one complete tree
    (feat, thr: numpy arrays of its inner nodes); the vectorised twin of Boost.scores' walk."""
    i = np.zeros(len(X), dtype=np.int64)
    rows = np.arange(len(X))
    for _ in range(depth):
        i = 2 * i + 1 + (X[rows, feat[i]] > thr[i])
    return i


NODE_BITS = 11           # a packed inner node: feature (FEAT_BITS) | split bin << FEAT_BITS
FEAT_BITS = 5            # features 0..31 (NSEGF 32); split bins 0..63 (64 bins)


def packed_bytes(depth):
    """Bytes of one packed tree: its inner nodes' NODE_BITS each, whole bytes, then the leaves."""
    ni = (1 << depth) - 1
    return ((NODE_BITS * ni + 7) >> 3) + ni + 1


def pack_tree(feat, bins, leaf):
    """One tree's bytes (the table's layout): inner node i as feat | bin << FEAT_BITS in bits
    NODE_BITS*i .. of a little-endian bit stream, padded to a byte, then the int8 leaves."""
    if min(feat) < 0 or max(feat) >= 1 << FEAT_BITS or min(bins) < 0 or max(bins) >= 1 << (NODE_BITS - FEAT_BITS):
        raise ValueError("boosted-tree node outside its %d bits (feature < %d, bin < %d)"
                         % (NODE_BITS, 1 << FEAT_BITS, 1 << (NODE_BITS - FEAT_BITS)))
    if min(leaf) < -128 or max(leaf) > 127:
        raise ValueError("boosted-tree leaf outside int8")
    acc = 0
    for i, (f, b) in enumerate(zip(feat, bins)):
        acc |= (int(f) | int(b) << FEAT_BITS) << (NODE_BITS * i)
    nb = (NODE_BITS * len(feat) + 7) >> 3
    return acc.to_bytes(nb, "little") + bytes(int(v) & 0xFF for v in leaf)


def tree_words(blobs, ntrees, depth):
    """(feat, bins, leaves) int64 arrays, one row per tree, of a table's NODES in the packed
    layout (packed_bytes per tree) or the byte layout of the ninth to eleventh versions
    (3 * 2**depth - 2 bytes: a byte per feature and per split bin); leaves as stored (0..255)."""
    ni = (1 << depth) - 1
    w = np.concatenate([np.frombuffer(b, dtype=np.uint8) for b in blobs]) if blobs else np.zeros(0, np.uint8)
    if len(w) == ntrees * packed_bytes(depth):
        t = w.reshape(ntrees, packed_bytes(depth))
        nb = packed_bytes(depth) - ni - 1
        bits = np.unpackbits(t[:, :nb], axis=1, bitorder="little")[:, :NODE_BITS * ni].reshape(ntrees, ni, NODE_BITS)
        v = (bits.astype(np.int64) << np.arange(NODE_BITS)).sum(2)
        return v & ((1 << FEAT_BITS) - 1), v >> FEAT_BITS, t[:, nb:].astype(np.int64)
    if len(w) == ntrees * (3 * ni + 1):
        t = w.reshape(ntrees, 3 * ni + 1).astype(np.int64)
        return t[:, :ni], t[:, ni:2 * ni], t[:, 2 * ni:]
    raise ValueError("boosted-tree table: %d bytes for %d trees of depth %d" % (len(w), ntrees, depth))


class Boost:
    """Gradient-boosted trees as the table ships them: NTREES complete binary trees of
    depth DEPTH, tree k adding its leaf to the score of class 1 + k % 3 (class 0, none,
    scores 0).  A tree is packed_bytes(DEPTH) bytes (37 at depth 4): its 2**DEPTH - 1 inner
    nodes in heap order (children of node i: 2i+1 left, 2i+2 right), NODE_BITS each (the
    feature and its split bin: go left when bin(x[feature]) <= split bin), then its 2**DEPTH
    leaves (int8, LEAF_STEP score units each).  bin(v) is the number of the feature's edges
    below v; EDGES holds every feature's edges (int16, ascending), EDGE_N their counts.
    Going left at bin(v) <= b is going left at v <= edges[b], so the walk below compares
    values with the edge a split names.  NODES holds the trees in several bytes objects of
    whole trees.  Also read (tree_words): the byte layout of the ninth to eleventh versions
    (46 B per tree) and, without edges, the layout up to the eighth version (int16 features,
    thresholds and leaves of LEAF_Q per logit, 92 B per depth-4 tree), for --collect-table."""

    def __init__(self, blobs, ntrees, depth, edges=None, edge_n=None):
        self.blobs = tuple(blobs)
        self.ni = (1 << depth) - 1
        self.ntrees, self.depth = ntrees, depth
        if edges is None:
            w = np.concatenate([np.frombuffer(b, dtype="<i2") for b in self.blobs]).astype(np.int64)
            if len(w) != ntrees * (3 * self.ni + 1):
                raise ValueError("boosted-tree table: %d values for %d trees of depth %d" % (len(w), ntrees, depth))
            t = w.reshape(ntrees, 3 * self.ni + 1)
            self.feat, self.thr, self.leaf = t[:, :self.ni], t[:, self.ni:2 * self.ni], t[:, 2 * self.ni:]
            self.edges = None
        else:
            self.feat, self.thr, self.leaf = tree_words(self.blobs, ntrees, depth)
            self.edges = bytes(edges)
            self.edge_n = bytes(edge_n)
            e = np.frombuffer(self.edges, dtype="<i2").astype(np.int64)
            n = np.frombuffer(self.edge_n, dtype=np.uint8).astype(np.int64)
            if n.sum() != len(e) or (self.feat >= len(n)).any():
                raise ValueError("boosted-tree table: %d edges for %d counted, %d edge counts for features up to %d"
                                 % (len(e), n.sum(), len(n), self.feat.max()))
            off = np.concatenate([[0], np.cumsum(n)])
            # the split's edge value; a split bin past the feature's edges always goes left
            # (bin(v) <= EDGE_N[f]): an infinite threshold
            self.thr = np.where(self.thr < n[self.feat], e[np.minimum(off[self.feat] + self.thr, max(len(e) - 1, 0))],
                                1 << 40)
            self.leaf = ((self.leaf ^ 0x80) - 0x80) * LEAF_STEP
        self._rows = [(1 + k % 3, f, th, lf) for k, (f, th, lf) in
                      enumerate(zip(self.feat.tolist(), self.thr.tolist(), self.leaf.tolist()))]
        self._memo = {}          # feature vector -> (class, confidence): threshold searches re-ask

    def scores(self, x):
        """Per-class scores (LEAF_Q units) of one feature vector."""
        sc = [0] * events.NCLASSES
        ni = self.ni
        for c, f, th, lf in self._rows:
            i = 0
            while i < ni:
                i = 2 * i + (2 if x[f[i]] > th[i] else 1)
            sc[c] += lf[i - ni]
        return sc

    def scores_batch(self, X):
        """(N, NCLASSES) scores of many feature vectors (numpy; the trainer's)."""
        X = np.asarray(X)
        out = np.zeros((len(X), events.NCLASSES), dtype=np.int64)
        for k in range(self.ntrees):
            out[:, 1 + k % 3] += self.leaf[k, leaf_index(X, self.feat[k], self.thr[k], self.depth) - self.ni]
        return out

    def prime(self, X):
        """Classify many feature vectors at once into predict()'s memo."""
        for x, sc in zip(X.tolist(), self.scores_batch(X).tolist()):
            self._memo[tuple(x)] = softmax_conf(sc)

    def predict(self, x):
        key = tuple(x)
        got = self._memo.get(key)
        if got is None:
            if len(self._memo) > 200000:
                self._memo.clear()
            got = self._memo[key] = softmax_conf(self.scores(x))
        return got


def table_id(t):
    """Fingerprint of a classifier (a table module or namespace with NODES and EDGES, or a
    Boost): ties training-time results to a table.  The trees are hashed in the byte layout
    (tree_words), so the same trees packed (twelfth version on) keep their id."""
    if isinstance(t, Boost):
        nodes, edges, edge_n, n, depth = t.blobs, t.edges, getattr(t, "edge_n", None), t.ntrees, t.depth
    else:
        nodes, edges, edge_n = t.NODES, getattr(t, "EDGES", None), getattr(t, "EDGE_N", None)
        n, depth = t.NTREES, t.DEPTH
    if edges is not None:
        data = np.concatenate(tree_words(nodes, n, depth), axis=1).astype(np.uint8).tobytes()
        data += bytes(edges) + bytes(edge_n)
    else:
        data = b"".join(nodes)
    return hashlib.sha256(data).hexdigest()[:16]


def feature_edges(t):
    """Per feature, its split edges (int64 arrays) from a table's EDGES and EDGE_N."""
    e = np.frombuffer(bytes(t.EDGES), dtype="<i2").astype(np.int64)
    off = np.concatenate([[0], np.cumsum(list(t.EDGE_N))]).astype(np.int64)
    return [e[off[f]:off[f + 1]] for f in range(len(off) - 1)]


def boost_of(t):
    """The Boost of a table module or namespace (NODES, NTREES, DEPTH, EDGES, EDGE_N)."""
    return Boost(t.NODES, t.NTREES, t.DEPTH, getattr(t, "EDGES", None), getattr(t, "EDGE_N", None))


_SHIPPED = None


def classify(x, model=None):
    """(class_id, confidence 0..100) of one segment feature vector by a Boost (default: the
    shipped table node/detect_table.py)."""
    global _SHIPPED
    if model is None:
        if _SHIPPED is None:
            _SHIPPED = boost_of(T)
        model = _SHIPPED
    return model.predict(x)


class DetectorModel:
    """Frame-by-frame integer detector.  ``update(frame_features)`` -> event tuple or None.

    With ``collect`` set, every decision point's feature vector is appended to
    ``self.samples`` as (t0, t, final, features) for training (decisions still happen).
    With ``decisions`` a list, every decision is noted there as a dict (frame, segment start,
    final, only, the answer's class and confidence, the threshold it faced, that threshold
    without the quiet rule, reported) -- why an event came when it did, or did not come
    (evaluate.late_shots, evaluate.missed_events).
    """

    def __init__(self, cfg, ranges=None, collect=False, model=None, decisions=None):
        self.cfg = cfg
        self.p = params(cfg)
        self.ranges = ranges
        self.collect = collect
        self.samples = []
        self.decisions = decisions
        self.model = model
        self.reset()

    def reset(self):
        nb = self.p["nb"]
        self.t = 0
        self.fl = [0] * nb
        self.dv = [self.p["dev_init"]] * nb
        self.flr = 0
        self.prev_rms = consts.FLOOR_CDB
        self.prev2_rms = consts.FLOOR_CDB
        self.prev_cen = 0
        self.act = 0
        self.ef = 0
        self.in_seg = False
        self.t_cut = -1000                                    # frame a segment was cut at maxlen
        self.cut_on = 0                                       # and where the sound rising then began
        self.ev_valid = [False] * events.NCLASSES
        self.ev_onset = [0] * events.NCLASSES
        self.ev_end = [0] * events.NCLASSES
        self.ev_shots = [0] * events.NCLASSES
        self.ev_peak = [0] * events.NCLASSES
        self.ev_conf = [0] * events.NCLASSES

    # ---------------------------------------------------------------- stage 1+2
    def _bands(self, f):
        p = self.p
        chk = self.ranges.chk if self.ranges else (lambda n, v: v)
        warm = self.t < p["warm"]
        first = self.t == 0
        rise = p["rise_seg"] if self.in_seg else p["rise"]
        a = alf = ahf = nhot = zmax = 0
        zb = -1
        top = max([p["band_min"]] + [f[consts.F_BAND0 + b] for b in range(p["nb"])])
        top = (top - p["share_rel"]) << 3                    # the low/high activity counts bands
        for b in range(p["nb"]):                             # within share_rel of the loudest
            v = f[consts.F_BAND0 + b]
            if v < p["band_min"]:                            # microphone self-noise, not -150 dB
                v = p["band_min"]
            v = chk("band_q3", v << 3)
            if first:
                self.fl[b] = v
            fl = self.fl[b]
            z = chk("z", ((v - fl) >> 3) - (self.dv[b] >> 2))
            if z > zmax:                                     # the band standing out most
                zmax = z                                     # (before the clamp: a loud event
                zb = b                                       # saturates many bands)
            if z < 0:
                z = 0
            elif z > p["zcap"]:
                z = p["zcap"]
            a += z
            if v >= top:
                if b < p["b_lf"]:
                    alf += z
                if b >= p["b_hf"]:
                    ahf += z
            if z >= p["zhot"]:
                nhot += 1
            d = chk("v-fl", v - fl)
            if warm:
                fl += d >> 2
            elif d < 0:
                fl += d >> p["fall_sh"]
            elif d > rise:
                fl += rise
            else:
                fl = v
            self.fl[b] = fl
            if warm or not self.in_seg:
                e = v - fl
                if e < 0:
                    e = -e
                if e > p["dev_cap"]:
                    e = p["dev_cap"]
                self.dv[b] += chk("dev_step", (e - self.dv[b]) >> (2 if warm else p["dev_sh"]))
        rms8 = f[consts.F_RMS]
        if rms8 < p["rms_min"]:
            rms8 = p["rms_min"]
        rms8 = chk("rms_q3", rms8 << 3)
        if first:
            self.flr = rms8
        d = rms8 - self.flr
        rex = d >> 3
        if warm:
            self.flr += d >> 2
        elif d < 0:
            self.flr += d >> p["fall_sh"]
        elif d > rise:
            self.flr += rise
        else:
            self.flr = rms8
        self.zb = zb
        return a, alf, ahf, nhot, rex

    # ---------------------------------------------------------------- stage 3+4
    def update(self, f):
        """Consume one frame's features (sequence of NFEAT ints); return an event tuple or None."""
        p = self.p
        a, alf, ahf, nhot, rex = self._bands(f)
        rms = f[consts.F_RMS]
        t = self.t
        ev = None
        self.ef += (a - self.ef) >> p["swell_sh"]            # activity, a short average
        if self.in_seg:
            i = t - self.t0
            if self.ranges:
                self.ranges.chk("4*ef*n", 4 * self.ef * i)
                self.ranges.chk("q2*sum_a", p["swell_q2"] * self.sum_a)
            if (i >= p["split_age"] and (a >= p["split_a"] and a >= self.amax << 1 or rms >= self.rmax + p["split_rise"]) or
                    i >= p["swell_age"] and self.ef >= p["swell_min"] and 4 * self.ef * i >= p["swell_q2"] * self.sum_a):
                ev = self._close(t)  # a much stronger onset (not in a segment's first frames: its own
                #                      onset), or a swell far above the segment's mean: new segment
        if not self.in_seg:
            if a >= p["a_on"] and t >= p["min_start"]:
                self._start(t)
        if self.in_seg:
            e2 = self._frame(t, f, a, alf, ahf, nhot, rex)
            if e2 is not None:
                ev = e2
        self.prev2_rms = self.prev_rms
        self.prev_rms = rms
        self.prev_cen = f[consts.F_CENTROID]
        self.act -= self.act >> CTX_SH                        # recent segment starts (context)
        self.t = t + 1
        return ev

    def _start(self, t):
        self.ctx = self.act
        self.act = (self.ranges.chk if self.ranges else (lambda n, v: v))("act", self.act + CTX_INC)
        self.in_seg = True
        self.t0 = t
        # a segment opening right where the last was cut at its maximum length reports its
        # onset where the sound rising at the cut began (the cut is no onset)
        self.t_on = self.cut_on if self.t_cut == t - 1 else t
        self.t_up = t
        self.t_last = t
        self.quiet = 0
        self.rms = []
        self.sum_a = self.sum_lf = self.sum_hf = 0
        self.amax = self.rexmax = self.nhot = 0
        self.jump = 0
        self.jmax = 0
        self.hfpk = 0
        self.t_rmax = t
        self.rmax = consts.FLOOR_CDB
        self.crest = 0
        self.tsum = self.ntonal = self.hfsum = self.csum = self.cvar = self.rough = 0
        self.zbsum = self.zbvar = self.nzb = self.zbpk = 0
        self.zbprev = -1
        self.nv = self.psum = self.pdsum = self.npd = self.hsum = self.ppk = 0
        self.pprev = -1
        self.pdir = self.nmono = self.nmd = 0
        self.nimp = 0
        self.t_imp = -1000
        self.t_imp0 = -1000
        self.t_mid = t + self.p["mid"] - 1
        self.ipk = consts.FLOOR_CDB
        self.peak = consts.FLOOR_CDB
        self.seg_cls = 0
        self.seg_base = 0

    def _frame(self, t, f, a, alf, ahf, nhot, rex):
        p = self.p
        chk = self.ranges.chk if self.ranges else (lambda n, v: v)
        rms = f[consts.F_RMS]
        dr = rms - self.prev_rms
        dr2 = rms - min(self.prev_rms, self.prev2_rms)       # over two frames: a shot in a long tail
        i = t - self.t0
        self.rms.append(rms)
        self.sum_a = chk("sum_a", self.sum_a + a)
        if chk("ef*n", self.ef * (i + 1)) <= self.sum_a:
            self.t_up = t + 1                                 # the short average at or below the mean
        self.sum_lf += alf
        self.sum_hf += ahf
        if a > self.amax:
            self.amax = a
        if rex > self.rexmax:
            self.rexmax = rex
        if nhot > self.nhot:
            self.nhot = nhot
        if i < 3 and dr > self.jump:
            self.jump = dr
        if i > 0 and dr > self.jmax:
            self.jmax = dr
        if rms > self.rmax:
            self.rmax = rms
            self.t_rmax = t
            self.crest = f[consts.F_PEAK] - rms
            self.hfpk = f[consts.F_HF]
            self.zbpk = self.zb
            self.ppk = f[consts.F_PITCH] if f[consts.F_HARM] >= p["voiced_cdb"] else 0
        if f[consts.F_PEAK] > self.peak:
            self.peak = f[consts.F_PEAK]
        zb = self.zb
        if zb >= 0:                                           # excess-peak band: where and how it moves
            self.zbsum += zb
            self.nzb += 1
            if self.zbprev >= 0:
                self.zbvar += zb - self.zbprev if zb >= self.zbprev else self.zbprev - zb
        self.zbprev = zb
        self.hsum = chk("hsum", self.hsum + f[consts.F_HARM])
        if f[consts.F_HARM] >= p["voiced_cdb"]:                # voiced: where the pitch sits, how it moves
            pz = f[consts.F_PITCH]
            self.nv += 1
            self.psum = chk("psum", self.psum + pz)
            if self.pprev >= 0:
                d = pz - self.pprev
                self.pdsum = chk("pdsum", self.pdsum + (d if d >= 0 else -d))
                self.npd += 1
                if d > p["mono_hz"] or d < -p["mono_hz"]:
                    self.pdir = 0                             # a jump (register break): no run
                elif d != 0:                                  # a step: the same way as the last?
                    s = 1 if d > 0 else -1
                    if self.pdir != 0:
                        self.nmd += 1
                        self.nmono += s == self.pdir
                    self.pdir = s
            self.pprev = pz
        else:
            self.pprev = -1
            self.pdir = 0
        self.tsum = chk("tsum", self.tsum + f[consts.F_TONAL])
        if f[consts.F_TONAL] >= p["tonal_hi"]:
            self.ntonal += 1
        self.hfsum += f[consts.F_HF]
        self.csum = chk("csum", self.csum + f[consts.F_CENTROID])
        if i > 0:
            dc = f[consts.F_CENTROID] - self.prev_cen
            self.cvar = chk("cvar", self.cvar + (dc if dc >= 0 else -dc))
            self.rough = chk("rough", self.rough + (dr if dr >= 0 else -dr))
        if t - self.t_imp < p["imp_sep"]:
            if rms > self.ipk:
                self.ipk = rms                                # the impulse's own peak level
        elif dr2 >= p["imp_jump"] and rex >= p["imp_min"] and rms >= self.ipk - p["imp_rel"]:
            self.nimp += 1                                    # not a weaker echo of the last one
            self.t_imp = t
            if self.nimp == 1:
                self.t_imp0 = t
            self.ipk = rms
        off = self.amax >> p["end_sh"]
        if off < p["a_off"]:
            off = p["a_off"]
        if a >= off:
            self.t_last = t
            self.quiet = 0
        else:
            self.quiet += 1
        ev = None
        if self.seg_cls == 0 and self.nimp > 0 and (t - self.t_imp == p["gap"] or t - self.t_imp0 == p["gap"]):
            ev = self._decide(t, t - self.t0 + 1, 0, events.GUNSHOT)
        if t == self.t_mid:                                   # interim decision, any class
            self.t_mid = t + p["mid"]
            if self.seg_cls == 0 and ev is None:
                ev = self._decide(t, t - self.t0 + 1, 0, MID)
        if self.quiet >= p["hang"] or i + 1 >= p["maxlen"]:
            self.t_cut = -1000
            if self.quiet < p["hang"] and t + 1 - self.t_up <= p["back"]:
                self.t_cut = t                                # cut while a sound was rising
                self.cut_on = self.t_up
            e2 = self._close(t)
            if e2 is not None:
                ev = e2
        return ev

    def _close(self, t):
        self.in_seg = False
        if self.seg_cls == 0:
            return self._decide(t, self.t_last - self.t0 + 1, 1, 0)
        c = self.seg_cls
        longer = self.t_last > self.ev_end[c]                 # reported before its end: the final
        self.ev_end[c] = self.t_last                          # duration and peak go out as an update
        if longer or (c == events.GUNSHOT and self.seg_base + self.nimp > self.ev_shots[c]):
            return self._emit(t, c, self.ev_conf[c])
        return None

    def features(self, dur, final):
        """The 32 segment features (ints) of the frames so far; dur = active duration."""
        p = self.p
        rms = self.rms
        n = len(rms)
        rmax = max(rms)
        att = rms.index(rmax)
        sus = sum(1 for r in rms if r >= rmax - p["sus_db"])
        dec = n - att
        for k in range(att, n):
            if rms[k] < rmax - p["decay_db"]:
                dec = k - att
                break
        sa = self.sum_a if self.sum_a > 0 else 1
        nz = self.nzb if self.nzb > 0 else 1
        return [dur, self.amax >> 2, (self.sum_a // n) >> 2, self.rexmax, self.jump, att, 100 * sus // n, dec,
                self.tsum // n, 100 * self.ntonal // n, self.hfsum // n, self.csum // n,
                100 * self.sum_lf // sa, 100 * self.sum_hf // sa, self.nimp, self.rough // n, self.crest,
                self.nhot, final, self.cvar // n, self.jmax, self.hfpk, self.ctx >> 4,
                10 * self.zbsum // nz, 10 * self.zbvar // nz, self.zbpk,
                100 * self.nv // n, self.psum // self.nv if self.nv else 0,
                self.pdsum // self.npd if self.npd else 0, self.hsum // n, self.ppk,
                (100 * self.nmono + 200) // (self.nmd + 4)]

    def threshold(self, t, only, c, x, quiet=True):
        """The confidence a class-c answer needs at the decision _decide(t, ..., only) makes on
        features x; quiet=False: as if the segment stood clear of the floor (no quiet rule)."""
        if only == MID:
            thr = self.p["conf_mid"][c]                       # interim: any class, its own threshold,
            if t - self.t0 + 1 == self.p["mid"]:
                thr = self.p["conf_first"][c]                 # the first its own too (a shot's last on time)
        elif only:
            thr = self.p["conf_early"] if c == only else 101  # early: its own threshold, its class only
        elif c == events.GUNSHOT and t - self.t_imp < self.p["gap"]:
            thr = self.p["conf_short"]                        # a shot that ended before its early decision
        else:
            thr = self.p["conf"][c]
        if quiet and x[3] < self.p["quiet_rex"] and self.p["conf_quiet"][c] > thr:
            thr = self.p["conf_quiet"][c]                     # a quiet segment: its class's quiet threshold too
        return thr

    def _decide(self, t, n, final, only):
        x = self.features(n, final)
        if self.collect:
            self.samples.append((self.t0, t, final, x))
        c, conf = classify(x, self.model)
        thr = self.threshold(t, only, c, x)
        e = None
        if c != 0 and conf >= thr:
            e = self._emit(t, c, conf) if conf >= self.p["conf_switch"] or not self._fragment(c) else None
        if self.decisions is not None:
            self.decisions.append({"frame": t, "start": self.t0, "final": final, "only": only, "class": c,
                                   "confidence": conf, "threshold": thr,
                                   "threshold_clear": self.threshold(t, only, c, x, quiet=False),
                                   "reported": e is not None})
        return e

    def _fragment(self, c):
        """Whether a segment starting now is, for a class-c answer, a fragment of another class's
        event (it starts within refr of that event's end)."""
        for k in range(1, events.NCLASSES):                  # right after another class's event:
            if k != c and self.ev_valid[k] and self.t0 - self.ev_end[k] <= self.p["refr"]:
                return True                                   # a fragment of it, unless confident
        return False

    def _emit(self, t, c, conf):
        upd = 0
        if self.seg_cls == c:
            upd = 1
        elif self.ev_valid[c] and self.t0 - self.ev_end[c] <= self.p["refr"]:
            upd = 1
            self.seg_base = self.ev_shots[c]
            if conf < self.ev_conf[c]:
                conf = self.ev_conf[c]
            if self.ev_peak[c] > self.peak:
                self.peak = self.ev_peak[c]
        else:
            self.ev_onset[c] = self.t_on
            self.seg_base = 0
        self.seg_cls = c
        self.ev_valid[c] = True
        self.ev_end[c] = self.t_last
        n = self.seg_base + self.nimp
        self.ev_shots[c] = (n if n > 0 else 1) if c == events.GUNSHOT else 0   # a shot event holds >= 1 shot
        self.ev_peak[c] = self.peak
        if conf > self.ev_conf[c] or not upd:
            self.ev_conf[c] = conf
        on = self.ev_onset[c]
        return (c, on, self.t_last - on + 1, self.ev_peak[c], self.ev_conf[c], self.ev_shots[c], upd, t)


def run(feat, cfg, ranges=None, collect=False, model=None):
    """All event tuples for a (F, NFEAT) feature array; with collect, also the decision samples."""
    det = DetectorModel(cfg, ranges, collect, model)
    rows = np.asarray(feat).tolist()
    out = [e for e in (det.update(r) for r in rows) if e is not None]
    return (out, det.samples) if collect else out


class _Tracer(DetectorModel):
    """The detector with every decision point noted instead of decided.  Decisions never feed
    back into segmentation (they only gate further decisions of their segment), so the
    segments, and the feature vectors each decision would see, do not depend on the
    classifier or the thresholds."""

    def _decide(self, t, n, final, only):
        self.points.append((t, final, only, tuple(self.features(n, final)),
                            self.t0, self.t_last, self.peak, self.nimp, self.t_imp, self.t_on))
        return None


def trace(feat, cfg):
    """Decision points of a (F, NFEAT) feature array, for replay(): (frame, final, kind,
    features, segment start, last active frame, peak, impulses, last impulse frame, the onset an
    event of the segment reports)."""
    det = _Tracer(cfg)
    det.points = []
    for r in np.asarray(feat).tolist():
        det.update(r)
    return det.points


class _Replay(DetectorModel):
    """The decision stage alone, fed by trace() points (features() returns the noted vector)."""

    def features(self, dur, final):
        return self.x


def replay(points, cfg, model=None):
    """The event tuples run() gives for the features trace() saw, with the current thresholds
    (node.detect_table.PARAMS) and classifier: a threshold search re-decides recorded
    decision points instead of re-running every frame.  As in update(): early and interim
    decisions only while their segment has no event, and a frame yields its last event."""
    det = _Replay(cfg, model=model)
    out = []
    k, n = 0, len(points)
    seg = None
    while k < n:
        t = points[k][0]
        ev = None
        while k < n and points[k][0] == t:
            _, final, only, det.x, t0, det.t_last, peak, det.nimp, det.t_imp, t_on = points[k]
            k += 1
            if t0 != seg:                                     # a new segment (as _start)
                seg = det.t0 = t0
                det.t_on = t_on
                det.seg_cls = det.seg_base = 0
                det.peak = peak
            elif peak > det.peak:                             # (_emit may have raised it to the
                det.peak = peak                               # merged event's peak)
            if final:
                e = det._close(t)
            elif det.seg_cls == 0:                            # early, then interim: only while
                e = det._decide(t, 0, 0, only)                # the segment has no event
            else:
                continue
            if e is not None:
                ev = e
        if ev is not None:
            out.append(ev)
    return out


def final_events(evs):
    """Collapse updates: one record per event (the latest revision), in onset order."""
    cur = {}
    order = []
    for e in evs:
        key = (e[events.E_CLASS], e[events.E_ONSET])
        if key not in cur:
            order.append(key)
            cur[key] = list(e)
            cur[key].append(e[events.E_FRAME])               # first report frame
        else:
            first = cur[key][-1]
            cur[key] = list(e) + [first]
    return [tuple(cur[k]) for k in sorted(order, key=lambda k: (k[1], k[0]))]
