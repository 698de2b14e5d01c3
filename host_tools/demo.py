# SPDX-License-Identifier: MIT
"""`make demo`: a street scene streamed through a node, what the node reports, and the
numpy reference's numbers for the same audio beside it.

The node is the plugged-in board when there is exactly one, otherwise the virtual node
(the real firmware on the MicroPython unix port behind a pseudo-terminal). The scene is
injected over the serial link in place of the microphone; the node answers with the
features of every frame and the events its detector raises.
"""
import sys

import numpy as np

from host_tools import audio_io, ports
from node import config, consts, events


def scene_audio(seed, seconds, rate):
    """A generated, labelled street scene as int16 plus its labels."""
    from dsp_reference import scenes
    sc = scenes.make_scene(seed, rate=rate, seconds=seconds, background="traffic", snr_db=15)
    return audio_io.to_int16(sc.audio), sc.labels + sc.confusers


def band_label(cfg, b):
    e = consts.band_edges(cfg["rate"], cfg["frame"])
    hz = cfg["rate"] / cfg["frame"]
    return "%d-%d Hz" % (round(e[b] * hz), round(e[b + 1] * hz))


def per_second(feat, cfg):
    """Rows of (second, rms dB, peak dB, loudest band index, max flux dB, centroid Hz)."""
    fps = cfg["rate"] / cfg["hop"]
    rows = []
    nsec = int(np.ceil(len(feat) / fps))
    for s in range(nsec):
        f = feat[int(s * fps):int((s + 1) * fps)]
        if not len(f):
            continue
        p = np.mean(10.0 ** (f[:, consts.F_RMS] / 1000.0))
        bands = np.mean(10.0 ** (f[:, consts.F_BAND0:] / 1000.0), axis=0)
        rows.append((s, 10 * np.log10(p), f[:, consts.F_PEAK].max() / 100.0, int(np.argmax(bands)),
                     f[:, consts.F_FLUX].max() / 100.0, int(np.median(f[:, consts.F_CENTROID]))))
    return rows


def _node_run(x, port, out):
    """Inject x into the node at ``port``; returns (node info, inject result)."""
    from host_tools.inject import inject
    from host_tools.link import Link
    with ports.opened(port) as path:
        out.write("node: %s on %s\n" % ("virtual node (firmware on the MicroPython unix port)"
                                        if port == "sim" else "board", path))
        link = Link.open(path)
        try:
            info = link.get_info()
            res = inject(link, x, features=True, events=True)
        finally:
            link.close()
    return info, res


def fold_updates(records, cls, upd):
    """Keep the latest revision of each event: a record with update=1 replaces the last
    event of its class (see docs/detector.md)."""
    out = []
    for r in records:
        if upd(r):
            for i in range(len(out) - 1, -1, -1):
                if cls(out[i]) == cls(r):
                    out[i] = r
                    break
            else:
                out.append(r)
        else:
            out.append(r)
    return out


def run(seed=7, seconds=12.0, port=None, out=sys.stdout):
    from dsp_reference import int_model
    cfg = config.validate({})
    x, labels = scene_audio(seed, seconds, cfg["rate"])
    if port is None:
        port = "auto" if ports.candidates() else "sim"
    out.write("Street scene: seed %d, %.0f s, traffic background, events at 15 dB SNR, %d Hz\n"
              % (seed, seconds, cfg["rate"]))
    out.write("What happens in it (ground truth):\n")
    for lab in sorted(labels, key=lambda d: d["onset_s"]):
        out.write("  %6.2f-%6.2f s  %s\n" % (lab["onset_s"], lab["offset_s"], lab["class"]))
    info, res = _node_run(x, port, out)
    out.write("node says: firmware %s, board %s, id %s, free heap %s B, detector %s\n" % (
        info.get("firmware"), info.get("board"), info.get("uid"), info.get("free_heap"),
        "on" if info.get("detector") else "NOT LOADED"))
    from host_tools import hil
    fw = res["features"]
    ref = int_model.features(x, cfg)
    ref_ev = hil.reference_events(ref, cfg)
    check = hil.compare("demo", x, res, ref, ref_ev)
    out.write("\nPer second: the node's DSP (%d frames streamed back)  |  numpy reference\n" % len(fw))
    out.write("%4s %8s %8s %-14s %9s %9s | %8s %8s %9s\n" % ("s", "rms dB", "peak dB", "loudest band",
                                                          "flux dB", "centroid", "rms dB", "peak dB", "flux dB"))
    for a, b in zip(per_second(fw, cfg), per_second(ref, cfg)):
        out.write("%4d %8.1f %8.1f %-14s %9.1f %8dHz | %8.1f %8.1f %9.1f\n" % (
            a[0], a[1], a[2], band_label(cfg, a[3]), a[4], a[5], b[1], b[2], b[4]))
    out.write("\nEvents the node reported:\n")
    node_new = fold_updates(res["events"], lambda e: e["class_id"], lambda e: e["update"])
    for e in node_new:
        out.write("  %6.2f s  %-12s %5.2f s  peak %6.1f dBFS  confidence %3d%%%s\n" % (
            e["onset"] / cfg["rate"], events.CLASS_NAMES[e["class_id"]], e["duration"] / cfg["rate"],
            e["peak_cdb"] / 100.0, e["confidence"], "  shots %d" % e["shots"] if e["shots"] else ""))
    if not node_new:
        out.write("  (none)\n")
    if ref_ev is not None:
        out.write("reference detector: %d event records, %s\n" % (
            len(ref_ev), "the node sent the same" if not any("events" in p for p in check["problems"])
            else "DIFFERENT"))
    out.write("\n%s\n" % ("frames: node and reference features identical on every frame (bit-exact)"
                           if check["ok"] else "MISMATCH: " + "; ".join(check["problems"])))
    return 0 if check["ok"] else 1
