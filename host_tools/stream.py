# SPDX-License-Identifier: MIT
"""Stream a node's raw audio to a WAV (STREAM_START / AUDIO / STREAM_END).

Every AUDIO frame carries the index of its first sample since boot, so the host
knows exactly which samples it lost (gap), or got twice (overlap).  Gaps are filled
with zeros in the WAV so it stays aligned with the node's clock, and reported.
"""
import struct
import time

import numpy as np

from host_tools.audio_io import WavWriter
from host_tools.errors import NodeToolError, EXIT_PORT
from host_tools import messages
from node import proto


class StreamResult(dict):
    """samples, expected, dropped (host-detected gaps), duplicated, node_dropped,
    first_index, bytes (all bytes received during the stream), payload_bytes,
    overhead (share of bytes that were not sample data), seconds, rate, partial."""


def pattern(start, n):
    """The PatternSource signal (node/audio.py): int16 samples ``start .. start+n-1``."""
    i = np.arange(start, start + n, dtype=np.uint64)
    x = ((i * np.uint64(22695477) + np.uint64(1)) >> np.uint64(16)) & np.uint64(0xFFFF)
    return x.astype(np.uint16).view(np.int16)


def stream(link, seconds, out_path=None, on_samples=None, progress=None, timeout=5.0):
    """Record ``seconds`` of audio from the node.

    Args:
        link: an open host_tools.link.Link.
        seconds: length; the node stops by itself after exactly that many samples.
        out_path: WAV file to write (kept valid, holding every sample so far, if the
            device disappears), or None.
        on_samples: optional callback(index, int16 array) per AUDIO frame.
        progress: optional callback(samples_so_far, total).
    Returns:
        StreamResult.
    Raises:
        NodeToolError: the device stopped answering (the partial WAV is kept).
    """
    rate = link.info["rate"] if link.info else link.get_info()["rate"]
    total = int(round(seconds * rate))
    rx0 = link.rx_bytes
    t0 = time.monotonic()
    f = link.request(proto.STREAM_START, struct.pack("<I", total))
    rate, first = struct.unpack("<II", f.payload)
    res = StreamResult(rate=rate, expected=total, first_index=first, samples=0, dropped=0,
                       duplicated=0, node_dropped=0, gaps=[], partial=False)
    wav = WavWriter(out_path, rate) if out_path else None
    expect = None
    last_flush = last_data = time.monotonic()
    got = 0
    try:
        while True:
            fr = link.recv(0.2)
            link.keepalive()
            now = time.monotonic()
            if fr is None:
                if now - last_data > timeout:
                    raise NodeToolError("%s: stream stalled: no AUDIO for %.0f s after %d of %d samples; %s"
                                        % (link.name, timeout, got, total, link._describe_rx()), EXIT_PORT)
                continue
            if fr.type == proto.AUDIO:
                last_data = now
                idx = struct.unpack_from("<I", fr.payload)[0]
                x = np.frombuffer(fr.payload, dtype="<i2", offset=4)
                if expect is None:
                    expect = idx
                    if idx != first:
                        res["gaps"].append((first, idx - first))
                        res["dropped"] += (idx - first) & 0xFFFFFFFF
                d = (idx - expect + (1 << 31)) % (1 << 32) - (1 << 31)      # wrap-safe
                if d > 0:                      # samples the host never saw
                    res["dropped"] += d
                    res["gaps"].append((expect, d))
                    if wav:
                        wav.write(np.zeros(d, np.int16))
                elif d < 0:                    # repeated samples: keep only the new ones
                    res["duplicated"] += min(-d, len(x))
                    x = x[-d:]
                got += len(x)
                expect = (idx + len(fr.payload) // 2 - 2) & 0xFFFFFFFF
                if len(x):
                    if wav:
                        wav.write(x)
                    if on_samples:
                        on_samples(expect - len(x), x)
                if progress:
                    progress(got, total)
                if wav and now - last_flush > 0.5:
                    wav.flush()
                    last_flush = now
            elif fr.type == proto.STREAM_END:
                sent, nd = struct.unpack("<II", fr.payload[:8])
                res["node_sent"], res["node_dropped"] = sent, nd
                break
            elif fr.type == proto.ERROR:
                code, ref, text = messages.unpack_error(fr.payload)
                raise NodeToolError("%s: node error during stream: %s" % (link.name, text), EXIT_PORT)
    except NodeToolError as e:
        res["partial"] = True
        e.result = res
        raise
    finally:
        if wav:
            wav.close()
        res["samples"] = got
        res["seconds"] = time.monotonic() - t0
        res["bytes"] = link.rx_bytes - rx0
        res["payload_bytes"] = 2 * got
        res["overhead"] = 1 - 2 * got / res["bytes"] if res["bytes"] else 0.0
    return res


def record(link, seconds, progress=None):
    """``seconds`` of the node's audio in memory: (int16 samples, StreamResult with ``lost``:
    the samples the host saw missing plus those the node dropped)."""
    chunks = []
    res = stream(link, seconds, on_samples=lambda idx, x: chunks.append(np.array(x, dtype=np.int16)),
                 progress=progress)
    res["lost"] = res["dropped"] + res["node_dropped"]
    return (np.concatenate(chunks) if chunks else np.zeros(0, np.int16)), res
