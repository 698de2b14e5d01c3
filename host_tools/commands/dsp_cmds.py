# SPDX-License-Identifier: MIT
"""features / demo commands (the DSP side of the CLI)."""
import json
import sys

from host_tools import features
from host_tools.commands import number
from host_tools.errors import NodeToolError
from node import config


def _cfg(args):
    try:
        return config.validate({"rate": args.rate, "frame": args.frame, "hop": args.hop})
    except config.ConfigError as e:
        raise NodeToolError(str(e))


def cmd_features(args):
    cfg = _cfg(args)
    recs = features.file_features(args.file, args.engine, cfg)
    out = sys.stdout
    if args.json:
        for r in recs:
            out.write(json.dumps(r, separators=(",", ":")) + "\n")
        return 0
    out.write("%6s %8s %8s %8s %8s %9s %6s %7s %6s %6s  loudest band\n" % (
        "frame", "t_s", "peak_dB", "rms_dB", "flux_dB", "centroid", "hf_%", "tonal", "pitch", "harm"))
    for r in recs:
        b = r["bands_cdb"]
        k = max(range(len(b)), key=b.__getitem__)
        out.write("%6d %8.3f %8.2f %8.2f %8.2f %8d %6.1f %7.2f %6d %6.1f  %2d (%.1f dB)\n" % (
            r["frame"], r["t_s"], r["peak_cdb"] / 100, r["rms_cdb"] / 100, r["flux_cdb"] / 100,
            r["centroid_hz"], r["hf_q10"] / 10.24, r["tonal_cdb"] / 100, r["pitch_hz"], r["harm_cdb"] / 100,
            k, b[k] / 100))
    return 0


def cmd_demo(args):
    from host_tools import demo
    return demo.run(seed=args.seed, seconds=args.seconds, port=args.port)


def add_dsp_options(p):
    p.add_argument("--rate", type=int, default=16000, help="node sample rate (default 16000)")
    p.add_argument("--frame", type=int, default=512, help="FFT frame (default 512)")
    p.add_argument("--hop", type=int, default=256, help="hop (default 256)")


def register(sub):
    p = sub.add_parser("features", help="per-frame DSP features of a WAV file")
    p.add_argument("file", help="WAV file (8-48 kHz, mono/stereo, 16/24/32-bit); resampled to the node rate")
    p.add_argument("--engine", choices=features.ENGINES, default="reference",
                   help="firmware: the real firmware on the MicroPython unix port; reference: numpy model")
    p.add_argument("--json", action="store_true", help="one JSON object per frame")
    add_dsp_options(p)
    p.set_defaults(func=cmd_features)
    p = sub.add_parser("demo", help="stream a generated street scene through a node (virtual if none) and show what it reports")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--seconds", type=number(float, 0, lo_open=True), default=12.0)
    p.add_argument("--port", default=None,
                   help="device path, auto or sim (default: the one plugged-in board, else the virtual node)")
    p.set_defaults(func=cmd_demo)
