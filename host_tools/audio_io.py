# SPDX-License-Identifier: MIT
"""WAV input/output and resampling for the host tools (numpy only).

read_wav accepts PCM 8/16/24/32-bit and IEEE float 32/64-bit, mono or multi-channel,
plain or WAVE_FORMAT_EXTENSIBLE, at any sample rate from 1 kHz to 768 kHz (a field recorder's
96 or 192 kHz as well as a phone's 8 kHz).  Anything else raises NodeToolError with a
one-line reason.  load_for_node() returns int16 mono at the node's rate.
"""
import math
import os
import struct
import sys

import numpy as np

from host_tools.errors import NodeToolError

MIN_RATE, MAX_RATE = 1000, 768000     # beyond them a header is more likely corrupt than real
_PCM, _FLOAT, _EXT = 1, 3, 0xFFFE


def _bad(path, why):
    return NodeToolError("%s: not a usable WAV file: %s" % (path, why))


def _other_format(data):
    """The name of a common audio container that is not RIFF/WAVE, from its first bytes, or None."""
    if data[:4] == b"fLaC":
        return "FLAC"
    if data[:4] == b"OggS":
        return "Ogg"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "MP3"
    if data[4:8] == b"ftyp":
        return "MP4/M4A"
    if data[:4] == b"FORM" and data[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    if data[:4] in (b"RF64", b"BW64"):
        return "RF64 (a WAV over 4 GB)"
    return None


def _chunk_at(data, pos):
    """Whether a well-formed RIFF chunk header (four printable characters, a size that fits the
    file) starts at pos."""
    if pos + 8 > len(data):
        return False
    cid, size = struct.unpack_from("<4sI", data, pos)
    return all(32 <= c < 127 for c in cid) and pos + 8 + size <= len(data)


def read_wav(path):
    """Read a WAV file.

    Args:
        path: file path.
    Returns:
        (samples, rate): float64 array of shape (frames, channels) scaled to [-1, 1).
    Raises:
        NodeToolError: missing file, not RIFF/WAVE, unsupported format, truncated data.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise NodeToolError("%s: cannot read: %s" % (path, e.strerror or e))
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        other = _other_format(data)
        if other:
            raise _bad(path, "no RIFF/WAVE header: it is %s; convert it to WAV first (for example "
                             "ffmpeg -i IN OUT.wav)" % other)
        raise _bad(path, "no RIFF/WAVE header")
    pos, fmt, chunk = 12, None, None
    while pos + 8 <= len(data):
        cid, size = struct.unpack_from("<4sI", data, pos)
        body = data[pos + 8: pos + 8 + size]
        if cid == b"fmt ":
            if len(body) < 16:
                raise _bad(path, "fmt chunk too short")
            fmt = struct.unpack_from("<HHIIHH", body, 0)
            if fmt[0] == _EXT:
                if len(body) < 40:
                    raise _bad(path, "extensible fmt chunk too short")
                fmt = (struct.unpack_from("<H", body, 24)[0],) + fmt[1:]
        elif cid == b"data":
            chunk = body          # a truncated file keeps the whole frames that did arrive
            if size == 0 and not _chunk_at(data, pos + 8) and len(data) > pos + 8:
                # a recorder stopped before it wrote the sizes (power loss): the audio follows
                chunk = data[pos + 8:]
                sys.stderr.write("sednode: warning: %s: data chunk size 0 in the header (a recording that "
                                 "was not finalised?); using the %d bytes that follow\n" % (path, len(chunk)))
            elif len(body) < size and size != 0xFFFFFFFF:       # (unknown size: a streamed file)
                sys.stderr.write("sednode: warning: %s: data chunk cut short (%d of %d bytes); using what "
                                 "arrived\n" % (path, len(body), size))
            if fmt is not None or len(body) < size or size == 0:
                break             # (a fmt chunk may follow the data: RIFF allows any order)
        pos += 8 + size + (size & 1)
    if fmt is None:
        raise _bad(path, "no fmt chunk")
    if chunk is None:
        raise _bad(path, "no data chunk")
    tag, nch, rate, _, align, bits = fmt
    if nch < 1 or nch > 8:
        raise _bad(path, "%d channels" % nch)
    if not MIN_RATE <= rate <= MAX_RATE:
        raise _bad(path, "sample rate %d Hz outside %d-%d Hz" % (rate, MIN_RATE, MAX_RATE))
    width = bits // 8
    if tag == _PCM and bits in (8, 16, 24, 32):
        pass
    elif tag == _FLOAT and bits in (32, 64):
        pass
    else:
        raise _bad(path, "format tag %d with %d bits is not supported" % (tag, bits))
    frame_bytes = width * nch
    nframes = len(chunk) // frame_bytes
    if nframes == 0:
        raise _bad(path, "no audio frames")
    raw = chunk[: nframes * frame_bytes]
    if tag == _FLOAT:
        x = np.frombuffer(raw, dtype="<f%d" % width).astype(np.float64)
    elif bits == 8:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif bits == 16:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    elif bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v & 0x800000, v - (1 << 24), v)
        x = v.astype(np.float64) / 8388608.0
    else:
        x = np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2147483648.0
    if not np.all(np.isfinite(x)):
        raise _bad(path, "non-finite float samples")
    peak = float(np.abs(x).max())
    if tag == _FLOAT and peak > 1.0:
        # a float file may run past full scale (an editor's export); scaled, not clipped
        sys.stderr.write("sednode: warning: %s: float samples reach %.2f times full scale; scaled down "
                         "by %.1f dB instead of clipped\n" % (path, peak, 20 * np.log10(peak)))
        x = x / peak
    return x.reshape(nframes, nch), rate


def resample(x, src, dst, half_taps=32):
    """Band-limited resampling of a 1-D float signal with a Kaiser-windowed sinc.

    Args:
        x: 1-D float array.  src, dst: rates in Hz (whole numbers).
    Returns:
        float64 array of length round(len(x) * dst / src).

    Output sample n sits at input position n * src / dst, whose fractional part takes at most
    dst / gcd(src, dst) values (160 from 44.1 kHz to 16 kHz, one from 48 kHz): the filter taps
    are computed once per such phase, not per output sample (the Bessel window dominated the
    cost: 10 minutes of 48 kHz took 52 s, now a few).
    """
    x = np.asarray(x, dtype=np.float64)
    src, dst = int(src), int(dst)
    if src == dst:
        return x.copy()
    nout = int(round(len(x) * dst / src))
    cutoff = min(1.0, dst / src) * 0.95          # relative to the input Nyquist
    # the window spans half_taps input samples a side up to a 3:1 decimation (48 kHz to the node's
    # 16 kHz); a larger ratio widens it in proportion, so that it spans as many output samples
    # and the stopband holds (192 kHz with 32 taps let a 12 kHz tone alias at -27 dB)
    half_taps = max(half_taps, int(np.ceil(half_taps * src / (3.0 * dst))))
    g = math.gcd(src, dst)
    up, down = dst // g, src // g
    pos = np.arange(nout, dtype=np.int64) * down  # output instants in input samples, times up
    base = pos // up
    phase = pos - base * up                      # the instant's fraction is phase / up
    frac = np.arange(up) / up
    out = np.zeros(nout)
    norm = np.zeros(nout)
    beta = 8.0
    pad = np.concatenate([np.zeros(half_taps), x, np.zeros(half_taps + 1)])
    for k in range(-half_taps + 1, half_taps + 1):
        d = k - frac                              # distance of tap from the instant, per phase
        h = (cutoff * np.sinc(cutoff * d) * np.i0(beta * np.sqrt(np.clip(1 - (d / half_taps) ** 2, 0, 1)))
             / np.i0(beta))[phase]
        out += h * pad[base + k + half_taps]
        norm += h
    return out / np.where(np.abs(norm) > 1e-9, norm, 1.0)


def to_int16(x):
    """Float [-1, 1) to int16 with rounding and clipping."""
    return np.clip(np.round(np.asarray(x) * 32768.0), -32768, 32767).astype(np.int16)


def load_for_node(path, rate, keep_dc=False):
    """Any supported WAV as int16 mono at the node's rate (channels averaged), its DC offset
    removed as the node's microphone removes it (remove_dc) unless keep_dc."""
    x, src = read_wav(path)
    mono = x.mean(axis=1)
    return to_int16(resample(mono if keep_dc else remove_dc(mono), src, rate))


def remove_dc(x):
    """x (float, full scale 1) less its mean, in whole int16 steps: the INMP441 passes no DC
    (hardware/mic.md), but recorders do (13 % of the real development clips are off by more than
    0.1 % of full scale, up to 8 %), and a DC offset sits in every frame's level, lifts the noise
    floor the detector measures events against and hides quiet events.  A file whose mean is
    within half a step keeps its samples."""
    return x - np.round(np.mean(x) * 32768.0) / 32768.0 if len(x) else x


def write_wav(path, samples, rate):
    """Write int16 mono samples as a 16-bit PCM WAV."""
    with WavWriter(path, rate) as w:
        w.write(np.asarray(samples, dtype=np.int16))


class WavWriter:
    """16-bit mono WAV writer whose header is valid after every flush().

    A stream cut short (device unplugged) still leaves a playable file holding every
    sample received so far.
    """

    def __init__(self, path, rate):
        self.path, self.rate, self.frames = path, rate, 0
        self.f = open(path, "wb")
        self._header()

    def _header(self):
        n = self.frames * 2
        self.f.seek(0)
        self.f.write(struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + n, b"WAVE", b"fmt ", 16,
                                 _PCM, 1, self.rate, self.rate * 2, 2, 16, b"data", n))
        self.f.seek(0, os.SEEK_END)

    def write(self, samples):
        b = np.asarray(samples, dtype="<i2").tobytes()
        self.f.write(b)
        self.frames += len(b) // 2

    def flush(self):
        self._header()
        self.f.flush()

    def close(self):
        if self.f:
            self._header()
            self.f.close()
            self.f = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
