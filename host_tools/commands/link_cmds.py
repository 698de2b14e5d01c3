# SPDX-License-Identifier: MIT
"""Commands that talk to a node over its serial link:
ports, info, config get|set, stream, inject, monitor, events, calibrate, check, hil, sim,
and the two that put software on a node: flash (MicroPython, esptool) and deploy
(this checkout's firmware, mpremote).

Every command takes --port PATH|auto|sim (default auto) and --json; data goes to
stdout, progress bars to stderr (only on a terminal), errors as one line.
"""
import argparse
import contextlib
import json
import os
import re
import sys
import time

from host_tools import ports
from host_tools.commands import number
from host_tools.errors import NodeToolError, EXIT_FAIL, EXIT_USAGE, writable_file
from host_tools import events, messages
from host_tools.vnode import ESP32_HEAP
from node import config, proto


def _progress(label):
    """A progress callback(done, total) drawing on stderr, or None when not a terminal."""
    if not sys.stderr.isatty():
        return None

    def draw(done, total, *_):
        frac = done / total if total else 1.0
        bar = "#" * int(30 * frac)
        sys.stderr.write("\r%s [%-30s] %3d%%" % (label, bar, 100 * frac))
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
    return draw


def _port(args):
    """ports.opened for --port, with --sim-audio and --sim-firmware when it is ``sim``."""
    vargs = {"audio": args.sim_audio, "firmware": args.sim_firmware} if args.port == "sim" else {}
    return ports.opened(args.port, **vargs)


@contextlib.contextmanager
def session(args):
    """Open the node named by --port (starting a virtual node for ``sim``); yields a Link."""
    from host_tools.link import Link
    with _port(args) as path:
        link = Link.open(path, baud=args.baud, timeout=args.timeout)
        try:
            yield link
        finally:
            link.close()


def _emit(args, obj, text):
    sys.stdout.write((json.dumps(obj) if args.json else text) + "\n")
    sys.stdout.flush()


def cmd_ports(args):
    ps = ports.all_ports()
    _emit(args, ps, "\n".join("%s%s  %s" % (p["device"], " *" if p["likely"] else "", p["description"])
                              for p in ps) or "no serial ports")
    return 0


def cmd_info(args):
    with session(args) as link:
        info = link.get_info()
        info["port"] = link.name
    c = info["counters"]
    text = ["port       %s" % info["port"],
            "board      %s  id %s" % (info["board"], info["uid"]),
            "firmware   %s  protocol %d" % (info["firmware"], info["proto_version"]),
            "config     hash %s  rate %d Hz" % (info["config_hash"], info["rate"]),
            "uptime     %.1f s  free heap %d bytes" % (info["uptime_ms"] / 1000, info["free_heap"]),
            "running    DSP %s  detector %s" % tuple("yes" if info[k] else "no" for k in ("dsp", "detector")),
            "counters   " + "  ".join("%s=%d" % kv for kv in c.items())]
    _emit(args, info, "\n".join(text))
    return 0


def _parse_setting(s):
    if "=" not in s:
        raise NodeToolError("config set: expected KEY=VALUE, got %r" % s, EXIT_USAGE)
    k, v = s.split("=", 1)
    spec = config.SCHEMA.get(k)
    if spec is None:
        raise NodeToolError("config set: unknown key %r (known: %s)" % (k, ", ".join(sorted(config.SCHEMA))),
                            EXIT_USAGE)
    if spec[1] is int:
        try:
            v = int(v)
        except ValueError:
            raise NodeToolError("config set: %s needs an integer, got %r" % (k, v), EXIT_USAGE)
    try:
        config.check_key(k, v)
    except config.ConfigError as e:
        raise NodeToolError("config set: %s" % e, EXIT_USAGE)
    return k, v


def cmd_config(args):
    changes = dict(_parse_setting(s) for s in args.settings) if args.action == "set" else None
    if args.action == "set" and not changes:
        raise NodeToolError("config set: give KEY=VALUE pairs", EXIT_USAGE)
    with session(args) as link:
        cfg = link.config_set(changes) if changes else link.config_get()
    _emit(args, cfg, "\n".join("%-8s %s" % kv for kv in sorted(cfg.items())))
    return 0


def cmd_stream(args):
    from host_tools import stream
    writable_file(args.output, "WAV file")
    with session(args) as link:
        try:
            r = stream.stream(link, args.seconds, args.output, progress=_progress("stream"))
        except NodeToolError as e:
            r = getattr(e, "result", None)
            if r is not None:
                sys.stderr.write("sednode: partial WAV %s kept: %d samples, %d dropped\n"
                                 % (args.output, r["samples"], r["dropped"]))
            raise
    r.pop("gaps", None)
    text = ("%d samples (%.2f s at %d Hz) to %s; dropped %d (host-detected) + %d (node); duplicated %d; "
            "%d bytes, overhead %.2f%%" % (r["samples"], r["samples"] / r["rate"], r["rate"], args.output,
                                           r["dropped"], r["node_dropped"], r["duplicated"], r["bytes"],
                                           100 * r["overhead"]))
    _emit(args, r, text)
    return 0 if not (r["dropped"] or r["duplicated"]) else EXIT_FAIL


def cmd_inject(args):
    from host_tools import audio_io, inject
    with session(args) as link:
        x = audio_io.load_for_node(args.file, link.info["rate"])
        r = inject.inject(link, x, features=not args.no_features, progress=_progress("inject"))
    f = r.pop("features")
    out = {"file": args.file, "samples": r["samples"], "frames": r["frames"], "events": r["events"],
           "missing_frames": r["missing_frames"], "seconds": r["seconds"]}
    if args.json:
        out["features"] = f.tolist()
        _emit(args, out, "")
        return 0
    lines = ["%s: %d samples, %d frames, %d events, %.2f s" % (args.file, r["samples"], r["frames"],
                                                            len(r["events"]), r["seconds"])]
    for ev in r["events"]:
        lines.append("EVENT %-8s onset %.3f s  duration %.3f s  peak %.1f dBFS  confidence %d  shots %d" % (
            events.class_name(ev["class_id"]),
            ev["onset"] / r["rate"], ev["duration"] / r["rate"], ev["peak_cdb"] / 100, ev["confidence"],
            ev["shots"]))
    if args.features:
        for i, row in enumerate(f):
            lines.append("%5d " % i + " ".join("%6d" % v for v in row))
    _emit(args, out, "\n".join(lines))
    return 0


def cmd_monitor(args):
    import struct
    end = time.monotonic() + args.seconds if args.seconds else None
    with session(args) as link:
        rate = link.info["rate"]
        cal = link.config_get()["cal_cdb"]          # 0: not calibrated (sednode calibrate)
        link.request(proto.MONITOR, struct.pack("<H", args.interval))
        try:
            while end is None or time.monotonic() < end:
                fr = link.recv(0.2)
                link.keepalive()
                if fr is None:
                    continue
                if fr.type == proto.LEVEL:
                    idx, peak, rms = struct.unpack("<Ihh", fr.payload)
                    obj = {"type": "level", "t_s": idx / rate, "peak_db": peak / 100, "rms_db": rms / 100,
                           "rms_db_spl": (rms + cal) / 100 if cal else None}
                    bar = "#" * max(0, int((rms / 100 + 90) / 2))
                    spl = "  %5.1f dB SPL" % ((rms + cal) / 100) if cal else ""
                    _emit(args, obj, "%9.2f s  peak %6.1f dB  rms %6.1f dB%s  %s" % (idx / rate, peak / 100,
                                                                                   rms / 100, spl, bar))
                elif fr.type == proto.EVENT:
                    ev = messages.unpack_event(fr.payload)
                    ev["type"] = "event"
                    ev["class"] = events.class_name(ev["class_id"])
                    _emit(args, ev, "EVENT %s" % ev)
        except KeyboardInterrupt:
            pass
        link.request(proto.MONITOR, struct.pack("<H", 0))
    return 0


def cmd_events(args):
    with session(args) as link:
        head, recs = events.read_log(link, args.since)
        boot_now = head["boot"]
        starts = events.sync_time(link)
        cleared = None
        if args.clear:
            cleared, newer = events.clear_log(link, head)
            recs += newer
        shown = recs if args.revisions else events.fold(recs)
        rows = [events.describe(r, starts) for r in shown]
        if args.clips:
            events.save_clips(link, rows, args.clips)
    summary = {"records": len(recs), "events": len(rows), "evicted": head["evicted"], "bad": head["bad"],
               "boot": boot_now, "next_seq": head["next"], "cleared": cleared}
    if args.json:
        for d in rows:
            _emit(args, d, "")
        sys.stderr.write("sednode events: %s\n" % json.dumps(summary))
    else:
        for d in rows:
            sys.stdout.write(events.line(d) + "\n")
            if args.clips:
                sys.stdout.write("       clip: %s\n" % ("%s (onset at %.3f s)" % (d["clip"], d["clip_onset_s"])
                                                        if d["clip"] else "none, " + d["clip_error"]))
        note = "%d event%s (%d record%s) since #%d; node boot %d" % (
            len(rows), "" if len(rows) == 1 else "s", len(recs), "" if len(recs) == 1 else "s", args.since, boot_now)
        if any(d["time_utc"] is None for d in rows):
            note += "; no time for events of a boot no host told the time"
        if head["evicted"]:
            note += "; %d older records evicted (log full)" % head["evicted"]
        if head["bad"]:
            note += "; %d damaged records skipped" % head["bad"]
        if cleared is not None:
            note += "; %d records cleared on the node" % cleared
        sys.stderr.write("sednode events: %s\n" % note)
    return 0


def cmd_calibrate(args):
    from host_tools import calibrate
    with session(args) as link:
        r = calibrate.calibrate(link, args.ref_db, args.freq, args.seconds, progress=_progress("calibrate"))
        if args.apply:
            link.config_set({"cal_cdb": r["cal_cdb"]})
        r["applied"] = bool(args.apply)
    for w in r["warnings"]:
        sys.stderr.write("sednode calibrate: warning: %s\n" % w)
    text = ["tone       %.1f Hz, %.2f dBFS (%.1f%% of the power, steady within %.2f dB over %.2f s)"
            % (r["freq_hz"], r["level_dbfs"], 100 * r["share"], r["wander_db"], r["seconds"]),
            "reference  %g dB SPL: sensitivity %.2f dBFS at 94 dB SPL (gain_db %d)"
            % (r["ref_db"], r["sensitivity_dbfs"], r["gain_db"]),
            "cal_cdb    %d (dB SPL = dBFS + %.2f; was %d)%s"
            % (r["cal_cdb"], r["cal_cdb"] / 100, r["cal_cdb_before"],
               ", saved on the node" if args.apply else "; --apply saves it on the node")]
    _emit(args, r, "\n".join(text))
    return 0


def cmd_check(args):
    from host_tools import miccheck
    with session(args) as link:
        r = miccheck.check(link, args.seconds, progress=_progress("check"))
    spl = lambda k: " (%.1f dB SPL)" % r[k + "_db_spl"] if r["cal_cdb"] else ""    # noqa: E731
    text = ["level      %.1f dBFS%s over %.2f s; quietest tenth %.1f dBFS%s, loudest tenth %.1f dBFS%s"
            % (r["level_dbfs"], spl("level"), r["seconds"], r["floor_dbfs"], spl("floor"), r["loud_dbfs"],
               spl("loud")),
            "samples    peak %.1f dBFS, DC %.2f%%, %.3f%% at full scale, %.1f%% exactly 0, %d lost"
            % (r["peak_dbfs"], 100 * r["dc"], 100 * r["clipped"], 100 * r["zeros"], r["lost"])]
    text += ["FAIL       " + f for f in r["failures"]] + ["warning    " + w for w in r["warnings"]]
    text.append("microphone %s" % ("OK" if r["ok"] else "FAILED"))
    _emit(args, r, "\n".join(text))
    return 0 if r["ok"] else EXIT_FAIL


def _say(msg):
    sys.stderr.write("sednode: %s\n" % msg)


def cmd_flash(args):
    from host_tools import deploy
    if args.port == "sim":
        raise NodeToolError("flash: a virtual node has no flash chip; its firmware is this checkout's "
                            "(sednode deploy copies it onto a node)", EXIT_USAGE)
    deploy.check_image(args.image, args.chip)           # before the port is looked up
    with ports.opened(args.port) as path:
        deploy.flash(path, args.image, args.chip, args.flash_baud, args.erase, log=_say)
    _emit(args, {"port": path, "image": args.image, "chip": args.chip, "erased": args.erase},
          "MicroPython written to %s; next: sednode deploy --port %s" % (path, path))
    return 0


def cmd_deploy(args):
    from host_tools import deploy
    firmware = args.firmware or deploy.FIRMWARE
    deploy.firmware_files(firmware)                     # a wrong folder is refused before the port
    with _port(args) as path:
        r = deploy.deploy(path, firmware, log=_say, mpy=args.mpy)
    _emit(args, r, "%d files (%d bytes, %s) deployed to %s and checked; the node runs firmware %s, protocol %d"
          % (r["files"], r["bytes"], r["format"], r["port"], r["firmware"], r["proto_version"]))
    return 0


def cmd_hil(args):
    from host_tools import hil
    if args.junit:
        writable_file(args.junit, "JUnit XML file")
    with session(args) as link:
        rate = link.info["rate"]
        if not link.info.get("detector"):
            sys.stderr.write("sednode: note: the node reports no detector; EVENTs are not compared\n")
        cases = hil.load_files(args.files, rate) if args.files else hil.default_suite(rate)
        prog = _progress("hil")
        rows = hil.run(link, cases, progress=prog)
        if prog:
            prog(len(cases), len(cases))
        port = link.name
    if args.junit:
        hil.junit(rows, args.junit, port)
    ok = all(r["ok"] for r in rows)
    _emit(args, {"ok": ok, "port": port, "results": rows}, hil.table(rows))
    if not ok:
        sys.stderr.write("sednode: HIL FAILED: %d of %d signals differ from the reference\n"
                         % (sum(not r["ok"] for r in rows), len(rows)))
    return 0 if ok else EXIT_FAIL


def _heap(text):
    # argparse type of --heap: what micropython's -X heapsize takes, within reason
    m = re.fullmatch(r"(\d+)([KkMm]?)", text)
    n = int(m.group(1)) << {"": 0, "k": 10, "m": 20}[m.group(2).lower()] if m else 0
    if not 64 << 10 <= n <= 64 << 20:
        raise argparse.ArgumentTypeError("%r: give bytes, K or M between 64K and 64M (e.g. 192K)" % text)
    return text.upper()


def cmd_sim(args):
    from host_tools.vnode import VirtualNode, serve_forever
    node = VirtualNode(audio=args.audio, loop=not args.once, realtime=args.realtime, flash=args.flash,
                       firmware=args.firmware, baud=args.emulate_baud, heap=args.heap,
                       log=lambda m: sys.stderr.write("sednode sim: %s\n" % m))
    with node:
        sys.stderr.write("sednode sim: virtual node on %s, flash %s; Ctrl-C to stop\n" % (node.port, node.flash))
        serve_forever(node)
    return 0


def _common(p):
    p.add_argument("--port", default=os.environ.get("SEDNODE_PORT", "auto"),
                   help="device path or URL, 'auto' (the one connected board, default) or 'sim' (virtual node)")
    p.add_argument("--baud", type=number(int, 1), default=921600, help="baud rate (default 921600)")
    p.add_argument("--timeout", type=number(float, 0, lo_open=True), default=3.0,
                   help="seconds to wait for an answer (default 3)")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.add_argument("--sim-audio", default="pattern",
                   help="with --port sim: silence, pattern (default), a WAV file or scene:SEED")
    p.add_argument("--sim-firmware", default=None, help="with --port sim: firmware folder (default: firmware/)")


def register(sub):
    p = sub.add_parser("ports", help="list serial ports (* = looks like an ESP32 board)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ports)

    p = sub.add_parser("info", help="the node's identity, uptime, heap and link counters")
    _common(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("config", help="read or change the node's config")
    p.add_argument("action", choices=("get", "set"))
    p.add_argument("settings", nargs="*", metavar="KEY=VALUE")
    _common(p)
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("stream", help="record the node's raw audio to a WAV")
    p.add_argument("--seconds", type=number(float, 0, lo_open=True), required=True)
    p.add_argument("-o", "--output", required=True, help="WAV file to write")
    _common(p)
    p.set_defaults(func=cmd_stream)

    p = sub.add_parser("inject", help="feed a WAV into the node's DSP; print its events (and features)")
    p.add_argument("file")
    p.add_argument("--features", action="store_true", help="print every frame's features")
    p.add_argument("--no-features", action="store_true", help="do not ask the node for FEATURES")
    _common(p)
    p.set_defaults(func=cmd_inject)

    p = sub.add_parser("monitor", help="live level meter and events")
    p.add_argument("--seconds", type=number(float, 0), default=0, help="stop after this long (default: until Ctrl-C)")
    p.add_argument("--interval", type=number(int, 10, 65535), default=200, help="level period, ms (default 200)")
    _common(p)
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser("events", help="the events the node logged on its flash (kept across reboots)")
    p.add_argument("--since", type=number(int, 0, 0xFFFFFFFF), default=0, metavar="SEQ",
                   help="only records numbered SEQ or later (default: all)")
    p.add_argument("--revisions", action="store_true",
                   help="every record, revisions included (default: the last revision of each event)")
    p.add_argument("--clear", action="store_true",
                   help="after reading, drop the records read from the node (never one not read)")
    p.add_argument("--clips", metavar="DIR",
                   help="also save each event's audio clip (clip_ms/2 before its onset to clip_ms/2 after, at "
                        "half the node's rate; the node must have clips on) into DIR as SEQ-CLASS.wav")
    _common(p)
    p.set_defaults(func=cmd_events)

    p = sub.add_parser("calibrate", help="derive the node's dB SPL offset (cal_cdb) from a calibrator's tone")
    p.add_argument("--ref-db", type=number(float, 30, 150), default=94.0,
                   help="the calibrator's level, dB SPL (default 94)")
    p.add_argument("--freq", type=number(float, 50, 7000), default=1000.0, help="its frequency, Hz (default 1000)")
    p.add_argument("--seconds", type=number(float, 1, 60), default=3.0, help="recording length (default 3)")
    p.add_argument("--apply", action="store_true", help="save the derived cal_cdb in the node's config")
    _common(p)
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("check", help="check the node's microphone: no signal, stuck, miswired, clipping")
    p.add_argument("--seconds", type=number(float, 1, 60), default=5.0, help="recording length (default 5)")
    _common(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("flash", help="write MicroPython's image onto an ESP32 (esptool)")
    p.add_argument("image", help="MicroPython's firmware .bin for the board (micropython.org)")
    p.add_argument("--chip", default="esp32", help="esp32 (default; the boards in hardware/), esp32s2, esp32s3, "
                   "esp32c3, esp32c6")
    p.add_argument("--erase", action="store_true", help="erase the whole flash first (its files too)")
    p.add_argument("--flash-baud", type=number(int, 9600, 3000000), default=460800,
                   help="baud rate while flashing (default 460800)")
    p.add_argument("--port", default=os.environ.get("SEDNODE_PORT", "auto"),
                   help="device path or 'auto' (the one connected board, default)")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.set_defaults(func=cmd_flash)

    p = sub.add_parser("deploy", help="copy this checkout's firmware onto a node, check it, restart it (mpremote)")
    p.add_argument("--firmware", metavar="DIR", help="firmware folder to copy (default: firmware/)")
    p.add_argument("--mpy", action="store_true", help="copy node/ compiled (mpy-cross, for the node's own "
                   "architecture): no compiling on the node, less heap at start-up")
    _common(p)
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("hil", help="inject test signals, compare the device with dsp_reference bit-exactly")
    p.add_argument("files", nargs="*", help="WAV files (default: the bundled suite of signals and scenes)")
    p.add_argument("--junit", metavar="XML", help="write JUnit XML here")
    _common(p)
    p.set_defaults(func=cmd_hil)

    p = sub.add_parser("sim", help="run a virtual node; prints its port path first")
    p.add_argument("--audio", default="silence", help="silence (default), pattern, a WAV file or scene:SEED")
    p.add_argument("--once", action="store_true", help="play the WAV once, then silence (default: loop)")
    p.add_argument("--realtime", action="store_true", help="real-time audio also while streaming")
    p.add_argument("--flash", metavar="DIR", help="keep the node's flash in DIR (default: a temp folder)")
    p.add_argument("--firmware", metavar="DIR", help="firmware folder to run (default: firmware/)")
    p.add_argument("--emulate-baud", type=number(int, 1), default=None, help="limit the link like a UART at this baud")
    p.add_argument("--heap", type=_heap, default=ESP32_HEAP,
                   help="MicroPython heap, e.g. 192K (default %s, an ESP32-WROOM's; event clips need 174K)" % ESP32_HEAP)
    p.set_defaults(func=cmd_sim)
