# SPDX-License-Identifier: MIT
"""detect / eval commands: thin wrappers over host_tools.detect and host_tools.evaluate."""
import json
import os
import sys

from host_tools.commands import number
from host_tools.errors import EXIT_FAIL, NodeToolError


def wav_files(paths):
    """The paths, each folder replaced by the .wav files below it (any case, sorted, recursively):
    a technician's folder of recordings is one argument."""
    out = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs if f.lower().endswith(".wav"))
            if not found:
                print("sednode: warning: %s: no .wav files in this folder" % p, file=sys.stderr)
            out += found
        else:
            out.append(p)
    return out


def cmd_detect(args):
    """Events of every file (a folder stands for the .wav files below it); a file that cannot be
    read gets its one-line error and the rest are still done (exit code: the first such error's,
    else 0)."""
    from host_tools import detect
    n = 0
    rc = 0
    args.files = wav_files(args.files)
    for path in args.files:
        try:
            evs = detect.detect_file(path, args.engine, use_lead_in=not args.no_lead_in)
        except NodeToolError as e:
            code = e.report()
            rc = rc or code
            continue
        for ev in evs:
            n += 1
            if args.json:
                print(json.dumps(ev), flush=True)
            else:
                extra = " shots=%d" % ev["shots"] if "shots" in ev else ""
                print("%s %8.3f s  %-11s %6.3f s  %6.1f dBFS  conf %3d%s" % (
                    ev["file"], ev["onset_s"], ev["class"], ev["duration_s"], ev["peak_dbfs"], ev["confidence"],
                    extra), flush=True)
    if not args.json:
        print("%d event(s) in %d file(s)" % (n, len(args.files)), file=sys.stderr)
    return rc


def cmd_eval(args):
    from host_tools import evaluate
    res = evaluate.run(out_dir=args.out, quick=args.quick, hours=args.hours, with_cost=not args.no_cost)
    if args.json:
        print(json.dumps({"targets": res["targets"], "parity": res["parity"]["all_identical"],
                          "false_alarms_per_hour": res["false_alarms"]["per_hour"]}))
    else:
        with open(args.out.rstrip("/") + "/report.md") as f:
            print(f.read())
    return 0 if res["parity"]["all_identical"] else EXIT_FAIL


def register(sub):
    p = sub.add_parser("detect", help="detect gunshots, screams and glass breaks in WAV files")
    p.add_argument("files", nargs="+", metavar="FILE.wav", help="WAV files, or folders of them (searched recursively)")
    p.add_argument("--engine", choices=("firmware", "reference"), default="reference",
                   help="firmware: the node code on the MicroPython unix port; reference: numpy model")
    p.add_argument("--json", action="store_true", help="one JSON object per event")
    p.add_argument("--no-lead-in", action="store_true", help="do not prepend the quiet lead-in (docs/detector.md)")
    p.set_defaults(func=cmd_detect)
    p = sub.add_parser("eval", help="evaluate the detector: eval/latest.json, report.md, scene.png")
    p.add_argument("--quick", action="store_true", help="small run (tests, smoke checks)")
    p.add_argument("--hours", type=number(float, 0, lo_open=True),
                   help="hours of background for false alarms (default 24, quick 0.05)")
    p.add_argument("--out", default="eval", help="output folder (default eval/)")
    p.add_argument("--no-cost", action="store_true", help="skip the ESP32 cost measurement")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of the report")
    p.set_defaults(func=cmd_eval)
