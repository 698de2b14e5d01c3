# SPDX-License-Identifier: MIT
"""Hardware-in-the-loop check: the device's DSP against the numpy reference, bit for bit.

Each signal is injected into the node (host_tools.inject); the node's FEATURES frames
must equal ``dsp_reference.int_model.features`` on the same int16 samples, every
frame and every value.  When a detector model exists (``dsp_reference.detect_model``
with ``events(samples, cfg)``) the node's EVENTs are compared with it as well.
"""
import time
import xml.etree.ElementTree as ET

import numpy as np

from host_tools import audio_io
from host_tools.errors import NodeToolError, EXIT_PROTOCOL
from host_tools.inject import inject
from node import config, consts

FEATURE_NAMES = list(consts.FEATURE_KEYS) + ["band%d" % b for b in range(consts.NBANDS)]


def default_suite(rate):
    """Named int16 signals: the DSP parity suite (sines -90..0 dBFS per octave, chirps,
    noises, impulses, silence, full-scale squares, street) plus two short scenes."""
    from dsp_reference import signals
    out = dict(signals.suite(rate))
    try:
        from dsp_reference import scenes
        for seed in (1, 2):
            sc = scenes.make_scene(seed, rate=rate, seconds=6.0)
            out["scene_%d" % seed] = audio_io.to_int16(sc.audio)
    except ImportError:
        pass
    return out


def load_files(paths, rate):
    return {p: audio_io.load_for_node(p, rate) for p in paths}


def reference_events(feat, cfg):
    """The reference detector's records for these features, as the node sends them
    in EVENT frames: (class, onset sample, duration samples, peak, confidence, shots,
    update).  None if there is no reference detector."""
    try:
        from dsp_reference import detect_model
        from node import events
    except ImportError:
        return None
    hop, n = cfg["hop"], cfg["frame"]
    return [(int(e[events.E_CLASS]), events.onset_sample(int(e[events.E_ONSET]), n, hop),
             int(e[events.E_DUR]) * hop, int(e[events.E_PEAK]), int(e[events.E_CONF]), int(e[events.E_SHOTS]),
             int(e[events.E_UPDATE])) for e in detect_model.run(feat, cfg)]


def compare(name, x, dev, ref_feat, ref_events):
    """One HIL case: dict with name, ok, and what differs."""
    f = dev["features"]
    row = {"name": name, "samples": int(len(x)), "frames": int(f.shape[0]), "ref_frames": int(ref_feat.shape[0]),
           "bad_frames": 0, "first_diff": None, "events": len(dev["events"]),
           "ref_events": None if ref_events is None else len(ref_events), "seconds": dev["seconds"]}
    problems = []
    if dev["missing_frames"]:
        problems.append("%d FEATURES frames lost" % len(dev["missing_frames"]))
    if f.shape != ref_feat.shape:
        problems.append("device gave %d frames, reference %d" % (f.shape[0], ref_feat.shape[0]))
    n = min(f.shape[0], ref_feat.shape[0])
    diff = f[:n] != ref_feat[:n]
    if diff.any():
        bad = np.nonzero(diff.any(axis=1))[0]
        t = int(bad[0])
        k = int(np.nonzero(diff[t])[0][0])
        row["bad_frames"] = int(len(bad))
        row["first_diff"] = {"frame": t, "feature": FEATURE_NAMES[k], "device": int(f[t, k]),
                             "reference": int(ref_feat[t, k])}
        problems.append("%d frames differ, first: frame %d %s device %d reference %d"
                        % (len(bad), t, FEATURE_NAMES[k], f[t, k], ref_feat[t, k]))
    if ref_events is not None:
        got = [(e["class_id"], e["onset"], e["duration"], e["peak_cdb"], e["confidence"], e["shots"],
                e["update"]) for e in dev["events"]]
        if got != ref_events:
            problems.append("events differ: device %s reference %s" % (got[:3], ref_events[:3]))
    row["ok"] = not problems
    row["problems"] = problems
    return row


def run(link, cases, progress=None):
    """Run every (name, samples) case; returns a list of compare() rows."""
    from dsp_reference import int_model
    cfg = config.validate(link.config_get())
    info = link.info or link.get_info()
    if not info.get("dsp", True):
        raise NodeToolError("%s: the firmware has no DSP, nothing to compare" % link.name, EXIT_PROTOCOL)
    rows = []
    for i, (name, x) in enumerate(cases.items()):
        if progress:
            progress(i, len(cases), name)
        dev = inject(link, x, features=True, events=True)
        ref = int_model.features(x, cfg)
        ref_ev = reference_events(ref, cfg) if info.get("detector") else None
        rows.append(compare(name, x, dev, ref, ref_ev))
    return rows


def table(rows):
    """Plain-text result table."""
    lines = ["%-28s %8s %7s %7s %6s  %s" % ("signal", "samples", "frames", "differ", "events", "result")]
    for r in rows:
        ev = "%d" % r["events"] if r["ref_events"] is None else "%d/%d" % (r["events"], r["ref_events"])
        lines.append("%-28s %8d %7d %7d %6s  %s" % (r["name"][:28], r["samples"], r["frames"], r["bad_frames"],
                                                 ev, "PASS" if r["ok"] else "FAIL: " + "; ".join(r["problems"])))
    n_bad = sum(not r["ok"] for r in rows)
    lines.append("%d signals, %d passed, %d failed" % (len(rows), len(rows) - n_bad, n_bad))
    return "\n".join(lines)


def junit(rows, path, port=""):
    """Write JUnit XML (one testcase per signal)."""
    suite = ET.Element("testsuite", name="sednode-hil", tests=str(len(rows)),
                       failures=str(sum(not r["ok"] for r in rows)), errors="0",
                       time="%.3f" % sum(r["seconds"] for r in rows),
                       timestamp=time.strftime("%Y-%m-%dT%H:%M:%S"))
    ET.SubElement(ET.SubElement(suite, "properties"), "property", name="port", value=str(port))
    for r in rows:
        tc = ET.SubElement(suite, "testcase", classname="hil", name=r["name"], time="%.3f" % r["seconds"])
        if not r["ok"]:
            ET.SubElement(tc, "failure", message="; ".join(r["problems"])).text = "\n".join(r["problems"])
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
