# SPDX-License-Identifier: MIT
"""`make demo`: a street scene through the real firmware DSP, summarised per second,
next to the numpy reference's numbers for the same audio.

Without a board the firmware runs on the MicroPython unix port (the virtual node's
runtime) with an ESP32-sized heap.
"""
import sys

import numpy as np

from host_tools import audio_io, features
from node import config, consts


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


def run(seed=7, seconds=12.0, out=sys.stdout):
    cfg = config.validate({})
    x, labels = scene_audio(seed, seconds, cfg["rate"])
    fw = features.compute(x, cfg, "firmware")
    ref = features.compute(x, cfg, "reference")
    same = fw.shape == ref.shape and bool(np.array_equal(fw, ref))
    out.write("Street scene (seed %d, %.0f s, traffic, events at 15 dB SNR) at %d Hz, frame %d, hop %d\n"
              % (seed, seconds, cfg["rate"], cfg["frame"], cfg["hop"]))
    out.write("What happens in it:\n")
    for lab in sorted(labels, key=lambda d: d["onset_s"]):
        out.write("  %6.2f-%6.2f s  %s\n" % (lab["onset_s"], lab["offset_s"], lab["class"]))
    out.write("\nPer second: firmware DSP on the MicroPython unix port  |  numpy reference\n")
    out.write("%4s %8s %8s %-14s %9s %9s | %8s %8s %9s\n" % ("s", "rms dB", "peak dB", "loudest band",
                                                          "flux dB", "centroid", "rms dB", "peak dB", "flux dB"))
    for a, b in zip(per_second(fw, cfg), per_second(ref, cfg)):
        out.write("%4d %8.1f %8.1f %-14s %9.1f %8dHz | %8.1f %8.1f %9.1f\n" % (
            a[0], a[1], a[2], band_label(cfg, a[3]), a[4], a[5], b[1], b[2], b[4]))
    out.write("\n%d frames; firmware and reference features %s\n" % (
        len(fw), "identical on every frame (bit-exact)" if same else "DIFFER"))
    return 0 if same else 1
