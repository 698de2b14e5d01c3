# SPDX-License-Identifier: MIT
# The node application: asyncio wiring of audio source -> DSP -> detector and the
# serial link (requests, streaming, injection).  Protocol: docs/protocol.md.
#
# Tasks:  rx       reads the port, dispatches requests (answers go out at once)
#         audio    one hop at a time from the mic (or the inject ring) through the
#                  DSP and detector; streams AUDIO, sends FEATURES / EVENT / LEVEL
#         session  uptime, and ends a session after SESSION_TIMEOUT_MS of silence
# A session starts with any valid frame from the host (normally HELLO) and turns
# Ctrl-C into data; it ends on BYE or silence and Ctrl-C interrupts the app again,
# which is how mpremote takes the port back.
import gc
import json
import os
import struct
import sys
import time
from array import array

import asyncio
from micropython import const

from node import audio, cobs, config, consts, events, evlog, proto
from node.link import Link

if sys.platform == "linux":
    from node.board import unix as board
else:
    from node.board import esp32 as board

try:
    from node.dsp import DSP
except ImportError:   # firmware built without the DSP: link and audio still work
    DSP = None
_DET_ERR = None
gc.collect()   # the detector's table is the largest module: compiled from source (the virtual
#                node) it needs big free blocks, and the imports before it leave the heap fragmented
try:
    from node.detect import Detector
except ImportError:   # detector not there yet: no EVENTs
    Detector = None
except MemoryError as e:  # the node still streams and answers; INFO shows no detector
    Detector = None
    _DET_ERR = "detector not loaded: MemoryError %s" % e

CONFIG_FILE = "config.json"
_RING = const(2048)           # inject ring, samples (= initial credit)
_CREDIT_BATCH = const(1024)   # return credit in steps of this many samples
_AS = const(1024)            # proto.AUDIO_SAMPLES


def load_config():
    try:
        with open(CONFIG_FILE) as f:
            return config.validate(json.load(f)), None
    except OSError:
        return config.defaults(), None
    except (ValueError, config.ConfigError) as e:   # corrupt file: defaults, say why
        return config.defaults(), "config.json ignored: %s" % e


def save_config(cfg):
    with open(CONFIG_FILE + ".tmp", "w") as f:
        json.dump(cfg, f)
    os.rename(CONFIG_FILE + ".tmp", CONFIG_FILE)


class App:
    def __init__(self):
        gc.collect()              # the compiler's garbage: big buffers need whole blocks
        self.port = board.Port()
        self.link = Link(self.port, self.on_frame)
        self.c = self.link.counters
        self.cfg, self.boot_msg = load_config()
        if _DET_ERR:
            self.note(_DET_ERR)
        self.session = False
        self.uptime = 0
        self.t_last = time.ticks_ms()
        self.monitor_ms = 0
        self.t_level = 0
        self.reboot = False
        self.inj_flags = 0
        self.inj_events = 0
        self.handlers = {
            proto.HELLO: self.h_hello, proto.INFO: self.h_info, proto.PING: self.h_ping,
            proto.CONFIG_GET: self.h_config_get, proto.CONFIG_SET: self.h_config_set,
            proto.STREAM_START: self.h_stream_start, proto.STREAM_STOP: self.h_stream_stop,
            proto.INJECT_START: self.h_inject_start, proto.INJECT_DATA: self.h_inject_data,
            proto.INJECT_END: self.h_inject_end, proto.MONITOR: self.h_monitor,
            proto.REBOOT: self.h_reboot, proto.BYE: self.h_bye,
            proto.EVLOG_GET: self.h_evlog_get, proto.EVLOG_CLEAR: self.h_evlog_clear,
            proto.EVLOG_TIME: self.h_evlog_time, proto.CLIP_GET: self.h_clip_get,
        }
        self.abuf = bytearray(2 + 4 + 2 * _AS + 4)             # AUDIO frame
        self.abuf[0] = proto.AUDIO
        self.fbuf = bytearray(2 + 5 + 4 * consts.NFEAT + 4)    # FEATURES frame
        self.fbuf[0] = proto.FEATURES
        self.ebuf = bytearray(2 + proto.EVENT_LEN + 4)         # EVENT frame
        self.ebuf[0] = proto.EVENT
        gc.collect()
        try:
            self.ring = audio.InjectRing(_RING)
        except MemoryError as e:      # the detector's table took the room the node needs first
            self.drop_detector(e)
            self.ring = audio.InjectRing(_RING)
        self.setup()
        # the event log after the DSP and detector: their large buffers take whole blocks first
        self.evlog = None
        try:
            self.evlog = evlog.EventLog()
        except (OSError, MemoryError) as e:   # the node still detects and reports live; LOG says why
            self.note("event log not available: %s %s" % (type(e).__name__, e))
        gc.collect()

    def drop_detector(self, e):
        # short of heap: the node streams, injects and answers without a detector, and says so.
        # Its modules (the table alone is ~30 KB) go, and their globals with them (a stale word
        # on the C stack could keep a module alive, main.drop_app); no later set-up retries it
        global Detector
        self.det = None
        if Detector is not None:
            Detector = None
            for k in ("node.detect", "node.detect_table", "node.detect_kern"):
                m = sys.modules.pop(k, None)
                if m is not None:
                    m.__dict__.clear()
            self.note("detector not loaded: MemoryError %s" % e)
        gc.collect()

    def note(self, why):
        # what the node could not do, said in a LOG at the next HELLO (or CONFIG_SET's rebuild)
        self.boot_msg = self.boot_msg + "; " + why if self.boot_msg else why

    def say_notes(self):
        if self.boot_msg:
            self.link.log(self.boot_msg)
            self.boot_msg = None

    def setup(self):
        # (re)build everything that depends on the config; stops stream / injection
        cfg = self.cfg
        self.streaming = False
        self.injecting = False
        self.hop = array("h", bytes(2 * cfg["hop"]))
        if getattr(self, "clips", None) is not None:
            self.clips.close()
        self.dsp = self.det = self.clips = None
        gc.collect()
        if DSP is not None:
            try:
                self.dsp = DSP(cfg)
            except MemoryError as e:
                self.drop_detector(e)     # the DSP comes first: without it the detector has no input
                try:
                    self.dsp = DSP(cfg)
                except MemoryError as e:  # the link and the raw audio stream still work
                    self.note("DSP not started: MemoryError %s" % e)
            gc.collect()        # the DSP's set-up garbage, before the detector's ~115 attributes
        if Detector is not None and self.dsp is not None:   # grow its instance table to 2 KB in steps
            try:                                            # that need whole blocks
                self.det = Detector(cfg)
            except MemoryError as e:
                self.drop_detector(e)
        self.src = board.mic(cfg)
        self.det_base = 0        # sample index the detector's onsets count from
        self.fault_n = (cfg["mic_fault_s"] * cfg["rate"] + cfg["hop"] - 1) // cfg["hop"]   # frames (0: off)
        self.fault_frames = self.fault_kind = self.fault_peak = 0
        # the mic's own level, before gain: above -15 dBFS all the time is no street; with a
        # negative gain a quiet street itself can round to zeros, so "no signal" is not watched
        self.fault_loud = 100 * cfg["gain_db"] - 1500
        self.fault_zero = cfg["gain_db"] >= 0
        gc.collect()
        if self.det is not None and cfg["clip_ms"]:  # audio around logged events (imported here,
            try:                     # after the detector: the compiler's peak is past)
                from node import clip
                self.clips = clip.Clips(cfg)
            except MemoryError as e:     # events are still detected and logged; LOG says why
                self.note("no event clips: MemoryError %s" % e)
            gc.collect()

    # ---- frames from the host
    def on_frame(self, typ, seq, buf, n):
        if not self.session:
            self.session = True
            self.port.kbd_intr(False)
            self.c[proto.C_SESSIONS] += 1
        h = self.handlers.get(typ)
        if h is None:
            self.c[proto.C_RX_UNKNOWN] += 1
            self.link.error(seq, proto.E_UNKNOWN, typ, "unknown type 0x%02x" % typ)
            return
        try:
            h(seq, buf, n)
        except ValueError as e:          # struct / json / range problems
            self.bad(seq, proto.E_RANGE, typ, str(e))
        except Exception as e:
            self.bad(seq, proto.E_INTERNAL, typ, "%s: %s" % (type(e).__name__, e))

    def bad(self, seq, code, typ, why):
        self.c[proto.C_RX_BAD_PAYLOAD] += 1
        self.link.error(seq, code, typ, why)

    def need(self, seq, typ, n, want):
        if n != want:
            self.bad(seq, proto.E_LENGTH, typ, "payload %d bytes, expected %d" % (n, want))
            return False
        return True

    def info(self, seq, typ):
        self.tick()
        caps = (proto.CAP_DSP if self.dsp else 0) | (proto.CAP_DETECT if self.det else 0)
        p = proto.pack_info(proto.config_hash(self.cfg), self.uptime, board.free_heap(),
                            self.cfg["rate"], caps, self.c, consts.FW_VERSION, board.NAME, board.uid())
        self.link.reply(typ | proto.RESPONSE, seq, p, len(p))

    def h_hello(self, seq, buf, n):
        if self.need(seq, proto.HELLO, n, 6):
            self.info(seq, proto.HELLO)
            self.say_notes()

    def h_info(self, seq, buf, n):
        if self.need(seq, proto.INFO, n, 0):
            self.info(seq, proto.INFO)

    def h_ping(self, seq, buf, n):
        self.tick()
        struct.pack_into("<I", self.link.tx, 2, self.uptime & 0xFFFFFFFF)
        self.link.reply(proto.PING | proto.RESPONSE, seq, None, 4)

    def send_json(self, typ, seq, obj):
        b = json.dumps(obj).encode()
        self.link.reply(typ | proto.RESPONSE, seq, b, len(b))

    def h_config_get(self, seq, buf, n):
        if self.need(seq, proto.CONFIG_GET, n, 0):
            self.send_json(proto.CONFIG_GET, seq, self.cfg)

    def h_config_set(self, seq, buf, n):
        try:
            new = json.loads(bytes(buf[2:2 + n]))
            if not isinstance(new, dict):
                raise config.ConfigError("expected a JSON object")
            merged = dict(self.cfg)
            merged.update(new)
            cfg = config.validate(merged)
        except (ValueError, config.ConfigError) as e:   # ConfigError is a ValueError
            self.bad(seq, proto.E_CONFIG, proto.CONFIG_SET, str(e))
            return
        save_config(cfg)
        rebuild = any(cfg[k] != self.cfg[k] for k in ("rate", "frame", "hop", "gain_db", "clip_ms", "mic_fault_s"))
        self.cfg = cfg
        if rebuild:
            self.setup()
            self.say_notes()               # what the rebuild could not do (clips: no heap)
        self.send_json(proto.CONFIG_SET, seq, cfg)

    def h_stream_start(self, seq, buf, n):
        if not self.need(seq, proto.STREAM_START, n, 4):
            return
        if self.injecting:
            self.bad(seq, proto.E_STATE, proto.STREAM_START, "injecting")
            return
        self.stream_left = struct.unpack_from("<I", buf, 2)[0]
        self.stream_limited = self.stream_left > 0
        self.stream_sent = 0
        self.stream_drop0 = self.src.dropped
        self.afill = 0
        self.streaming = True
        self.src.pacer.fast = True
        struct.pack_into("<II", self.link.tx, 2, self.cfg["rate"], self.src.index)
        self.link.reply(proto.STREAM_START | proto.RESPONSE, seq, None, 8)

    def stream_end(self, typ, seq):
        if self.afill:
            self.flush_audio()
        self.streaming = False
        self.src.pacer.fast = False
        struct.pack_into("<II", self.link.tx, 2, self.stream_sent,
                         self.src.dropped - self.stream_drop0)
        self.link.reply(typ, seq, None, 8)

    def h_stream_stop(self, seq, buf, n):
        if not self.streaming:
            struct.pack_into("<II", self.link.tx, 2, 0, 0)
            self.link.reply(proto.STREAM_STOP | proto.RESPONSE, seq, None, 8)
        else:
            self.stream_end(proto.STREAM_STOP | proto.RESPONSE, seq)

    def h_inject_start(self, seq, buf, n):
        if not self.need(seq, proto.INJECT_START, n, 5):
            return
        if self.streaming:
            self.bad(seq, proto.E_STATE, proto.INJECT_START, "streaming")
            return
        self.inj_flags = buf[6]
        self.ring.reset()
        self.inj_next = 0          # offset the next INJECT_DATA must start at
        self.inj_done = 0          # samples through the DSP
        self.inj_events = 0
        self.inj_end = 0           # seq of a pending INJECT_END
        self.credit = 0
        if self.dsp:
            self.dsp.reset()
        if self.det:
            self.det.reset()       # as new, without a second detector on the heap
        self.injecting = True
        struct.pack_into("<II", self.link.tx, 2, self.cfg["rate"], _RING)
        self.link.reply(proto.INJECT_START | proto.RESPONSE, seq, None, 8)

    def h_inject_data(self, seq, buf, n):
        if not self.injecting or self.inj_end:
            self.bad(seq, proto.E_STATE, proto.INJECT_DATA, "no injection running")
            return
        k = (n - 4) >> 1
        if n < 4 or n & 1 or k > proto.INJECT_SAMPLES:
            self.bad(seq, proto.E_LENGTH, proto.INJECT_DATA, "bad sample count")
            return
        off = struct.unpack_from("<I", buf, 2)[0]
        if off != self.inj_next or k > self.ring.free():
            self.c[proto.C_INJECT_OVERRUN] += 1
            self.bad(seq, proto.E_OVERFLOW, proto.INJECT_DATA,
                     "offset %d (expected %d), %d samples, credit %d" % (off, self.inj_next, k, self.ring.free()))
            return
        self.ring.put(buf, 6, k)
        self.inj_next += k

    def h_inject_end(self, seq, buf, n):
        if not self.injecting:
            self.bad(seq, proto.E_STATE, proto.INJECT_END, "no injection running")
        else:
            self.inj_end = seq     # answered by the audio task once the ring is drained

    def h_monitor(self, seq, buf, n):
        if self.need(seq, proto.MONITOR, n, 2):
            self.monitor_ms = struct.unpack_from("<H", buf, 2)[0]
            self.link.reply(proto.MONITOR | proto.RESPONSE, seq)

    def h_reboot(self, seq, buf, n):
        self.link.reply(proto.REBOOT | proto.RESPONSE, seq)
        self.reboot = True

    def h_bye(self, seq, buf, n):
        self.link.reply(proto.BYE | proto.RESPONSE, seq)
        self.end_session()

    def end_session(self):
        if self.streaming:
            self.stream_end(proto.STREAM_END, 0)
        self.injecting = False
        self.monitor_ms = 0
        self.session = False
        self.port.kbd_intr(True)

    # ---- audio path (allocation-free per hop)
    def flush_audio(self):
        struct.pack_into("<I", self.abuf, 2, self.a_index)
        self.link.send(self.abuf, 4 + 2 * self.afill)
        self.stream_sent += self.afill
        self.afill = 0

    def stream_hop(self, hop, index):
        n = len(hop)
        if self.stream_limited and n > self.stream_left - self.stream_sent - self.afill:
            n = self.stream_left - self.stream_sent - self.afill
        i = 0
        while i < n:
            if self.afill == 0:
                self.a_index = index + i
            k = min(n - i, _AS - self.afill)
            cobs.copy(self.abuf, 6 + 2 * self.afill, hop, 2 * i, 2 * k)
            self.afill += k
            i += k
            if self.afill == _AS:
                self.flush_audio()
        if self.stream_limited and self.stream_sent + self.afill >= self.stream_left:
            self.stream_end(proto.STREAM_END, 0)

    def process(self, hop, base, injected):
        d = self.dsp
        if d is None or not d.push_hop(hop):
            return
        self.c[proto.C_DSP_FRAMES] += 1
        out = d.out
        if injected and self.inj_flags & proto.INJ_FEATURES:
            struct.pack_into("<IB", self.fbuf, 2, d.frames - 1, consts.NFEAT)
            cobs.copy(self.fbuf, 7, out, 0, 4 * consts.NFEAT)
            self.link.send(self.fbuf, 5 + 4 * consts.NFEAT)
        if self.det is not None:
            # DETECTOR: None or a record laid out as in node/events.py (onset and
            # duration in frames since the detector's reset); sent in samples
            ev = self.det.update(out)
            if ev is not None:
                self.inj_events += injected
                h = self.cfg["hop"]
                self.report(ev, base + ev[1] * h + self.cfg["frame"] - h, ev[2] * h, injected)
        if not injected and self.fault_n:
            self.mic_watch(out)
        if self.monitor_ms and not injected:
            now = time.ticks_ms()
            if time.ticks_diff(now, self.t_level) >= self.monitor_ms:
                self.t_level = now
                t = self.link.tx
                t[0] = proto.LEVEL
                t[1] = 0
                struct.pack_into("<Ihh", t, 2, self.src.index, out[consts.F_PEAK], out[consts.F_RMS])
                self.link.send(t, 8)

    def report(self, ev, onset, duration, injected):
        # an event (node/events.py layout; onset and duration in samples): EVENT to the host,
        # and onto the flash log when the mic heard it
        self.c[proto.C_EVENTS] += 1
        if not injected or self.inj_flags & proto.INJ_EVENTS:
            struct.pack_into(proto.EVENT_FMT, self.ebuf, 2, self.c[proto.C_EVENTS], ev[0],
                             onset, duration, ev[3], ev[4], ev[5], ev[6])
            self.link.send(self.ebuf, proto.EVENT_LEN)
        if not injected:
            self.log_event(ev, onset, duration)

    def mic_watch(self, out):
        # a dead microphone (every sample 0) or one pinned loud (random data: misaligned bits)
        # looks, to the detector, like a quiet street or a loud one: after mic_fault_s of it
        # the node reports a MIC_FAULT event, and its end as a revision (update 1)
        kind = 1 if self.fault_zero and out[consts.F_PEAK] <= consts.FLOOR_CDB else \
            2 if out[consts.F_RMS] > self.fault_loud else 0
        n = self.fault_frames
        if kind and (n == 0 or kind == self.fault_kind):
            self.fault_kind = kind
            self.fault_frames = n + 1
            if n + 1 == self.fault_n:
                self.c[proto.C_MIC_FAULTS] += 1
                self.fault_peak = out[consts.F_PEAK]
                self.fault(0)
            return
        if n >= self.fault_n:
            self.fault(1)
        self.fault_frames = 1 if kind else 0
        self.fault_kind = kind

    def fault(self, update):
        # its start, fault_n frames in, or its end (update 1: this frame is sound again); the
        # onset is the same in both records (the host folds them into one event)
        h = self.cfg["hop"]
        n = self.fault_frames
        self.report((events.MIC_FAULT, 0, 0, self.fault_peak, 100, self.fault_kind, update),
                    self.src.index - (n + update) * h, n * h, 0)

    def log_event(self, ev, onset, duration):
        if self.evlog is None:
            self.c[proto.C_EVLOG_ERRORS] += 1
            return
        try:
            s = self.evlog.add(ev[0], ev[4], ev[5], ev[6], onset, duration, ev[3], self.cfg["cal_cdb"],
                               self.cfg["rate"], self.uptime // 1000)
            if self.clips is not None and not ev[6]:    # a revision keeps its event's clip
                self.clips.want(s, onset)
        except Exception:                  # flash full or failing, or no heap: counted (the live
            self.c[proto.C_EVLOG_ERRORS] += 1  # report went out before)

    def log_for(self, seq, typ, n, want):
        # the event log for a request of payload length want, or None (the error is sent)
        if not self.need(seq, typ, n, want):
            return None
        if self.evlog is None:
            self.bad(seq, proto.E_STATE, typ, "no event log on this node (see its LOG at HELLO)")
        return self.evlog

    def h_evlog_get(self, seq, buf, n):
        lg = self.log_for(seq, proto.EVLOG_GET, n, 5)
        if lg is None:
            return
        since, most = struct.unpack_from("<IB", buf, 2)
        t = self.link.tx
        k = lg.read(since, t, 2 + proto.EVLOG_HDR_LEN, min(most, proto.EVLOG_MAX))
        struct.pack_into(proto.EVLOG_HDR, t, 2, lg.boot, lg.evicted, lg.first(), lg.seq, lg.bad, k)
        self.link.reply(proto.EVLOG_GET | proto.RESPONSE, seq, None, proto.EVLOG_HDR_LEN + proto.EVLOG_REC_LEN * k)

    def h_evlog_time(self, seq, buf, n):
        lg = self.log_for(seq, proto.EVLOG_TIME, n, 6)
        if lg is None:
            return
        sec, ms = struct.unpack_from("<IH", buf, 2)
        if sec:
            self.tick()
            lg.set_time(sec, ms, self.uptime)
        self.link.reply(proto.EVLOG_TIME | proto.RESPONSE, seq, lg.times, len(lg.times))

    def h_evlog_clear(self, seq, buf, n):
        lg = self.log_for(seq, proto.EVLOG_CLEAR, n, 4)
        if lg is None:
            return
        seen = struct.unpack_from("<I", buf, 2)[0]
        if seen != lg.seq:                 # events came after the host read: read them first
            self.bad(seq, proto.E_STATE, proto.EVLOG_CLEAR,
                     "events up to %d logged, host read up to %d: read again before clearing" % (lg.seq - 1, seen - 1))
            return
        struct.pack_into("<I", self.link.tx, 2, lg.clear())
        self.link.reply(proto.EVLOG_CLEAR | proto.RESPONSE, seq, None, 4)

    def h_clip_get(self, seq, buf, n):
        if self.clips is None:
            self.bad(seq, proto.E_STATE, proto.CLIP_GET, "no event clips on this node (config clip_ms is 0; "
                     "else see its LOG at HELLO)")
        else:
            self.clips.answer(self, seq, buf, n)

    async def inject_step(self):
        hop = self.hop
        if self.ring.avail() >= len(hop):
            self.ring.get(hop)
            self.process(hop, 0, 1)
            self.inj_done += len(hop)
            self.credit += len(hop)
            if self.credit >= _CREDIT_BATCH:
                struct.pack_into("<I", self.link.tx, 2, self.credit)
                self.link.reply(proto.CREDIT, 0, None, 4)
                self.credit = 0
            await asyncio.sleep_ms(0)
        elif self.inj_end:
            frames = self.dsp.frames if self.dsp else 0
            struct.pack_into("<III", self.link.tx, 2, self.inj_done, frames, self.inj_events)
            self.link.reply(proto.INJECT_END | proto.RESPONSE, self.inj_end, None, 12)
            self.injecting = False
            if self.dsp:
                self.dsp.reset()
            if self.det is not None:     # back to the mic: onsets count from here
                self.det.reset()
                self.det_base = self.src.index
            self.src.pacer.restart()
        else:
            await asyncio.sleep_ms(1)

    async def audio_task(self):
        while True:
            try:
                if self.injecting:
                    await self.inject_step()
                    continue
                hop = self.hop
                await self.src.read(hop)
                index = self.src.index - len(hop)
                if not self.injecting:
                    if self.clips is not None:
                        self.clips.push(hop, index)
                    self.process(hop, self.det_base, 0)
                    if self.clips is not None:
                        self.clips.after(self)
                    if self.streaming:
                        self.stream_hop(hop, index)
                await asyncio.sleep_ms(0)
            except Exception as e:           # keep the node alive; tell the host
                self.link.log("audio: %s: %s" % (type(e).__name__, e))
                await asyncio.sleep_ms(100)

    async def rx_task(self):
        link = self.link
        while True:
            if link.poll():
                await asyncio.sleep_ms(0)
            else:
                await asyncio.sleep_ms(2)
            if self.reboot:
                await asyncio.sleep_ms(50)
                board.reset()

    def tick(self):
        now = time.ticks_ms()
        self.uptime += time.ticks_diff(now, self.t_last)
        self.t_last = now

    async def session_task(self):
        while True:
            await asyncio.sleep_ms(250)
            self.tick()
            self.c[proto.C_AUDIO_DROPPED] = self.src.dropped
            if self.session and time.ticks_diff(time.ticks_ms(), self.link.last_rx) > proto.SESSION_TIMEOUT_MS:
                self.c[proto.C_SESSION_TIMEOUTS] += 1
                self.end_session()

    async def main(self):
        asyncio.create_task(self.audio_task())
        asyncio.create_task(self.session_task())
        await self.rx_task()


def run():
    # app skeleton of micropython-async TUTORIAL 2.2.4; KeyboardInterrupt (Ctrl-C
    # outside a session) ends the app and leaves the REPL to mpremote
    app = App()
    try:
        asyncio.run(app.main())
    finally:
        app.port.kbd_intr(True)
        asyncio.new_event_loop()
        # the interrupted task (and through it the app: DSP, detector, link buffers) stays
        # asyncio's current task; let it go, so that the REPL and mpremote after it get the heap
        asyncio.core.cur_task = None
