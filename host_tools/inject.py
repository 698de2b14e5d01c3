# SPDX-License-Identifier: MIT
"""Push host audio into a node's DSP instead of its microphone (INJECT_*).

Flow control is by credit, like MicroPython's raw-paste mode: INJECT_START answers
with the node's ring size in samples, the host never has more samples in flight
than it holds credit for, and the node returns credit (CREDIT frames) as its DSP
consumes hops.  The node answers INJECT_END once every whole hop went through the
DSP, so every FEATURES and EVENT frame has arrived before inject() returns.
"""
import struct
import time

import numpy as np

from host_tools.errors import NodeToolError, EXIT_PORT, EXIT_PROTOCOL
from host_tools import messages
from node import consts, proto


def inject(link, samples, features=True, events=True, progress=None, on_event=None, timeout=10.0):
    """Inject int16 samples at the node's rate.

    Args:
        link: open Link.  samples: 1-D int16 array.
        features: ask for FEATURES frames.  events: ask for EVENT frames.
        progress: optional callback(samples_sent, total).  on_event: callback(dict).
    Returns:
        dict: samples (consumed by the DSP), frames, features ((F, NFEAT) int64 array in
        frame order), frame_index (their indices), events (list of dicts), seconds,
        missing_frames (indices the host never got).
    """
    x = np.ascontiguousarray(samples, dtype="<i2")
    total = len(x)
    flags = (proto.INJ_FEATURES if features else 0) | (proto.INJ_EVENTS if events else 0)
    t0 = time.monotonic()
    rate, credit = struct.unpack("<II", link.request(proto.INJECT_START, struct.pack("<IB", total, flags)).payload)
    feats, idx, evs = [], [], []
    sent = 0
    last_progress = time.monotonic()

    def take(fr):
        nonlocal credit, last_progress
        if fr.type == proto.CREDIT:
            credit += struct.unpack("<I", fr.payload)[0]
            last_progress = time.monotonic()
        elif fr.type == proto.FEATURES:
            i, nf = struct.unpack_from("<IB", fr.payload)
            idx.append(i)
            feats.append(np.frombuffer(fr.payload, dtype="<i4", count=nf, offset=5))
        elif fr.type == proto.EVENT:
            ev = messages.unpack_event(fr.payload)
            evs.append(ev)
            if on_event:
                on_event(ev)
        elif fr.type == proto.ERROR:
            code, ref, text = messages.unpack_error(fr.payload)
            raise NodeToolError("%s: node error while injecting: %s" % (link.name, text), EXIT_PROTOCOL)

    while sent < total:
        while credit <= 0 or (credit < proto.INJECT_SAMPLES and total - sent > credit):
            fr = link.recv(0.05)
            if fr is not None:
                take(fr)
            elif time.monotonic() - last_progress > timeout:
                raise NodeToolError("%s: injection stalled at %d of %d samples (no credit for %.0f s); %s"
                                    % (link.name, sent, total, timeout, link._describe_rx()), EXIT_PORT)
            link.keepalive()
        k = min(proto.INJECT_SAMPLES, credit, total - sent)
        link.send(proto.INJECT_DATA, struct.pack("<I", sent) + x[sent:sent + k].tobytes())
        sent += k
        credit -= k
        while link.queue or link.ser.in_waiting:
            fr = link.recv(0)
            if fr is None:
                break
            take(fr)
        if progress:
            progress(sent, total)
    end = link.request(proto.INJECT_END, timeout=timeout + total / rate)
    n_done, n_frames, n_events = struct.unpack("<III", end.payload)
    while link.queue:                     # frames that arrived with the answer
        take(link.queue.popleft())
    order = np.argsort(idx, kind="stable")
    f = np.array([feats[i] for i in order], dtype=np.int64).reshape(-1, consts.NFEAT)
    got = set(idx)
    return {"samples": n_done, "frames": n_frames, "node_events": n_events,
            "features": f, "frame_index": [idx[i] for i in order], "events": evs,
            "missing_frames": [i for i in range(n_frames) if i not in got] if features else [],
            "seconds": time.monotonic() - t0, "rate": rate}
