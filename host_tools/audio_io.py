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


def _chunk_at(head, pos, total):
    """Whether the 8 bytes head, read at pos of a file of total bytes, are a well-formed RIFF
    chunk header (four printable characters, a size that fits the file)."""
    if len(head) < 8:
        return False
    cid, size = struct.unpack_from("<4sI", head, 0)
    return all(32 <= c < 127 for c in cid) and pos + 8 + size <= total


class WavInfo:
    """Where a WAV file's whole frames are and how they are coded (open_wav): data_bytes of
    audio from byte offset, in nframes whole frames."""

    def __init__(self, path, tag, nch, rate, bits, offset, data_bytes):
        self.path, self.tag, self.nch, self.rate, self.bits = path, tag, nch, rate, bits
        self.width = bits // 8
        self.frame_bytes = self.width * nch
        self.offset, self.nframes = offset, data_bytes // self.frame_bytes


def open_wav(path):
    """Read a WAV file's header, not its audio: a WavInfo.  A data chunk cut short, or one whose
    size was never written, is taken as far as it goes, with a warning on stderr.

    Raises:
        NodeToolError: missing file, not RIFF/WAVE, unsupported format, no audio frames.
    """
    try:
        f = open(path, "rb")
    except OSError as e:
        raise NodeToolError("%s: cannot read: %s" % (path, e.strerror or e))
    with f:
        total = os.fstat(f.fileno()).st_size
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            other = _other_format(head)
            if other:
                raise _bad(path, "no RIFF/WAVE header: it is %s; convert it to WAV first (for example "
                                 "ffmpeg -i IN OUT.wav)" % other)
            raise _bad(path, "no RIFF/WAVE header")
        pos, fmt, start, avail = 12, None, None, 0
        while pos + 8 <= total:
            f.seek(pos)
            cid, size = struct.unpack("<4sI", f.read(8))
            if cid == b"fmt ":
                body = f.read(min(size, 40))
                if len(body) < 16:
                    raise _bad(path, "fmt chunk too short")
                fmt = struct.unpack_from("<HHIIHH", body, 0)
                if fmt[0] == _EXT:
                    if len(body) < 40:
                        raise _bad(path, "extensible fmt chunk too short")
                    fmt = (struct.unpack_from("<H", body, 24)[0],) + fmt[1:]
            elif cid == b"data":
                start = pos + 8   # a truncated file keeps the whole frames that did arrive
                avail = total - start if size == 0xFFFFFFFF else min(size, total - start)
                if size == 0 and total > start and not _chunk_at(f.read(8), start, total):
                    # a recorder stopped before it wrote the sizes (power loss): the audio follows
                    avail = total - start
                    sys.stderr.write("sednode: warning: %s: data chunk size 0 in the header (a recording that "
                                     "was not finalised?); using the %d bytes that follow\n" % (path, avail))
                elif avail < size and size != 0xFFFFFFFF:       # (unknown size: a streamed file)
                    sys.stderr.write("sednode: warning: %s: data chunk cut short (%d of %d bytes); using what "
                                     "arrived\n" % (path, avail, size))
                if fmt is not None or min(size, total - start) < size or size == 0:
                    break         # (a fmt chunk may follow the data: RIFF allows any order)
            pos += 8 + size + (size & 1)
    if fmt is None:
        raise _bad(path, "no fmt chunk")
    if start is None:
        raise _bad(path, "no data chunk")
    tag, nch, rate, _, align, bits = fmt
    if nch < 1 or nch > 8:
        raise _bad(path, "%d channels" % nch)
    if not MIN_RATE <= rate <= MAX_RATE:
        raise _bad(path, "sample rate %d Hz outside %d-%d Hz" % (rate, MIN_RATE, MAX_RATE))
    if not (tag == _PCM and bits in (8, 16, 24, 32) or tag == _FLOAT and bits in (32, 64)):
        raise _bad(path, "format tag %d with %d bits is not supported" % (tag, bits))
    w = WavInfo(path, tag, nch, rate, bits, start, avail)
    if w.nframes == 0:
        raise _bad(path, "no audio frames")
    return w


def _frames(w, f, first, count):
    """Frames [first, first + count) of an open WAV file f (WavInfo w), float64 (frames, channels)
    scaled to [-1, 1) (float files as they are); NodeToolError for non-finite float samples."""
    count = max(0, min(count, w.nframes - first))
    f.seek(w.offset + first * w.frame_bytes)
    raw = f.read(count * w.frame_bytes)
    raw = raw[: len(raw) // w.frame_bytes * w.frame_bytes]
    if w.tag == _FLOAT:
        x = np.frombuffer(raw, dtype="<f%d" % w.width).astype(np.float64)
        if not np.all(np.isfinite(x)):
            raise _bad(w.path, "non-finite float samples")
    elif w.bits == 8:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif w.bits == 16:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    elif w.bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v & 0x800000, v - (1 << 24), v)
        x = v.astype(np.float64) / 8388608.0
    else:
        x = np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2147483648.0
    return x.reshape(-1, w.nch)


BLOCK = 1 << 20      # frames read at a time: a file of any length is read in pieces


def _float_gain(w, peak):
    """What a file's samples are divided by: a float file's peak when it runs past full scale
    (with a warning), else 1."""
    if w.tag != _FLOAT or peak <= 1.0:
        return 1.0
    # a float file may run past full scale (an editor's export); scaled, not clipped
    sys.stderr.write("sednode: warning: %s: float samples reach %.2f times full scale; scaled down "
                     "by %.1f dB instead of clipped\n" % (w.path, peak, 20 * np.log10(peak)))
    return peak


def read_wav(path):
    """Read a WAV file whole.

    Args:
        path: file path.
    Returns:
        (samples, rate): float64 array of shape (frames, channels) scaled to [-1, 1).
    Raises:
        NodeToolError: missing file, not RIFF/WAVE, unsupported format, truncated data.
    """
    w = open_wav(path)
    with open(path, "rb") as f:
        x = _frames(w, f, 0, w.nframes)
    gain = _float_gain(w, float(np.abs(x).max()) if w.tag == _FLOAT else 0.0)
    return (x / gain if gain != 1.0 else x), w.rate


def _resample_part(get, src, dst, n0, n1, half_taps=32):
    """Output samples [n0, n1) of resample(); get(lo, hi) gives the input samples [lo, hi), zero
    outside the signal."""
    cutoff = min(1.0, dst / src) * 0.95          # relative to the input Nyquist
    # the window spans half_taps input samples a side up to a 3:1 decimation (48 kHz to the node's
    # 16 kHz); a larger ratio widens it in proportion, so that it spans as many output samples
    # and the stopband holds (192 kHz with 32 taps let a 12 kHz tone alias at -27 dB)
    half_taps = max(half_taps, int(np.ceil(half_taps * src / (3.0 * dst))))
    g = math.gcd(src, dst)
    up, down = dst // g, src // g
    pos = np.arange(n0, n1, dtype=np.int64) * down    # output instants in input samples, times up
    base = pos // up
    phase = pos - base * up                      # the instant's fraction is phase / up
    frac = np.arange(up) / up
    out = np.zeros(n1 - n0)
    norm = np.zeros(n1 - n0)
    if n1 <= n0:
        return out
    beta = 8.0
    lo = int(base[0]) - half_taps + 1
    seg = get(lo, int(base[-1]) + half_taps + 1)
    for k in range(-half_taps + 1, half_taps + 1):
        d = k - frac                              # distance of tap from the instant, per phase
        h = (cutoff * np.sinc(cutoff * d) * np.i0(beta * np.sqrt(np.clip(1 - (d / half_taps) ** 2, 0, 1)))
             / np.i0(beta))[phase]
        out += h * seg[base + (k - lo)]
        norm += h
    return out / np.where(np.abs(norm) > 1e-9, norm, 1.0)


def resample(x, src, dst, half_taps=32):
    """Band-limited resampling of a 1-D float signal with a Kaiser-windowed sinc.

    Args:
        x: 1-D float array.  src, dst: rates in Hz (whole numbers).
    Returns:
        float64 array of length round(len(x) * dst / src).

    Output sample n sits at input position n * src / dst, whose fractional part takes at most
    dst / gcd(src, dst) values (160 from 44.1 kHz to 16 kHz, one from 48 kHz): the filter taps
    are computed once per such phase, not per output sample (the Bessel window dominated the
    cost: 10 minutes of 48 kHz took 50 s, now a few).
    """
    x = np.asarray(x, dtype=np.float64)
    src, dst = int(src), int(dst)
    if src == dst:
        return x.copy()
    return _resample_part(lambda lo, hi: _window(lambda a, b: x[a:b], len(x), lo, hi), src, dst, 0,
                          int(round(len(x) * dst / src)), half_taps)


def _window(fetch, n, lo, hi):
    """Samples [lo, hi) of a signal of n samples, fetch(a, b) giving [a, b) within it, and zeros
    where the range runs past the signal."""
    seg = np.zeros(hi - lo)
    a, b = max(lo, 0), min(hi, n)
    if b > a:
        seg[a - lo:b - lo] = fetch(a, b)
    return seg


def to_int16(x):
    """Float [-1, 1) to int16 with rounding and clipping."""
    return np.clip(np.round(np.asarray(x) * 32768.0), -32768, 32767).astype(np.int16)


def load_for_node(path, rate, keep_dc=False):
    """Any supported WAV as int16 mono at the node's rate (channels averaged), its DC offset
    removed as the node's microphone removes it (dc_step) unless keep_dc.  The file is read in
    pieces of BLOCK frames (an hours-long recording needs memory for its int16 result only), and
    the result is what whole-array processing gives, sample for sample."""
    w = open_wav(path)
    rate = int(rate)
    with open(path, "rb") as f:
        peak = total = 0.0
        if w.tag == _FLOAT or not keep_dc:   # one pass for what needs the whole file: a float file's
            for k in range(0, w.nframes, BLOCK):    # peak, the DC offset
                x = _frames(w, f, k, BLOCK)
                if w.tag == _FLOAT:
                    peak = max(peak, float(np.abs(x).max()))
                total += float(np.sum(x.mean(axis=1)))
        gain = _float_gain(w, peak)

        def mono(first, count):
            x = _frames(w, f, first, count)
            return (x / gain if gain != 1.0 else x).mean(axis=1)

        dc = 0.0 if keep_dc else dc_step(total / gain / w.nframes)

        def get(lo, hi):
            return _window(lambda a, b: mono(a, b - a) - dc if dc else mono(a, b - a), w.nframes, lo, hi)

        nout = w.nframes if w.rate == rate else int(round(w.nframes * rate / w.rate))
        out = np.empty(nout, dtype=np.int16)
        step = max(1, BLOCK * rate // w.rate)
        for n0 in range(0, nout, step):
            n1 = min(nout, n0 + step)
            part = get(n0, n1) if w.rate == rate else _resample_part(get, w.rate, rate, n0, n1)
            out[n0:n1] = to_int16(part)
    return out


def dc_step(mean):
    """A signal's DC offset (its mean, full scale 1) in whole int16 steps: the INMP441 passes no
    DC (hardware/mic.md), but recorders do (13 % of the real development clips are off by more
    than 0.1 % of full scale, up to 8 %), and a DC offset sits in every frame's level, lifts the
    noise floor the detector measures events against and hides quiet events.  A signal whose
    mean is within half a step keeps its samples."""
    return float(np.round(mean * 32768.0) / 32768.0)


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
        if n > 0xFFFFFFFF - 36:        # past 4 GB (37 h at 16 kHz): sizes unknown, as a streamed
            n = 0xFFFFFFFF - 36        # file says (read_wav takes the data to the end of the file)
            data_size = 0xFFFFFFFF
        else:
            data_size = n
        self.f.seek(0)
        self.f.write(struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + n, b"WAVE", b"fmt ", 16,
                                 _PCM, 1, self.rate, self.rate * 2, 2, 16, b"data", data_size))
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
