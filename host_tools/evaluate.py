# SPDX-License-Identifier: MIT
"""Detection evaluation (`sednode eval`, `make eval`): writes eval/latest.json, report.md, scene.png.

Parts:
  * benchmark: synthetic scenes (dsp_reference.scenes), one SNR per scene (MIVIA convention),
    SNRs in SNRS, all backgrounds, confusers mixed in; event-based P/R/F1/ER with a 500 ms
    onset collar (DCASE 2017 Task 2), per class, per SNR, confusion matrix; latency from the
    frame that first reported each matched event (gunshot: from its onset; others: from
    the labelled end);
  * parity: the firmware engine (unix port) on a subset of the benchmark scenes must give
    exactly the reference engine's event records;
  * false alarms per hour on background-plus-confuser audio (make_background_hours), with the
    exact Poisson 95 % interval of the rate (a few alarms in a few hours are a rough figure);
  * real clips (../shared/data/real_dev when present): a positive clip must yield its class,
    a negative clip nothing (host_tools.detect lead-in, see its docstring); recall with its
    Wilson 95 % interval (13-67 clips per class);
  * cost: detector time per frame on the unix port, scaled to an ESP32-S3 by the viper
    calibration loop timed in the same run, and its instruction count scaled by the loop's
    (valgrind; the target reads the count when there is one) (esp32_cost()).
The full run has 100 scenes per SNR (40 up to the seventeenth detector version, 20 up to the
seventh) and 24 h of background (4 h, 2 h before): the larger sets contain the smaller, same
seeds.  Each SNR row carries percentile-bootstrap intervals of its F1 and error rate over its
scenes (metrics.bootstrap_interval).  Evaluation seeds (EVAL_SEED0...) are disjoint from the training seeds of
dsp_reference/train_detector.py.
"""
import json
import os
import sys
import time
from collections import Counter
from multiprocessing import Pool

import numpy as np

from dsp_reference import detect_model, metrics
from dsp_reference import real_clips as rc
from dsp_reference.scenes import make_background_hours, make_scene
from host_tools import audio_io, detect, fwrun
from host_tools.errors import NodeToolError, writable_dir
from node import detect_table as T
from node import events

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL_DEV = rc.REAL_DEV
CV_RESULTS = os.path.join(ROOT, "eval", "train_cv.json")   # written by dsp_reference.train_detector
CLASSES = ("gunshot", "scream", "glass_break")
SNRS = (0, 5, 10, 15, 20, 30)
EVAL_SEED0 = 1000
COST_SEED, COST_SECONDS = EVAL_SEED0 + 7, 20.0     # the scene the detector's cost is measured on
BG_SEED = 4242
FULL = {"scenes_per_snr": 100, "seconds": 30.0, "fw_scenes": 6, "hours": 24.0, "real": True}
QUICK = {"scenes_per_snr": 2, "seconds": 20.0, "fw_scenes": 1, "hours": 0.05, "real": False}
TARGETS = {"f1_min_snr_ge_10": 0.95, "er_max_snr_ge_10": 0.10, "f1_min_snr_5": 0.80, "fa_per_hour_max": 1.0,
           "real_recall_min": 0.9, "real_negative_fp_max": 0.05, "latency_max_s": 0.3, "cpu_percent_max": 5.0}


def _stages(res):
    """'benchmark 412 s, parity 60 s, ...': how long each stage of a run took."""
    return ", ".join("%s %.0f s" % (k.replace("_", " "), v) for k, v in res.get("stage_s", {}).items())


def _log(msg):
    print("eval: " + msg, file=sys.stderr, flush=True)


def _scene(seed, snr, seconds):
    return make_scene(seed, seconds=seconds, snr_db=float(snr))


def _ref_events(args):
    seed, snr, seconds, cfg = args
    sc = _scene(seed, snr, seconds)
    x = audio_io.to_int16(sc.audio)
    recs = detect.reference_events(x, cfg)
    return seed, snr, recs, sc.labels, sc.confusers, sc.background


def latency(est, ref, matches):
    """Per matched pair: report time - (onset for gunshot, offset otherwise), seconds."""
    out = {c: [] for c in CLASSES}
    for i, j in matches:
        r = ref[i]
        anchor = r["onset_s"] if r["class"] == "gunshot" else r["offset_s"]
        out[r["class"]].append(est[j]["report_s"] - anchor)
    return out


LATE_TRACE_MAX = 40      # late gunshot reports traced decision by decision (the latest first)
HELD_CAUSES = ("quiet segment", "held as a fragment", "answered below its threshold",
               "answered none or another class")
LATE_CAUSES = HELD_CAUSES + ("no decision in time",)


def decision_kind(d, mid):
    """'early', 'first interim', 'interim' or 'end': which of the detector's decisions a
    DetectorModel decision note (detect_model.DetectorModel decisions) is."""
    if d["final"]:
        return "end"
    if d["only"] == detect_model.MID:
        return "first interim" if d["frame"] - d["start"] + 1 == mid else "interim"
    return "early"


def _held_cause(decisions, cls):
    """Why decision notes (dicts with class, confidence, threshold, threshold_clear, reported)
    reported no class-cls event: the first of HELD_CAUSES that fits -- a class-cls answer that
    met the threshold a clear segment faces but not the quiet one; one that met its threshold
    and was held as a fragment of another class's event (conf_switch); one below its
    threshold; only other answers -- or None when there is no decision."""
    mine = [d for d in decisions if d["class"] == cls]
    if any(d["threshold_clear"] <= d["confidence"] < d["threshold"] for d in mine):
        return HELD_CAUSES[0]
    if any(d["confidence"] >= d["threshold"] and not d["reported"] for d in mine):
        return HELD_CAUSES[1]
    if mine:
        return HELD_CAUSES[2]
    return HELD_CAUSES[3] if decisions else None


def late_cause(decisions, limit_s=0.3):
    """Why a shot was reported late, from the notes of the decisions made between its onset and
    its report (dicts with after_s: report time after the onset, class, confidence, threshold,
    threshold_clear, reported): of the decisions within limit_s, _held_cause for a gunshot, or
    no decision at all."""
    on_time = [d for d in decisions if d["after_s"] <= limit_s + 1e-9]
    return _held_cause(on_time, events.GUNSHOT) or LATE_CAUSES[-1]


def _decisions_after(cfg, seed, snr, seconds, onset_s, until_s):
    """(decisions, events): the decisions the reference detector made on a benchmark scene (re-made
    from its seed) from onset_s to until_s, each with its time after the onset (after_s) and
    its segment's start (start_s, from the onset), and the scene's events (detect.to_dicts)."""
    rate, n, hop = cfg["rate"], cfg["frame"], cfg["hop"]
    mid = detect_model.params(cfg)["mid"]
    notes = []
    recs = detect.reference_events(audio_io.to_int16(_scene(seed, snr, seconds).audio), cfg, decisions=notes)
    out = []
    for d in notes:
        at = ((d["frame"] + 1) * hop + n - hop) / rate            # when the decision's frame ends
        if onset_s - hop / rate <= at <= until_s + 1e-9:
            out.append({"after_s": round(at - onset_s, 4), "kind": decision_kind(d, mid),
                        "start_s": round(events.onset_sample(d["start"], n, hop) / rate - onset_s, 4),
                        "class": d["class"], "answer": events.CLASS_NAMES[d["class"]],
                        "confidence": d["confidence"], "threshold": d["threshold"],
                        "threshold_clear": d["threshold_clear"], "reported": d["reported"]})
    return out, detect.to_dicts(recs, cfg)


def trace_late_shot(cfg, seed, snr, seconds, onset_s, report_s, limit_s=0.3):
    """The decisions the reference detector made from a benchmark shot's onset to its report
    (the scene re-made from its seed), each with its time after the onset, and the cause
    (late_cause)."""
    out, _ = _decisions_after(cfg, seed, snr, seconds, onset_s, report_s)
    reported = [d for d in out if d["reported"]]
    return {"seed": seed, "snr_db": snr, "onset_s": round(onset_s, 4), "latency_s": round(report_s - onset_s, 4),
            "reported_by": reported[-1]["kind"] if reported else None, "cause": late_cause(out, limit_s),
            "decisions": out}


def _traced(fn, jobs, procs):
    """fn(*job) for every job, over a pool of procs processes (none for no job): the traces
    re-make their scenes, a second or so each."""
    if not jobs:
        return []
    with Pool(procs) as pool:
        return pool.starmap(fn, jobs)


def late_shots(cfg, late, seconds, limit_s=0.3, procs=2):
    """trace_late_shot of the latest LATE_TRACE_MAX of late = [(seed, snr, onset_s, report_s)]:
    {n, traced, by_cause, shots}."""
    late = sorted(late, key=lambda v: v[2] - v[3])[:LATE_TRACE_MAX]
    shots = _traced(trace_late_shot, [(cfg, seed, snr, seconds, on, rep, limit_s) for seed, snr, on, rep in late], procs)
    by = {c: sum(1 for v in shots if v["cause"] == c) for c in LATE_CAUSES}
    return {"traced": len(shots), "by_cause": by, "shots": shots}


MISS_TRACE_MAX = 60      # events missed at SNR >= MISS_MIN_SNR traced decision by decision
MISS_MIN_SNR = 10        # where the F1 and error-rate targets apply
MISS_AFTER_S = 0.5       # decisions traced until this long after a missed event's end
MISS_CAUSES = ("reported, onset outside the collar", "no segment of its own") + HELD_CAUSES


def miss_cause(cls, onset_s, offset_s, decisions, est, collar_s=0.5):
    """Why a labelled event (class id cls, onset_s..offset_s) found no match, from the decisions
    traced over it (_decisions_after: after_s, start_s from the onset) and the scene's events
    est: the first of MISS_CAUSES that fits -- an event of its class covered it but began more
    than the collar away (a merge, or a segment opened too early); no segment opened within the
    collar of its onset, so no report could match (the classifier never had it alone, and a
    segment is seen only through its decisions); else _held_cause over the decisions of the
    segments that did open there."""
    name = events.CLASS_NAMES[cls]
    if any(e["class"] == name and e["onset_s"] < offset_s and e["onset_s"] + e["duration_s"] > onset_s and
           abs(e["onset_s"] - onset_s) > collar_s for e in est):
        return MISS_CAUSES[0]
    own = [d for d in decisions if abs(d["start_s"]) <= collar_s]
    return _held_cause(own, cls) if own else MISS_CAUSES[1]


def trace_missed(cfg, seed, snr, seconds, ref):
    """The decisions the reference detector made over a missed benchmark event (a label dict:
    class, onset_s, offset_s), from its onset to MISS_AFTER_S after its end, and the cause
    (miss_cause)."""
    out, est = _decisions_after(cfg, seed, snr, seconds, ref["onset_s"], ref["offset_s"] + MISS_AFTER_S)
    cause = miss_cause(events.class_id(ref["class"]), ref["onset_s"], ref["offset_s"], out, est)
    return {"seed": seed, "snr_db": snr, "class": ref["class"], "onset_s": round(ref["onset_s"], 4),
            "duration_s": round(ref["offset_s"] - ref["onset_s"], 4), "cause": cause, "decisions": out}


def missed_events(cfg, missed, seconds, procs=2):
    """trace_missed of the first MISS_TRACE_MAX of missed = [(seed, snr, label)], by SNR, seed and
    onset: {traced, by_cause, by_class (class: {cause: count}), events}."""
    missed = sorted(missed, key=lambda v: (v[1], v[0], v[2]["onset_s"]))[:MISS_TRACE_MAX]
    evs = _traced(trace_missed, [(cfg, seed, snr, seconds, ref) for seed, snr, ref in missed], procs)
    n = Counter((v["class"], v["cause"]) for v in evs)
    by = {c: sum(n[k, c] for k in CLASSES) for c in MISS_CAUSES}
    by_class = {k: {c: n[k, c] for c in MISS_CAUSES if n[k, c]} for k in CLASSES}
    return {"traced": len(evs), "by_cause": by, "by_class": by_class, "events": evs}


def _lat_summary(vals):
    if not vals:
        return None
    v = np.asarray(vals)
    return {"n": len(v), "median_s": float(np.median(v)), "p90_s": float(np.percentile(v, 90)),
            "max_s": float(v.max()), "share_within_0.3s": float(np.mean(v <= 0.3))}


def benchmark(cfg, opts, procs=2):
    jobs = [(EVAL_SEED0 + 100 * k + i, snr, opts["seconds"], cfg) for k, snr in enumerate(SNRS)
            for i in range(opts["scenes_per_snr"])]
    with Pool(procs) as pool:
        res = pool.map(_ref_events, jobs)
    per_scene, pairs, lat = [], [], {c: [] for c in CLASSES}
    all_ref, all_est, shots, late, missed = [], [], [], [], []
    cells = {}                                 # SNR: the scenes' evaluate() results
    offset = 0.0
    for seed, snr, recs, labels, confs, bg in res:
        est = detect.to_dicts(recs, cfg)
        ref = [{"class": l["class"], "onset_s": l["onset_s"], "offset_s": l["offset_s"], "snr_db": l["snr_db"],
                "n_shots": l.get("n_shots")} for l in labels]
        ev = metrics.evaluate(ref, est, CLASSES)
        for c, v in latency(est, ref, ev["matches"]).items():
            lat[c] += v
        late += [(seed, snr, ref[i]["onset_s"], est[j]["report_s"]) for i, j in ev["matches"]
                 if ref[i]["class"] == "gunshot" and est[j]["report_s"] - ref[i]["onset_s"] > TARGETS["latency_max_s"]]
        hit = {i for i, _ in ev["matches"]}
        missed += [(seed, snr, ref[i]) for i in range(len(ref)) if i not in hit and snr >= MISS_MIN_SNR]
        for i, j in ev["matches"]:
            if ref[i]["class"] == "gunshot":
                shots.append((ref[i]["n_shots"], est[j].get("shots")))
        pairs.append((ref, est))
        cells.setdefault(snr, []).append(ev)
        per_scene.append({"seed": seed, "snr_db": snr, "background": bg, "n_ref": len(ref), "n_est": len(est),
                          "tp": ev["overall"]["tp"], "fp": ev["overall"]["fp"], "fn": ev["overall"]["fn"]})
        all_ref += [dict(r, onset_s=r["onset_s"] + offset) for r in ref]
        all_est += [dict(e, onset_s=e["onset_s"] + offset) for e in est]
        offset += opts["seconds"] + 10.0
    agg = metrics.aggregate([ev for v in cells.values() for ev in v], CLASSES)     # (counts: any order)
    snr = metrics.by_snr(pairs, CLASSES)
    conf = metrics.confusion_matrix(all_ref, all_est, CLASSES)
    hi = [ev for k, v in sorted(cells.items()) if k >= 10 for ev in v]
    sh = np.array(shots, dtype=float) if shots else np.zeros((0, 2))
    t = time.time()
    traced_late = dict(late_shots(cfg, late, opts["seconds"], TARGETS["latency_max_s"], procs), n=len(late))
    traced_missed = dict(missed_events(cfg, missed, opts["seconds"], procs), n=len(missed), min_snr_db=MISS_MIN_SNR)
    _log("traced %d late gunshots and %d missed events in %.0f s" % (traced_late["traced"], traced_missed["traced"],
                                                                     time.time() - t))
    return {"n_scenes": len(jobs), "seconds_per_scene": opts["seconds"], "overall": agg,
            "by_snr": {str(int(k)): v for k, v in sorted(snr.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
                       if k is not None},
            "pooled_snr_ge_10": metrics.aggregate(hi, CLASSES) if hi else None,
            "by_snr_ci95": {str(int(k)): metrics.bootstrap_interval(v, CLASSES) for k, v in sorted(cells.items())},
            "confusion": conf, "latency": {c: _lat_summary(v) for c, v in lat.items()},
            "late_gunshots": traced_late, "missed": traced_missed,
            "shot_count": {"n": int(len(sh)), "exact": float(np.mean(sh[:, 0] == sh[:, 1])) if len(sh) else None,
                           "bursts_exact": float(np.mean((sh[:, 0] == sh[:, 1])[sh[:, 0] > 1]))
                           if len(sh) and (sh[:, 0] > 1).any() else None},
            "scenes": per_scene, "jobs": [(j[0], j[1]) for j in jobs]}


def parity(cfg, jobs, seconds):
    """Firmware vs reference records on the given (seed, snr) scenes."""
    out = []
    for seed, snr in jobs:
        x = audio_io.to_int16(_scene(seed, snr, seconds).audio)
        ref = detect.reference_events(x, cfg)
        fw, info = detect.firmware_events(x, cfg)
        out.append({"seed": seed, "snr_db": snr, "frames": info.get("frames"), "n_records": len(ref),
                    "identical": fw == ref, "alloc_bytes": info.get("alloc")})
        _log("parity seed %d: %d records, identical=%s" % (seed, len(ref), fw == ref))
    return {"scenes": out, "all_identical": all(s["identical"] for s in out),
            "seconds": seconds * len(jobs), "records": sum(s["n_records"] for s in out)}


def _fa_chunk(args):
    seed, hours, cfg = args
    from dsp_reference import detect_model
    det = detect_model.DetectorModel(cfg)
    sf = detect.StreamFeatures(cfg)
    recs, confs, secs = [], [], 0.0
    for chunk, labels in make_background_hours(seed, hours=hours):
        for row in sf.push(audio_io.to_int16(chunk)).tolist():
            e = det.update(row)
            if e is not None:
                recs.append(e)
        confs += labels
        secs += len(chunk) / cfg["rate"]
    return recs, confs, secs


def _interval(pos):
    """'lo–hi' Wilson interval of a clip recall ({'hit', 'n'}), or '–' without clips."""
    ci = metrics.wilson_interval(pos["hit"], pos["n"])
    return "%.2f–%.2f" % ci if ci else "–"


def false_alarms(cfg, hours, procs=2):
    parts = max(1, min(procs, int(np.ceil(hours / 0.5))))
    with Pool(procs) as pool:
        res = pool.map(_fa_chunk, [(BG_SEED + k, hours / parts, cfg) for k in range(parts)])
    n, secs, by_cls, by_cause, alarms = 0, 0.0, {c: 0 for c in CLASSES}, {}, []
    for recs, confs, s in res:
        for e in detect.to_dicts(recs, cfg):
            n += 1
            by_cls[e["class"]] += 1
            cause = next((c["class"] for c in confs if c["onset_s"] - 0.5 <= e["onset_s"] <= c["offset_s"]),
                         "background")
            by_cause[cause] = by_cause.get(cause, 0) + 1
            alarms.append({"class": e["class"], "onset_s": e["onset_s"], "cause": cause})
        secs += s
    lo, hi = metrics.poisson_interval(n)
    return {"hours": secs / 3600.0, "false_alarms": n, "per_hour": metrics.false_alarms_per_hour(n, secs),
            "per_hour_ci95": [metrics.false_alarms_per_hour(lo, secs), metrics.false_alarms_per_hour(hi, secs)],
            "by_class": by_cls, "by_cause": by_cause, "alarms": alarms[:50],
            "confusers": sum(len(r[1]) for r in res)}


def _real_one(args):
    cls, path, cfg = args
    return cls, path, detect.detect_file(path, "reference", cfg)


def real_clips(cfg, root=REAL_DEV, procs=2):
    """Clip-level results on the real development set, or None when it is absent."""
    rows = rc.manifest(root)
    if not rows:
        return None
    with Pool(procs) as pool:
        res = pool.map(_real_one, [(r["class"], os.path.join(root, r["file"]), cfg) for r in rows])
    neg, clips = {}, []
    for cls, path, evs in res:
        got = sorted({e["class"] for e in evs})
        ok = (cls in got) if cls in CLASSES else not got
        if cls not in CLASSES:
            n = neg.setdefault(cls, [0, 0])
            n[0] += not ok
            n[1] += 1
        clips.append({"class": cls, "file": os.path.relpath(path, root), "detected": got, "ok": bool(ok)})
    out = rc.clip_scores([(c["class"], c["detected"]) for c in clips])
    out.update({"negatives_by_class": {c: {"raised": v[0], "n": v[1]} for c, v in sorted(neg.items())},
                "clips": clips, "cross_validated": cross_validated()})
    return out


def cross_validated(path=CV_RESULTS):
    """The trainer's cross-validated real-clip results when they belong to the shipped table."""
    try:
        with open(path) as f:
            cv = json.load(f)
    except (OSError, ValueError):
        return None
    return cv if cv.get("table_id") == detect_model.table_id(T) else None


def esp32_cost(cfg, seconds=COST_SECONDS, seed=COST_SEED, counted=True):
    """Detector cost per frame on the unix port, scaled to an ESP32-S3 (viper loop calibration).

    Returns a dict: det_us_per_frame_unix, calib_ms_unix, est_esp32_us_per_frame,
    est_esp32_cpu_percent (share of one core at the hop rate), alloc_bytes (must be 0); with
    counted (and valgrind installed), also est_esp32_cpu_percent_counted from instruction counts
    (bench.counted_detector, the same scene), which a busy machine cannot disturb: a make eval
    timed beside other work once read 12.4 % where the counts read 1.2 %.
    """
    x = audio_io.to_int16(make_scene(seed, seconds=seconds, snr_db=10.0).audio)
    _, info = detect.firmware_events(x, cfg, bench=True)
    per = info["det_us"] / max(1, info["frames"])
    cal_ms = info["calib_us"] / 1000.0
    out = {"frames": info["frames"], "det_us_per_frame_unix": per, "calib_ms_unix": cal_ms,
           "est_esp32_us_per_frame": per * fwrun.ESP32_CAL_MS / cal_ms,
           "est_esp32_cpu_percent": fwrun.esp32_percent(per, cal_ms, cfg["hop"], cfg["rate"]),
           "alloc_bytes": info["alloc"]}
    if counted:
        from host_tools import bench
        try:
            cd = bench.counted_detector(cfg["rate"], cfg["frame"], cfg["hop"])
        except NodeToolError as e:          # valgrind there but failing: the timed figure stands
            cd = None
            out["instructions_error"] = str(e)
            _log("instruction count failed, the timed estimate stands: %s" % e)
        if cd is not None:
            out["detector_instructions_per_frame"] = cd["detector_instructions_per_frame"]
            out["est_esp32_cpu_percent_counted"] = cd["detector_est_esp32_cpu_percent"]
    return out


def _fmt(v, pct=False):
    if v is None:
        return "–"
    return "%.3f" % v


def targets(res):
    b = res["benchmark"]
    out = {}
    for c in CLASSES:
        hi = [b["by_snr"][s]["classes"][c] for s in b["by_snr"] if int(s) >= 10]
        out["%s_f1_snr_ge_10" % c] = min(h["f1"] for h in hi) if hi else None
        out["%s_er_snr_ge_10" % c] = max(h["error_rate"] for h in hi) if hi else None
        five = b["by_snr"].get("5")
        out["%s_f1_snr_5" % c] = five["classes"][c]["f1"] if five else None
    ok = {}
    for c in CLASSES:
        if out["%s_f1_snr_ge_10" % c] is not None:
            ok["%s_f1_snr_ge_10" % c] = out["%s_f1_snr_ge_10" % c] >= TARGETS["f1_min_snr_ge_10"]
            ok["%s_er_snr_ge_10" % c] = out["%s_er_snr_ge_10" % c] <= TARGETS["er_max_snr_ge_10"]
        if out["%s_f1_snr_5" % c] is not None:
            ok["%s_f1_snr_5" % c] = out["%s_f1_snr_5" % c] >= TARGETS["f1_min_snr_5"]
    out["fa_per_hour"] = res["false_alarms"]["per_hour"]
    ok["fa_per_hour"] = out["fa_per_hour"] <= TARGETS["fa_per_hour_max"]
    for c in CLASSES:       # every detection within 0.3 s of the onset (gunshot) / end (others)
        lat = b["latency"].get(c)
        if lat:
            out["latency_%s_max_s" % c] = lat["max_s"]
            ok["latency_%s_max_s" % c] = lat["max_s"] <= TARGETS["latency_max_s"]
    if res.get("real"):
        # the table may have been trained on these clips: judge by the cross-validated figures then
        real = res["real"]["cross_validated"] or res["real"]
        tag = "_cv" if res["real"]["cross_validated"] else ""
        for c, r in real["recall"].items():
            if r is not None:
                out["real_recall%s_%s" % (tag, c)] = r
                ok["real_recall%s_%s" % (tag, c)] = r >= TARGETS["real_recall_min"]
        if real["negative_fp_rate"] is not None:
            out["real_negative_fp%s" % tag] = real["negative_fp_rate"]
            ok["real_negative_fp%s" % tag] = real["negative_fp_rate"] <= TARGETS["real_negative_fp_max"]
    if res.get("cost"):     # the instruction-count estimate when there is one: timing varies with the load
        c = res["cost"]
        out["cpu_percent"] = c.get("est_esp32_cpu_percent_counted", c["est_esp32_cpu_percent"])
        ok["cpu_percent"] = out["cpu_percent"] <= TARGETS["cpu_percent_max"]
    return {"values": out, "met": ok}


def _decision_text(d, segment=False):
    """A traced decision as the report lists it: 'after_s kind answer confidence/threshold', q
    when the quiet rule raised the threshold; with segment, its segment's start after the
    after_s and r when it reported."""
    return "%.2f%s %s %s %d/%d%s%s" % (d["after_s"], " %+.2f" % d["start_s"] if segment else "", d["kind"],
                                       d["answer"], d["confidence"], d["threshold"],
                                       "q" if d["threshold"] > d["threshold_clear"] else "",
                                       " r" if segment and d["reported"] else "")


def _late_md(late):
    """Report lines on the gunshots reported later than the latency target (late_shots)."""
    if not late or not late["n"]:
        return []
    L = ["", "Gunshots reported later than %.1f s after their onset: %d; the latest %d traced decision by decision "
         "(the scene re-made, every decision of the reference detector from the onset to the report). By cause "
         "(from the decisions within %.1f s): %s." % (
             TARGETS["latency_max_s"], late["n"], late["traced"], TARGETS["latency_max_s"],
             ", ".join("%s %d" % (c, k) for c, k in late["by_cause"].items() if k)), "",
         "<details><summary>The traced shots</summary>", "",
         "| SNR dB | seed | onset s | reported after s | by | cause | decisions (after s: answer confidence/threshold, "
         "q: raised by the quiet rule) |", "|---|---|---|---|---|---|---|"]
    for v in late["shots"]:
        ds = [_decision_text(d) for d in v["decisions"]]
        L.append("| %g | %d | %.2f | %.3f | %s | %s | %s |" % (v["snr_db"], v["seed"], v["onset_s"], v["latency_s"],
                                                               v["reported_by"] or "–", v["cause"], "; ".join(ds)))
    return L + ["", "</details>"]


def _missed_md(missed):
    """Report lines on the events missed where the F1 targets apply (missed_events)."""
    if not missed or not missed["n"]:
        return []
    L = ["", "Events missed at SNR ≥ %d dB: %d; %s traced decision by decision (the scene re-made, every "
         "decision of the reference detector from the onset to %.1f s after the end). By cause: %s." % (
             missed["min_snr_db"], missed["n"], "all" if missed["traced"] == missed["n"] else
             "the first %d" % missed["traced"], MISS_AFTER_S,
             "; ".join("%s: %s" % (k, ", ".join("%s %d" % (c, n) for c, n in v.items()))
                       for k, v in missed["by_class"].items() if v)), "",
         "<details><summary>The traced misses</summary>", "",
         "| class | SNR dB | seed | onset s | duration s | cause | decisions (after s, segment from s: answer "
         "confidence/threshold, q: raised by the quiet rule, r: reported) |", "|---|---|---|---|---|---|---|"]
    for v in missed["events"]:
        ds = [_decision_text(d, segment=True) for d in v["decisions"]]
        L.append("| %s | %g | %d | %.2f | %.2f | %s | %s |" % (v["class"], v["snr_db"], v["seed"], v["onset_s"],
                                                              v["duration_s"], v["cause"], "; ".join(ds)))
    return L + ["", "</details>"]


def report_md(res):
    b = res["benchmark"]
    L = ["# Detection evaluation", "",
         "Generated by `sednode eval%s` in %.0f s. Engine: reference (integer model); firmware parity on %d scenes."
         % (" --quick" if res["quick"] else "", res["elapsed_s"], len(res["parity"]["scenes"])),
         "" if not res.get("stage_s") else "Stages: %s." % _stages(res), "",
         "## Synthetic benchmark (500 ms onset collar)", "",
         "%d scenes of %.0f s, one SNR per scene, all backgrounds, confusers mixed in." % (b["n_scenes"],
                                                                                         b["seconds_per_scene"]), "",
         "F1 and ER 95 %: percentile-bootstrap intervals over the SNR's scenes (2,000 draws of as many "
         "scenes, with replacement): how far the figure could move on another draw of scenes.", "",
         "| SNR dB | class | n | P | R | F1 | F1 95 % | ER | ER 95 % |", "|---|---|---|---|---|---|---|---|---|"]
    cis = b.get("by_snr_ci95", {})
    for s, g in b["by_snr"].items():
        for c in CLASSES:
            k = g["classes"][c]
            ci = cis.get(s, {}).get(c)
            L.append("| %s | %s | %d | %s | %s | %s | %s | %s | %s |" % (
                s, c, k["n_ref"], _fmt(k["precision"]), _fmt(k["recall"]), _fmt(k["f1"]),
                "%.3f–%.3f" % tuple(ci["f1"]) if ci else "–", _fmt(k["error_rate"]),
                "%.3f–%.3f" % tuple(ci["error_rate"]) if ci else "–"))
    hi = b.get("pooled_snr_ge_10")
    if hi:
        L += ["", "The SNRs of 10 dB and above pooled (the targets are judged by the stricter reading, every "
              "SNR of 10 dB and above on its own: the rows above):", "", "| class | n | P | R | F1 | ER |",
              "|---|---|---|---|---|---|"]
        for c in CLASSES:
            k = hi["classes"][c]
            L.append("| %s | %d | %s | %s | %s | %s |" % (c, k["n_ref"], _fmt(k["precision"]), _fmt(k["recall"]),
                                                          _fmt(k["f1"]), _fmt(k["error_rate"])))
    L += ["", "All SNRs pooled:", "", "| class | n | P | R | F1 | ER |", "|---|---|---|---|---|---|"]
    for c in CLASSES + ("overall",):
        k = b["overall"]["classes"][c] if c != "overall" else b["overall"]["overall"]
        L.append("| %s | %d | %s | %s | %s | %s |" % (c, k["n_ref"], _fmt(k["precision"]), _fmt(k["recall"]),
                                                      _fmt(k["f1"]), _fmt(k["error_rate"])))
    labels = list(CLASSES) + ["none"]
    L += ["", "Confusion matrix (rows true, columns detected):", "",
          "| true \\ detected | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for a in labels:
        L.append("| %s | " % a + " | ".join(str(b["confusion"][a][x]) for x in labels) + " |")
    sc = b["shot_count"]
    L += ["", "Gunshot shot count exact on %s of %d matched gunshots (bursts only: %s)." % (
        _fmt(sc["exact"]), sc["n"], _fmt(sc["bursts_exact"])), "",
          "Latency (first report − onset for gunshots, − labelled end for the others):", "",
          "| class | n | median s | p90 s | max s | ≤ 0.3 s |", "|---|---|---|---|---|---|"]
    for c, v in b["latency"].items():
        if v:
            L.append("| %s | %d | %.3f | %.3f | %.3f | %.2f |" % (c, v["n"], v["median_s"], v["p90_s"], v["max_s"],
                                                                  v["share_within_0.3s"]))
    L += _late_md(b.get("late_gunshots"))
    L += _missed_md(b.get("missed"))
    fa = res["false_alarms"]
    L += ["", "## False alarms", "", "%.2f h of background with %d confusers: **%d false alarms = %.2f per hour** "
          "(95 %% interval of the rate %.2f–%.2f per hour: a few hours hold few alarms)"
          % (fa["hours"], fa["confusers"], fa["false_alarms"], fa["per_hour"], *fa["per_hour_ci95"]), "",
          "By class: %s. By cause: %s." % (json.dumps(fa["by_class"]), json.dumps(fa["by_cause"])), ""]
    p = res["parity"]
    L += ["## Firmware parity", "", "Firmware (unix port) vs reference on %d scenes (%.0f s, %d event records): %s."
          % (len(p["scenes"]), p["seconds"], p["records"], "identical" if p["all_identical"] else "**DIFFERENT**"),
          ""]
    r = res.get("real")
    L += ["## Real development clips", ""]
    if r is None:
        L.append("Not run (%s)." % ("--quick" if res["quick"] else "real_dev not present"))
    else:
        L += ["Each clip is read as `sednode detect` reads a file: resampled to the node's rate, its DC offset "
              "removed, behind a lead-in of its own quietest 250 ms.", ""]
        cv = r["cross_validated"]
        if cv:
            L += ["The shipped table was trained on views of these clips too, so the honest figures are the "
                  "trainer's: %d-fold cross-validation grouped by %s, each clip scored by a model that never "
                  "saw its recording source (`eval/train_cv.json`). The shipped table's own (seen-in-training) "
                  "figures are in the last column." % (cv["folds"], cv["grouping"]), "",
                  "| class | clips | recall, cross-validated | its 95 % interval | recall, shipped table |",
                  "|---|---|---|---|---|"]
            for c in CLASSES:
                L.append("| %s | %d | %s | %s | %s |" % (c, r["positives"][c]["n"], _fmt(cv["recall"][c]),
                                                         _interval(cv["positives"][c]), _fmt(r["recall"][c])))
            L += ["", "Negative clips raising an event: cross-validated %d of %d (%s); shipped table %d of %d (%s)." % (
                cv["negatives"]["raised"], cv["negatives"]["n"], _fmt(cv["negative_fp_rate"]),
                r["negatives"]["raised"], r["negatives"]["n"], _fmt(r["negative_fp_rate"]))]
            if cv.get("wrong"):
                L += ["", "<details><summary>The %d clips the cross-validation got wrong, and what they yielded"
                      "</summary>" % len(cv["wrong"]), ""]
                L += ["- `%s`: %s" % (f, ", ".join(got) or "nothing") for f, got in sorted(cv["wrong"].items())]
                L += ["", "</details>"]
        else:
            L += ["| class | clips | recall | its 95 % interval |", "|---|---|---|---|"]
            for c in CLASSES:
                L.append("| %s | %d | %s | %s |" % (c, r["positives"][c]["n"], _fmt(r["recall"][c]),
                                                    _interval(r["positives"][c])))
            L += ["", "Negative clips raising an event: %d of %d (%s)." % (
                r["negatives"]["raised"], r["negatives"]["n"], _fmt(r["negative_fp_rate"]))]
        L += ["", "Shipped table, by negative class:", "",
              "| negative class | raised | clips |", "|---|---|---|"]
        for c, v in r["negatives_by_class"].items():
            L.append("| %s | %d | %d |" % (c, v["raised"], v["n"]))
    c = res.get("cost")
    L += ["", "## Detector cost", ""]
    if c:
        L.append("%.1f µs per frame on the unix port, calibration loop %.1f ms → est. %.0f µs per frame on an ESP32-S3 "
                 "= **%.2f %% of one core**; heap allocated on non-event frames: %d bytes." % (
                     c["det_us_per_frame_unix"], c["calib_ms_unix"], c["est_esp32_us_per_frame"],
                     c["est_esp32_cpu_percent"], c["alloc_bytes"]))
        if "est_esp32_cpu_percent_counted" in c:
            L += ["", "Counted (valgrind's callgrind, the same scene; the target reads this, which the machine's "
                  "load cannot disturb): %.1f k instructions per frame = **%.2f %% of one core**." % (
                      c["detector_instructions_per_frame"] / 1e3, c["est_esp32_cpu_percent_counted"])]
    t = res["targets"]
    L += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for k, v in t["met"].items():
        got = t["values"].get(k)         # every verdict has the value it judged, under its key
        L.append("| %s | %s | %s |" % (k, "" if got is None else "%.3f" % got, "yes" if v else "**no**"))
    L += ["", "![scene](scene.png)", ""]
    return "\n".join(L)


def plot_scene(path, cfg, seed=EVAL_SEED0 + 301, snr=10.0, seconds=20.0):
    """Spectrogram of one benchmark-style scene with true and detected events."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sc = make_scene(seed, seconds=seconds, snr_db=snr)
    x = audio_io.to_int16(sc.audio)
    est = detect.to_dicts(detect.reference_events(x, cfg), cfg)
    fig, ax = plt.subplots(figsize=(12, 5))
    ax.specgram(x.astype(float) / 32768.0, NFFT=512, Fs=cfg["rate"], noverlap=256, cmap="magma", vmin=-140)
    colors = {"gunshot": "tab:red", "scream": "tab:cyan", "glass_break": "tab:green"}
    top = cfg["rate"] / 2
    for l in sc.labels:
        ax.axvspan(l["onset_s"], l["offset_s"], ymin=0.92, ymax=1.0, color=colors[l["class"]], alpha=0.9)
        ax.text(l["onset_s"], top * 0.955, "true " + l["class"], fontsize=8, color="white", va="center")
    for cf in sc.confusers:
        ax.axvspan(cf["onset_s"], cf["offset_s"], ymin=0.0, ymax=0.04, color="grey", alpha=0.9)
        ax.text(cf["onset_s"], top * 0.06, cf["class"], fontsize=7, color="white")
    for e in est:
        ax.axvspan(e["onset_s"], e["onset_s"] + e["duration_s"], ymin=0.82, ymax=0.9, color=colors[e["class"]],
                   alpha=0.6, hatch="//")
        ax.text(e["onset_s"], top * 0.86, "det %s %d%%" % (e["class"], e["confidence"]), fontsize=8, color="white",
                va="center")
    ax.set_xlabel("time, s")
    ax.set_ylabel("Hz")
    ax.set_title("scene seed %d, %s background, SNR %g dB: true (top bar) vs detected (hatched); "
                 "confusers (bottom)" % (seed, sc.background, snr))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run(out_dir="eval", quick=False, hours=None, cfg=None, procs=2, real_root=REAL_DEV, with_cost=True):
    """Run the whole evaluation and write the three outputs.  Returns the result dict."""
    cfg = cfg or detect.default_cfg()
    opts = dict(QUICK if quick else FULL)
    if hours is not None:
        opts["hours"] = hours
    t0 = time.time()
    writable_dir(out_dir)                    # before minutes of work, not after
    res = {"quick": quick, "config": cfg, "options": opts, "stage_s": {}}

    def stage(key, msg, fn, *args):
        _log(msg)
        t = time.time()
        res[key] = fn(*args)
        res["stage_s"][key] = round(time.time() - t, 1)

    stage("benchmark", "benchmark: %d scenes" % (opts["scenes_per_snr"] * len(SNRS)), benchmark, cfg, opts, procs)
    jobs = res["benchmark"]["jobs"]
    sub = [jobs[(k * len(jobs)) // opts["fw_scenes"]] for k in range(opts["fw_scenes"])]
    stage("parity", "firmware parity on %d scenes" % len(sub), parity, cfg, sub, opts["seconds"])
    stage("false_alarms", "false alarms: %.2f h" % opts["hours"], false_alarms, cfg, opts["hours"], procs)
    res["real"] = None
    if opts["real"] and real_root:
        stage("real", "real clips", real_clips, cfg, real_root, procs)
    res["cost"] = None
    if with_cost:
        stage("cost", "detector cost", esp32_cost, cfg)
    res["elapsed_s"] = time.time() - t0
    res["targets"] = targets(res)
    with open(os.path.join(out_dir, "latest.json"), "w") as f:
        json.dump(res, f, indent=1, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    plot_scene(os.path.join(out_dir, "scene.png"), cfg)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(report_md(res))
    _log("done in %.0f s (%s) -> %s" % (res["elapsed_s"], _stages(res), out_dir))
    return res
