# SPDX-License-Identifier: MIT
# Sound event detector: per-frame DSP features (node/dsp.py out[]) -> events.
#   det = Detector(cfg); ev = det.update(dsp.out) once per frame -> None or an event
#   tuple laid out as in node/events.py; det.reset().
# Integer only.  Every buffer is made in __init__; update() allocates nothing except
# the event tuple it returns (and, once per segment decision, nothing either: the
# feature vector and the classifier walk use preallocated arrays and small ints).
#   1. floor() (a viper kernel in node/detect_kern.py, with bins() and boost()), per
#      band: noise floor (Q3 cdB; fast fall, slow rise), mean absolute deviation (Q3,
#      learned outside segments), activity A = sum clamp(band - floor - 2*dev, 0, zcap),
#      its low/high parts (bands within share_rel of the frame's loudest only), the
#      hot-band count, and the rms level above its own floor.
#   2. a segment runs from A >= a_on to hang frames below max(a_off, amax >> end_sh)
#      (or maxlen); a much stronger onset inside a segment (past its first split_age
#      frames: A twice the segment's peak, or an rms split_rise above the segment's
#      loudest frame) starts a new one, and so does a swell (past swell_age frames: a short
#      average of A swell_q2/4 times the segment's mean A: a sound rising out of a busy
#      street).  A segment opening where the last was cut at maxlen reports its onset where
#      the sound rising at the cut began (the last frame the short average of A came up
#      through the cut segment's mean, if within back frames).  Impulses: rms rise >=
#      imp_jump over one or two frames.
#   3. the segment's 32 features (same list as dsp_reference.detect_model.FEATURE_NAMES:
#      levels, shape, spectrum, impulses, a leaky count of recent segment starts for
#      repetitive sounds, the excess-peak band, pitch and voicing) go through the shipped
#      boosted trees (node/detect_table.py; class = highest score, confidence = its integer
#      softmax share 0..100) gap frames after the first and after the last impulse
#      (gunshot only: low latency), every mid frames (interim: any class) and at the
#      segment end; an answer counts when its confidence reaches the class's
#      threshold (conf_early alone for the early gunshot, conf_short for a shot whose
#      segment ends before its early decision, conf_mid_<class> for an interim one but
#      conf_first_<class> at the first (a shot's last decision within its 0.3 s latency budget,
#      and where a siren's start passes for a scream); conf_switch too right after an event of
#      another class; conf_quiet_<class> too while the segment's level has stood less than
#      quiet_rex above its floor: a quiet crackle or cry is not called glass or a scream on a
#      confidence that a clear break or scream needs no more than).
#   4. same-class events within refr frames merge: the record is re-sent with update=1.
# The numpy/int reference (dsp_reference/detect_model.py) gives identical events.
from array import array
from micropython import const

from node import consts, events
from node import detect_table as T
from node.detect_kern import bins, boost, floor

_FLOOR = const(-15000)
_F_PEAK = const(1)
_F_RMS = const(2)
_F_CEN = const(4)
_F_HF = const(5)
_F_TONAL = const(6)
_F_PITCH = const(7)
_F_HARM = const(8)
# prm[] slots read by floor() (node/detect_kern.py reads them by number: keep both in step)
_P_NB = const(0)
_P_BLF = const(1)
_P_BHF = const(2)
_P_RISE = const(3)
_P_FALL = const(4)
_P_DEVSH = const(5)
_P_DEVCAP = const(6)
_P_ZCAP = const(7)
_P_ZHOT = const(8)
_P_WARM = const(9)          # 1 while warming up
_P_FIRST = const(10)        # 1 on the first frame after reset
_P_INSEG = const(11)        # 1 while a segment is open
_P_BMIN = const(12)         # band level clamp (mic self-noise), cdB
_P_RMIN = const(13)         # rms level clamp, cdB
_P_SREL = const(14)         # bands counted in the low/high activity: within this of the loudest, cdB
_NPRM = const(15)
_CTX_SH = const(7)          # context: decay of the recent-segment activity (~2 s)
_CTX_INC = const(1024)      # added per segment start
_NSEGF = const(32)          # segment features (dsp_reference.detect_model.FEATURE_NAMES)
_MID = const(-1)            # _decide(only=_MID): an interim decision


# 2^(-i/32) in Q15 (dsp_reference.detect_model.EXP2_Q15): the softmax confidence
_EXP2 = (32768, 32066, 31379, 30706, 30048, 29405, 28774, 28158, 27554, 26964, 26386, 25821, 25268,
         24726, 24196, 23678, 23170, 22674, 22188, 21713, 21247, 20792, 20347, 19911, 19484, 19066,
         18658, 18258, 17867, 17484, 17109, 16743)


def _exp_neg(d):
    # 32768 * e^(-d/256), d >= 0
    if d >= 4096:
        return 0
    t = (d * 1477) >> 10
    n = t >> 8
    return 0 if n > 15 else _EXP2[(t >> 3) & 31] >> n


def _frames(ms, rate, hop):
    n = (ms * rate + hop * 500) // (hop * 1000)
    return n if n > 0 else 1


class Detector:
    def __init__(self, cfg):
        P = T.PARAMS
        rate, n, hop = cfg["rate"], cfg["frame"], cfg["hop"]
        edges = consts.band_edges(rate, n)
        nb = len(edges) - 1
        self.nb = nb
        self.prm = array("i", bytes(4 * _NPRM))
        self.prm[_P_NB] = nb
        self.prm[_P_BLF] = sum(1 for b in range(nb) if edges[b + 1] * rate <= P["lf_hz"] * n)
        self.prm[_P_BHF] = nb - sum(1 for b in range(nb) if edges[b] * rate >= P["hf_hz"] * n)
        r = P["rise_cdb_s"] * 8 * hop // rate
        self.rise = r if r > 0 else 1
        r = P["rise_seg_cdb_s"] * 8 * hop // rate
        self.rise_seg = r if r > 0 else 1
        self.prm[_P_FALL] = P["fall_sh"]
        self.prm[_P_DEVSH] = P["dev_sh"]
        self.prm[_P_DEVCAP] = P["dev_cap"]
        self.prm[_P_ZCAP] = P["zcap"]
        self.prm[_P_ZHOT] = P["zhot"]
        self.prm[_P_BMIN] = P["band_min"]
        self.prm[_P_RMIN] = P["rms_min"]
        self.prm[_P_SREL] = P["share_rel"]
        self.warm = _frames(P["warm_ms"], rate, hop)
        self.min_start = _frames(P["min_start_ms"], rate, hop)
        self.hang = _frames(P["hang_ms"], rate, hop)
        self.maxlen = _frames(P["maxlen_ms"], rate, hop)
        self.back = _frames(P["back_ms"], rate, hop)
        self.gap = _frames(P["gap_ms"], rate, hop)
        self.mid = _frames(P["mid_ms"], rate, hop)
        self.imp_sep = _frames(P["imp_sep_ms"], rate, hop)
        self.refr = _frames(P["refr_ms"], rate, hop)
        self.split_age = _frames(P["split_age_ms"], rate, hop)
        self.swell_age = _frames(P["swell_age_ms"], rate, hop)
        self.swell_sh, self.swell_q2, self.swell_min = P["swell_sh"], P["swell_q2"], P["swell_min"]
        self.dev_init = P["dev_init"]
        self.end_sh = P["end_sh"]
        self.a_on, self.a_off, self.split_a = P["a_on"], P["a_off"], P["split_a"]
        self.split_rise = P["split_rise"]
        self.imp_jump, self.imp_min, self.imp_rel = P["imp_jump"], P["imp_min"], P["imp_rel"]
        self.sus_db, self.decay_db, self.tonal_hi = P["sus_db"], P["decay_db"], P["tonal_hi"]
        self.voiced = P["voiced_cdb"]
        self.mono_hz = P["mono_hz"]
        self.conf_min = array("i", (101, P["conf_gunshot"], P["conf_scream"], P["conf_glass"]))
        self.conf_early = P["conf_early"]
        self.conf_mid = array("i", (101, P["conf_mid_gunshot"], P["conf_mid_scream"], P["conf_mid_glass"]))
        self.conf_short = P["conf_short"]
        self.conf_first = array("i", (101, P["conf_first_gunshot"], P["conf_first_scream"], P["conf_first_glass"]))
        self.conf_switch = P["conf_switch"]
        # [0]: quiet_rex (class 0 is never reported), [c]: conf_quiet_<class c>
        self.conf_quiet = array("i", (P["quiet_rex"], P["conf_quiet_gunshot"], P["conf_quiet_scream"],
                                      P["conf_quiet_glass"]))
        ni = (1 << T.DEPTH) - 1
        self.tree_bytes = ((ni * 11 + 7) >> 3) + ni + 1   # packed (detect_kern.boost)
        off = array("H", bytes(2 * (_NSEGF + 1)))
        for f in range(_NSEGF):
            off[f + 1] = off[f] + T.EDGE_N[f]
        self.edge_off = off
        self.xb = bytearray(_NSEGF)                        # the features' bins
        self.sgn = 1 << 31
        self.fl = array("i", bytes(4 * nb))
        self.dv = array("i", bytes(4 * nb))
        self.res = array("i", bytes(4 * 7))
        self.rms = array("i", bytes(4 * self.maxlen))      # rms of every segment frame
        self.x = array("i", bytes(4 * _NSEGF))             # segment features
        self.scores = array("i", bytes(4 * events.NCLASSES))
        nc = events.NCLASSES
        self.ev_valid = array("i", bytes(4 * nc))
        self.ev_onset = array("i", bytes(4 * nc))
        self.ev_end = array("i", bytes(4 * nc))
        self.ev_shots = array("i", bytes(4 * nc))
        self.ev_peak = array("i", bytes(4 * nc))
        self.ev_conf = array("i", bytes(4 * nc))
        self.reset()

    def reset(self):
        for b in range(self.nb):
            self.fl[b] = 0
            self.dv[b] = self.dev_init
        for i in range(7):
            self.res[i] = 0
        for c in range(events.NCLASSES):
            self.ev_valid[c] = 0
            self.ev_onset[c] = 0
            self.ev_end[c] = 0
            self.ev_shots[c] = 0
            self.ev_peak[c] = 0
            self.ev_conf[c] = 0
        self.t = 0
        self.prev_rms = _FLOOR
        self.prev2_rms = _FLOOR
        self.prev_cen = 0
        self.conf = 0
        self.act = 0
        self.ef = 0
        self.t_cut = -1000              # the frame a segment was cut at maxlen
        self.cut_on = 0                 # and where the sound rising then began
        self._start(0)                  # creates every segment attribute now, not per frame
        self.act = 0
        self.in_seg = 0

    def update(self, out):
        # out: the DSP's feature array('i') of this frame.  Returns None or an event tuple.
        t = self.t
        prm = self.prm
        prm[_P_WARM] = 1 if t < self.warm else 0
        prm[_P_FIRST] = 1 if t == 0 else 0
        prm[_P_INSEG] = self.in_seg
        prm[_P_RISE] = self.rise_seg if self.in_seg else self.rise
        floor(out, self.fl, self.dv, prm, self.res, self.sgn)
        a = self.res[0]
        ev = None
        self.ef += (a - self.ef) >> self.swell_sh      # activity, a short average
        if self.in_seg:
            i = t - self.t0
            if (i >= self.split_age and (a >= self.split_a and a >= self.amax << 1 or
                                         out[_F_RMS] >= self.rmax + self.split_rise)) or \
                    (i >= self.swell_age and self.ef >= self.swell_min and 4 * self.ef * i >= self.swell_q2 * self.sum_a):
                ev = self._close(t)         # a much stronger onset or a far louder sound, or a swell: new segment
        if not self.in_seg and a >= self.a_on and t >= self.min_start:
            self._start(t)
        if self.in_seg:
            e2 = self._frame(t, out, a)
            if e2 is not None:
                ev = e2
        self.prev2_rms = self.prev_rms
        self.prev_rms = out[_F_RMS]
        self.prev_cen = out[_F_CEN]
        self.act -= self.act >> _CTX_SH   # recent segment starts (context feature)
        self.t = t + 1
        return ev

    def _start(self, t):
        self.ctx = self.act
        self.act += _CTX_INC
        self.in_seg = 1
        self.t0 = t
        # right where the last segment was cut at maxlen: the onset is where the sound
        # rising at the cut began (the cut is no onset)
        self.t_on = self.cut_on if self.t_cut == t - 1 else t
        self.t_up = t
        self.t_last = t
        self.quiet = 0
        self.n = 0
        self.sum_a = 0
        self.sum_lf = 0
        self.sum_hf = 0
        self.amax = 0
        self.rexmax = 0
        self.nhot = 0
        self.jump = 0
        self.jmax = 0
        self.hfpk = 0
        self.rmax = _FLOOR
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
        self.t_mid = t + self.mid - 1
        self.ipk = _FLOOR
        self.peak = _FLOOR
        self.seg_cls = 0
        self.seg_base = 0

    def _frame(self, t, out, a):
        res = self.res
        rms = out[_F_RMS]
        dr = rms - self.prev_rms
        dr2 = rms - self.prev2_rms          # the rise over two frames (impulses)
        if dr > dr2:
            dr2 = dr
        i = self.n
        self.rms[i] = rms
        self.n = i + 1
        self.sum_a += a
        if self.ef * (i + 1) <= self.sum_a:
            self.t_up = t + 1               # the short average at or below the segment's mean
        self.sum_lf += res[1]
        self.sum_hf += res[2]
        rex = res[4]
        if a > self.amax:
            self.amax = a
        if rex > self.rexmax:
            self.rexmax = rex
        if res[3] > self.nhot:
            self.nhot = res[3]
        if i < 3 and dr > self.jump:
            self.jump = dr
        if i > 0 and dr > self.jmax:
            self.jmax = dr
        pk = out[_F_PEAK]
        if rms > self.rmax:
            self.rmax = rms
            self.crest = pk - rms
            self.hfpk = out[_F_HF]
            self.zbpk = res[6]
            self.ppk = out[_F_PITCH] if out[_F_HARM] >= self.voiced else 0
        if pk > self.peak:
            self.peak = pk
        v = res[6]
        if v >= 0:                          # excess-peak band: where and how it moves
            self.zbsum += v
            self.nzb += 1
            if self.zbprev >= 0:
                self.zbvar += v - self.zbprev if v >= self.zbprev else self.zbprev - v
        self.zbprev = v
        v = out[_F_HARM]
        self.hsum += v
        if v >= self.voiced:                # voiced: where the pitch sits, how it moves
            v = out[_F_PITCH]
            self.nv += 1
            self.psum += v
            if self.pprev >= 0:
                d = v - self.pprev
                self.pdsum += d if d >= 0 else -d
                self.npd += 1
                if d > self.mono_hz or d < -self.mono_hz:
                    self.pdir = 0           # a jump (register break, octave error): no run
                elif d != 0:                # a step: does it go on the way the last one went?
                    s = 1 if d > 0 else -1
                    if self.pdir != 0:
                        self.nmd += 1
                        if s == self.pdir:
                            self.nmono += 1
                    self.pdir = s
            self.pprev = v
        else:
            self.pprev = -1
            self.pdir = 0
        v = out[_F_TONAL]
        self.tsum += v
        if v >= self.tonal_hi:
            self.ntonal += 1
        self.hfsum += out[_F_HF]
        v = out[_F_CEN]
        self.csum += v
        if i > 0:
            v -= self.prev_cen
            self.cvar += v if v >= 0 else -v
            self.rough += dr if dr >= 0 else -dr
        if t - self.t_imp < self.imp_sep:
            if rms > self.ipk:
                self.ipk = rms              # the impulse's own peak level
        elif dr2 >= self.imp_jump and rex >= self.imp_min and rms >= self.ipk - self.imp_rel:
            self.nimp += 1                  # a new shot, not a weaker echo of the last one
            self.t_imp = t
            if self.nimp == 1:
                self.t_imp0 = t
            self.ipk = rms
        off = self.amax >> self.end_sh
        if off < self.a_off:
            off = self.a_off
        if a >= off:
            self.t_last = t
            self.quiet = 0
        else:
            self.quiet += 1
        ev = None
        if self.seg_cls == 0 and self.nimp > 0 and (t - self.t_imp == self.gap or t - self.t_imp0 == self.gap):
            ev = self._decide(t, t - self.t0 + 1, 0, events.GUNSHOT)
        if t == self.t_mid:                  # interim decision, any class
            self.t_mid = t + self.mid
            if self.seg_cls == 0 and ev is None:
                ev = self._decide(t, t - self.t0 + 1, 0, _MID)
        if self.quiet >= self.hang or i + 1 >= self.maxlen:
            self.t_cut = -1000
            if self.quiet < self.hang and t + 1 - self.t_up <= self.back:
                self.t_cut = t              # cut while a sound was rising
                self.cut_on = self.t_up
            e2 = self._close(t)
            if e2 is not None:
                ev = e2
        return ev

    def _close(self, t):
        self.in_seg = 0
        c = self.seg_cls
        if c == 0:
            return self._decide(t, self.t_last - self.t0 + 1, 1, 0)
        longer = self.t_last > self.ev_end[c]   # reported before its end: the final
        self.ev_end[c] = self.t_last            # duration and peak go out as an update
        if longer or (c == events.GUNSHOT and self.seg_base + self.nimp > self.ev_shots[c]):
            return self._emit(t, c, self.ev_conf[c])
        return None

    def _features(self, dur, final):
        # the 32 segment features of the frames so far into self.x; dur = active duration
        r = self.rms
        n = self.n
        rmax = _FLOOR
        att = 0
        for k in range(n):
            if r[k] > rmax:
                rmax = r[k]
                att = k
        sus = 0
        for k in range(n):
            if r[k] >= rmax - self.sus_db:
                sus += 1
        dec = n - att
        for k in range(att, n):
            if r[k] < rmax - self.decay_db:
                dec = k - att
                break
        sa = self.sum_a if self.sum_a > 0 else 1
        x = self.x
        x[0] = dur
        x[1] = self.amax >> 2
        x[2] = (self.sum_a // n) >> 2
        x[3] = self.rexmax
        x[4] = self.jump
        x[5] = att
        x[6] = 100 * sus // n
        x[7] = dec
        x[8] = self.tsum // n
        x[9] = 100 * self.ntonal // n
        x[10] = self.hfsum // n
        x[11] = self.csum // n
        x[12] = 100 * self.sum_lf // sa
        x[13] = 100 * self.sum_hf // sa
        x[14] = self.nimp
        x[15] = self.rough // n
        x[16] = self.crest
        x[17] = self.nhot
        x[18] = final
        x[19] = self.cvar // n
        x[20] = self.jmax
        x[21] = self.hfpk
        x[22] = self.ctx >> 4
        nz = self.nzb if self.nzb > 0 else 1
        x[23] = 10 * self.zbsum // nz
        x[24] = 10 * self.zbvar // nz
        x[25] = self.zbpk
        x[26] = 100 * self.nv // n
        x[27] = self.psum // self.nv if self.nv else 0
        x[28] = self.pdsum // self.npd if self.npd else 0
        x[29] = self.hsum // n
        x[30] = self.ppk
        x[31] = (100 * self.nmono + 200) // (self.nmd + 4)

    def _classify(self):
        # boosted-tree scores -> class id; the softmax confidence 0..100 goes to self.conf
        sc = self.scores
        for c in range(events.NCLASSES):
            sc[c] = 0
        c = 1
        bins(self.x, T.EDGES, self.edge_off, self.xb, _NSEGF, self.sgn)
        nodes = T.NODES
        for k in range(len(nodes)):
            c = boost(nodes[k], len(nodes[k]) // self.tree_bytes, c, T.DEPTH, self.xb, sc)
        best = 0
        for c in range(1, events.NCLASSES):
            if sc[c] > sc[best]:
                best = c
        m = sc[best]
        tot = 0
        for c in range(events.NCLASSES):
            tot += _exp_neg(m - sc[c])
        self.conf = 3276800 // tot
        return best

    def _decide(self, t, n, final, only):
        self._features(n, final)
        c = self._classify()
        if only == _MID:
            thr = self.conf_mid[c]          # interim: any class, its own threshold,
            if t - self.t0 + 1 == self.mid:
                thr = self.conf_first[c]    # the first one its own too (a shot's last on time)
        elif only:
            thr = self.conf_early if c == only else 101    # early: its class only
        elif c == events.GUNSHOT and t - self.t_imp < self.gap:
            thr = self.conf_short           # a shot that ended before its early decision
        else:
            thr = self.conf_min[c]
        if self.rexmax < self.conf_quiet[0] and self.conf_quiet[c] > thr:
            thr = self.conf_quiet[c]        # a quiet segment: its class's quiet threshold too
        if c == 0 or self.conf < thr:
            return None
        if self.conf < self.conf_switch:
            for k in range(1, events.NCLASSES):     # right after another class's event:
                if k != c and self.ev_valid[k] and self.t0 - self.ev_end[k] <= self.refr:
                    return None                     # a fragment of it, unless confident
        return self._emit(t, c, self.conf)

    def _emit(self, t, c, conf):
        upd = 0
        if self.seg_cls == c:
            upd = 1
        elif self.ev_valid[c] and self.t0 - self.ev_end[c] <= self.refr:
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
        self.ev_valid[c] = 1
        self.ev_end[c] = self.t_last
        n = self.seg_base + self.nimp
        self.ev_shots[c] = (n if n > 0 else 1) if c == events.GUNSHOT else 0   # a shot event holds >= 1 shot
        self.ev_peak[c] = self.peak
        if conf > self.ev_conf[c] or not upd:
            self.ev_conf[c] = conf
        on = self.ev_onset[c]
        return (c, on, self.t_last - on + 1, self.ev_peak[c], self.ev_conf[c], self.ev_shots[c], upd, t)
