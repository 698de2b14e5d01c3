# SPDX-License-Identifier: MIT
"""Layer 4: `sednode features` and `sednode demo` end to end."""
import json
import struct
import subprocess

import numpy as np
import pytest

from dsp_reference import signals
from host_tools import audio_io

from sednode_cli import SEDNODE


def run(*args, timeout=300):
    return subprocess.run([SEDNODE] + list(args), capture_output=True, text=True, timeout=timeout)


def write_wav_any(path, x, rate, bits=16, channels=1, fmt=1):
    """Write float samples in [-1, 1) as PCM 16/24/32 or float32, mono or stereo."""
    x = np.repeat(np.asarray(x, dtype=np.float64)[:, None], channels, axis=1)
    if fmt == 3:
        data = x.astype("<f4").tobytes()
    elif bits == 16:
        data = np.clip(np.round(x * 32768), -32768, 32767).astype("<i2").tobytes()
    elif bits == 24:
        v = np.clip(np.round(x * 8388608), -8388608, 8388607).astype("<i4")
        data = b"".join(int(s).to_bytes(3, "little", signed=True) for s in v.ravel())
    else:
        data = np.clip(np.round(x * 2147483648.0), -2147483648, 2147483647).astype("<i4").tobytes()
    align = channels * bits // 8
    with open(path, "wb") as f:
        f.write(struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(data), b"WAVE", b"fmt ", 16, fmt,
                            channels, rate, rate * align, align, bits, b"data", len(data)))
        f.write(data)


@pytest.fixture(scope="module")
def street_wav(tmp_path_factory):
    p = tmp_path_factory.mktemp("wav") / "street.wav"
    audio_io.write_wav(str(p), signals.street(16000, 1.5), 16000)
    return str(p)


def test_features_json_same_for_both_engines(street_wav):
    outs = {}
    for engine in ("firmware", "reference"):
        r = run("features", street_wav, "--engine", engine, "--json")
        assert r.returncode == 0, r.stderr
        outs[engine] = [json.loads(line) for line in r.stdout.splitlines()]
    assert outs["firmware"] == outs["reference"]
    rec = outs["firmware"][10]
    assert set(rec) == {"frame", "t_s", "exp", "peak_cdb", "rms_cdb", "flux_cdb", "centroid_hz", "hf_q10",
                        "tonal_cdb", "pitch_hz", "harm_cdb", "bands_cdb"}
    assert len(rec["bands_cdb"]) == 24 and all(isinstance(v, int) for v in rec["bands_cdb"])
    assert len(outs["firmware"]) == (24000 - 512) // 256 + 1


@pytest.mark.parametrize("rate,bits,channels,fmt", [(44100, 24, 2, 1), (8000, 16, 1, 1), (48000, 32, 1, 1),
                                                    (22050, 32, 2, 3), (96000, 24, 2, 1), (192000, 32, 1, 3)])
def test_any_wav_is_resampled_to_the_node_rate(tmp_path, rate, bits, channels, fmt):
    t = np.arange(rate) / rate
    p = str(tmp_path / "in.wav")
    write_wav_any(p, 0.25 * np.sin(2 * np.pi * 1000 * t), rate, bits, channels, fmt)
    r = run("features", p, "--engine", "reference", "--json")
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(recs) == (16000 - 512) // 256 + 1                     # one second at 16 kHz
    mid = recs[len(recs) // 2]
    assert abs(mid["centroid_hz"] - 1000) < 60
    assert abs(mid["rms_cdb"] / 100 - (20 * np.log10(0.25) - 3.01)) < 0.3


@pytest.mark.parametrize("content,why", [(b"", "no RIFF"), (b"RIFF\x10\x00\x00\x00WAVEjunk", "no fmt"),
                                         (b"hello world, not audio", "no RIFF")])
def test_malformed_wav_one_line_error_exit_2(tmp_path, content, why):
    p = tmp_path / "bad.wav"
    p.write_bytes(content)
    r = run("features", str(p), "--engine", "firmware")
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and why in lines[0] and "bad.wav" in lines[0]


@pytest.mark.parametrize("src", [44100, 48000, 96000, 192000])
def test_resampling_keeps_the_band_and_stops_aliases_from_every_rate(src):
    # a field recorder's 96 or 192 kHz must not fold its highs into the node's band: the
    # filter widens with the decimation ratio (32 input taps a side stopped 12 kHz at only
    # -27 dB from 192 kHz)
    t = np.arange(src) / src

    def level_db(f):
        y = audio_io.resample(np.sin(2 * np.pi * f * t), src, 16000)[1000:-1000]
        return 20 * np.log10(np.sqrt(np.mean(y * y) / 0.5))

    assert abs(level_db(1000)) < 0.05
    assert level_db(12000) < -80 and level_db(20000) < -80


@pytest.mark.parametrize("src", [22050, 44100, 96000])
def test_resampling_equals_the_windowed_sinc_written_out_sample_by_sample(src):
    # resample() computes its taps once per phase of the output instant; here every output
    # sample is the filter evaluated at its own instant
    x = np.random.default_rng(4).standard_normal(src // 50)
    y = audio_io.resample(x, src, 16000)
    half = max(32, int(np.ceil(32 * src / 48000)))
    cut = min(1.0, 16000 / src) * 0.95
    for n in range(0, len(y), 7):
        t = n * src / 16000
        k = np.arange(int(np.floor(t)) - half + 1, int(np.floor(t)) + half + 1)
        d = k - t
        h = cut * np.sinc(cut * d) * np.i0(8.0 * np.sqrt(np.clip(1 - (d / half) ** 2, 0, 1))) / np.i0(8.0)
        v = np.where((k >= 0) & (k < len(x)), x[np.clip(k, 0, len(x) - 1)], 0.0)
        assert y[n] == pytest.approx(np.dot(h, v) / h.sum(), abs=1e-9)


@pytest.mark.parametrize("rate,bits,channels,fmt,amp", [(44100, 24, 2, 1, 0.5), (48000, 32, 1, 3, 3.0),
                                                         (16000, 16, 1, 1, 0.5), (8000, 16, 2, 1, 0.5),
                                                         (22050, 16, 1, 1, 0.5)])
def test_a_file_read_in_pieces_gives_what_the_whole_array_gives(tmp_path, monkeypatch, rate, bits, channels, fmt,
                                                                amp):
    # load_for_node reads BLOCK frames at a time (an hours-long recording needs memory for its
    # int16 result only): with pieces of 1000 frames the result is the whole-array one, sample
    # for sample -- DC offset, a float file past full scale, resampling across the seams
    t = np.arange(int(2.3 * rate)) / rate
    x = amp * (0.6 * np.sin(2 * np.pi * 700 * t) + 0.3 * np.random.default_rng(2).standard_normal(len(t)) / 3 + 0.05)
    p = str(tmp_path / "in.wav")
    write_wav_any(p, x, rate, bits, channels, fmt)
    y, src = audio_io.read_wav(p)
    whole = audio_io.to_int16(audio_io.resample(y.mean(axis=1) - audio_io.dc_step(np.mean(y.mean(axis=1))), src, 16000))
    monkeypatch.setattr(audio_io, "BLOCK", 1000)
    pieces = audio_io.load_for_node(p, 16000)
    assert len(pieces) == len(whole) and np.array_equal(pieces, whole)
    assert np.array_equal(audio_io.load_for_node(p, 16000, keep_dc=True),
                          audio_io.to_int16(audio_io.resample(y.mean(axis=1), src, 16000)))


@pytest.mark.parametrize("rate", [500, 1000000])
def test_a_sample_rate_no_recording_has_is_a_one_line_error(tmp_path, rate):
    p = str(tmp_path / "odd.wav")
    write_wav_any(p, np.zeros(4000), rate)
    r = run("features", p, "--engine", "reference")
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "sample rate %d Hz" % rate in lines[0] and "odd.wav" in lines[0]


@pytest.mark.parametrize("head,name", [(b"fLaC\x00\x00\x00\x22", "FLAC"), (b"ID3\x04\x00\x00\x00\x00\x00\x00", "MP3"),
                                       (b"OggS\x00\x02\x00\x00", "Ogg"), (b"RF64\xff\xff\xff\xffWAVE", "RF64")])
def test_another_audio_format_is_named_in_its_error(tmp_path, head, name):
    p = tmp_path / "rec.flac"
    p.write_bytes(head + bytes(64))
    r = run("detect", str(p))
    assert r.returncode == 2 and r.stdout == ""
    errors = [line for line in r.stderr.splitlines() if "error" in line]      # (and detect's summary)
    assert len(errors) == 1 and "it is " + name in errors[0] and "convert it to WAV" in errors[0]


def test_truncated_wav_keeps_the_frames_that_arrived(tmp_path):
    good = tmp_path / "good.wav"
    audio_io.write_wav(str(good), signals.white(16000, 1.0, -20), 16000)
    data = good.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[:44 + 2 * 8000 + 1])                      # half the data and a stray byte
    r = run("features", str(cut), "--engine", "reference", "--json")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == (8000 - 512) // 256 + 1
    assert "cut short" in r.stderr and "cut.wav" in r.stderr           # and the user is told


def test_a_recording_never_finalised_keeps_its_audio(tmp_path):
    # a recorder that lost power leaves the RIFF and data sizes at 0 (or a streamed file at
    # 0xFFFFFFFF): the audio after the header is used, and an empty data chunk followed by
    # another chunk is still no audio
    good = tmp_path / "good.wav"
    audio_io.write_wav(str(good), signals.white(16000, 1.0, -20), 16000)
    data = bytearray(good.read_bytes())
    for size, warned in ((0, True), (0xFFFFFFFF, False)):
        rec = tmp_path / "rec.wav"
        rec.write_bytes(bytes(data[:4]) + struct.pack("<I", size) + bytes(data[8:40]) + struct.pack("<I", size)
                        + bytes(data[44:]))
        r = run("features", str(rec), "--engine", "reference", "--json")
        assert r.returncode == 0, r.stderr
        assert len(r.stdout.splitlines()) == (16000 - 512) // 256 + 1
        assert ("not finalised" in r.stderr) == warned
    empty = tmp_path / "empty.wav"
    empty.write_bytes(bytes(data[:40]) + struct.pack("<I", 0) + b"LIST" + struct.pack("<I", 4) + b"INFO")
    r = run("features", str(empty), "--engine", "reference")
    assert r.returncode == 2 and "no audio frames" in r.stderr


def test_float_samples_past_full_scale_are_scaled_not_clipped(tmp_path):
    t = np.arange(16000) / 16000
    p = str(tmp_path / "hot.wav")
    write_wav_any(p, 4.0 * np.sin(2 * np.pi * 1000 * t), 16000, 32, 1, 3)
    r = run("features", p, "--engine", "reference", "--json")
    assert r.returncode == 0 and "scaled down by 12.0 dB" in r.stderr and "hot.wav" in r.stderr
    mid = json.loads(r.stdout.splitlines()[30])
    assert abs(mid["rms_cdb"] / 100 + 3.01) < 0.3 and mid["tonal_cdb"] > 2000     # a full-scale sine, no square


def test_a_recording_past_4_gb_keeps_a_readable_header(tmp_path):
    # sednode stream writes WAVs that can outgrow the 32-bit sizes (37 h at 16 kHz): the header
    # then says "size unknown" (0xFFFFFFFF) and the reader takes the data to the end of the file
    p = str(tmp_path / "long.wav")
    w = audio_io.WavWriter(p, 16000)
    w.write(np.arange(1000, dtype=np.int16))
    w.frames = 3 << 30                         # as if 6 GB had been written
    w.close()
    head = open(p, "rb").read(44)
    assert struct.unpack_from("<I", head, 4)[0] == 0xFFFFFFFF and struct.unpack_from("<I", head, 40)[0] == 0xFFFFFFFF
    x, rate = audio_io.read_wav(p)
    assert rate == 16000 and np.array_equal(np.round(x[:, 0] * 32768), np.arange(1000))


def test_a_fmt_chunk_after_the_data_is_read(tmp_path):
    good = tmp_path / "good.wav"
    audio_io.write_wav(str(good), signals.white(16000, 1.0, -20), 16000)
    data = good.read_bytes()
    late = tmp_path / "late.wav"                  # RIFF, WAVE, data chunk, then fmt chunk
    body = data[36:] + data[12:36]
    late.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)
    outs = [run("features", str(p), "--engine", "reference", "--json") for p in (good, late)]
    assert outs[1].returncode == 0, outs[1].stderr
    assert outs[1].stdout == outs[0].stdout and outs[0].stdout


def test_missing_file_and_bad_geometry(tmp_path):
    r = run("features", str(tmp_path / "nope.wav"))
    assert r.returncode == 2 and "cannot read" in r.stderr
    audio_io.write_wav(str(tmp_path / "a.wav"), signals.silence(16000, 0.2), 16000)
    r = run("features", str(tmp_path / "a.wav"), "--frame", "384")
    assert r.returncode == 2 and "frame" in r.stderr


def test_demo_runs_on_the_virtual_node():
    r = run("demo", "--seconds", "5", "--port", "sim")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "virtual node" in r.stdout
    assert "identical on every frame (bit-exact)" in r.stdout


@pytest.mark.parametrize("argv", [["stream", "--seconds", "0", "-o", "x.wav"], ["stream", "--seconds", "x", "-o", "x.wav"],
                                  ["monitor", "--interval", "0"], ["monitor", "--seconds", "-1"],
                                  ["info", "--timeout", "-1"], ["info", "--baud", "0"], ["demo", "--seconds", "0"],
                                  ["eval", "--hours", "-1"], ["sim", "--emulate-baud", "0"],
                                  ["stream", "--seconds", "nan", "-o", "x.wav"], ["monitor", "--interval", "1.5"]])
def test_a_number_out_of_range_is_a_usage_error_not_a_traceback(capsys, argv):
    # these reached struct.pack or numpy deep inside the command before (a traceback, or
    # nothing streamed and exit 0); now argparse refuses them with the range, exit code 2
    from host_tools import cli
    with pytest.raises(SystemExit) as e:
        cli.main(argv + ["--port", "/dev/null-nope"] if argv[0] not in ("demo", "eval", "sim") else argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and ("out of range" in err or "is not a" in err), err
