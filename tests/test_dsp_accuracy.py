# SPDX-License-Identifier: MIT
"""Layer 1: integer model vs float64 model (precision of the fixed-point design)."""
import numpy as np
import pytest

from dsp_reference import float_model, int_model, signals
from node import config, consts

GEOMETRIES = [{}, {"rate": 32000, "frame": 1024, "hop": 512}]


@pytest.mark.parametrize("g", GEOMETRIES, ids=["16k_512", "32k_1024"])
@pytest.mark.parametrize("dbfs", [-60, -50, -40, -30, -20, -10, 0])
def test_fft_snr_at_least_60db(g, dbfs):
    cfg = config.validate(g)
    rate = cfg["rate"]
    for f in (125.0, 997.0, 3333.3, rate * 0.37):
        x = signals.sine(rate, 0.2, f, dbfs)
        r = int_model.analyse(x, cfg)
        ref = float_model.analyse(x, cfg)["spectrum"]
        err = np.sum(np.abs(r.complex_spectrum() - ref) ** 2, axis=1)
        snr = 10 * np.log10(np.sum(np.abs(ref) ** 2, axis=1) / err)
        assert snr.min() >= 60.0, "%g Hz at %d dBFS: FFT SNR %.1f dB" % (f, dbfs, snr.min())


def _quant_noise_band_db(cfg, frame_rms_db):
    """Quantisation-noise power of each band, per frame (F, NBANDS), in dB.

    Two floors, the larger counts: the int16 input's own LSB noise (variance 1/12,
    white), and the fixed-point FFT's noise, which test_fft_snr_at_least_60db bounds
    at 60 dB below the frame's power; both spread over the bins in proportion to the
    band's width.
    """
    from node import consts
    n = cfg["frame"]
    edges = np.array(consts.band_edges(cfg["rate"], n))
    share = (edges[1:] - edges[:-1]) / (n / 2)
    lsb = 10 * np.log10((1.0 / 12.0) / 32768.0 ** 2 * share)
    fft = frame_rms_db[:, None] - 60.0 + 10 * np.log10(share)[None, :]
    return np.maximum(lsb[None, :], fft)


@pytest.mark.parametrize("g", GEOMETRIES, ids=["16k_512", "32k_1024"])
def test_band_energies_within_half_db(g):
    cfg = config.validate(g)
    rate = cfg["rate"]
    checked = 0
    sigs = [signals.white(rate, 0.5, db) for db in (-60, -30, -3)]
    sigs += [signals.pink(rate, 0.5, db) for db in (-70, -40, -10)]
    sigs += [signals.sine(rate, 0.3, f, db) for f in (200.0, 1500.0, 6000.0) for db in (-50, -6)]
    sigs += [signals.street(rate), signals.chirp(rate, 1.0, 80, rate * 0.45)]
    for x in sigs:
        bi = int_model.features(x, cfg)[:, consts.F_BAND0:] / 100.0
        ff = float_model.analyse(x, cfg)
        bf = ff["bands_db"]
        ok = bf >= _quant_noise_band_db(cfg, ff["rms_db"]) + 20.0
        checked += int(ok.sum())
        err = np.abs(bi - bf)[ok]
        assert err.max() <= 0.5, "band error %.3f dB" % err.max()
    assert checked > 1000


@pytest.mark.parametrize("g", GEOMETRIES, ids=["16k_512", "32k_1024"])
def test_levels_centroid_and_hf_share_track_the_float_model(g):
    cfg = config.validate(g)
    rate = cfg["rate"]
    for x in (signals.white(rate, 0.5, -20), signals.street(rate), signals.sine(rate, 0.3, 2500.0, -40)):
        fi = int_model.features(x, cfg)
        ff = float_model.analyse(x, cfg)
        assert np.max(np.abs(fi[:, 1] / 100 - ff["peak_db"])) < 0.05
        assert np.max(np.abs(fi[:, 2] / 100 - ff["rms_db"])) < 0.05
        assert np.max(np.abs(fi[:, 4] - ff["centroid_hz"])) < 0.02 * rate / 2
        assert np.max(np.abs(fi[:, 5] / 1024 - ff["hf_ratio"])) < 0.02
        assert np.max(np.abs(fi[:, consts.F_TONAL] / 100 - ff["tonal_db"])) < 0.5
        # flux sums 24 band differences, each band within 0.5 dB where it holds signal
        loud = ff["flux_db"] > 1.0
        if loud.any():
            assert np.median(np.abs(fi[loud, 3] / 100 - ff["flux_db"][loud])) < 1.0


def test_sine_band_level_matches_definition():
    # a -20 dBFS sine: its band holds the frame's mean square, 10log10(A^2/2) = -23.01 dB
    cfg = config.validate({})
    f = int_model.features(signals.sine(16000, 0.3, 1000.0, -20), cfg)
    assert abs(f[5, consts.F_BAND0:].max() / 100 - (-23.01)) < 0.1
    assert f[5, consts.F_TONAL] > 1500                      # a pure tone is very tonal
    assert abs(f[5, 2] / 100 - (-23.01)) < 0.05


def _voice(rate, f0, seconds=0.4, noise_db=-38.0, seed=0):
    """A harmonic voice (harmonics 1..8 at 1/h amplitude, about -12 dBFS) over white noise."""
    t = np.arange(int(rate * seconds)) / rate
    x = sum(np.sin(2 * np.pi * f0 * h * t + h) / h for h in range(1, 9) if f0 * h < rate / 2)
    x = x / np.abs(x).max() * 0.25 + np.random.default_rng(seed).normal(0, 10 ** (noise_db / 20), len(t))
    return np.round(x * 32767).astype(np.int16)


@pytest.mark.parametrize("g", GEOMETRIES, ids=["16k_512", "32k_1024"])
def test_pitch_and_harmonicity_of_a_voice(g):
    cfg = config.validate(g)
    rate, n = cfg["rate"], cfg["frame"]
    half_bin = rate / (2.0 * n)
    for f0 in (180.0, 300.0, 523.0, 880.0, 1300.0):
        x = _voice(rate, f0)
        fi = int_model.features(x, cfg)[2:-2]
        ff = float_model.analyse(x, cfg)
        assert np.all(np.abs(fi[:, consts.F_PITCH] - f0) <= half_bin), f0
        assert np.all(np.abs(ff["pitch_hz"][2:-2] - f0) <= half_bin), f0
        assert np.all(fi[:, consts.F_HARM] >= 2000), f0        # comb teeth stand >= 20 dB above the valleys
        # the valleys are noise bins 30-45 dB below the teeth, where the 20-bit bin power is
        # coarse: typically a fraction of a dB, a few dB at worst
        err = np.abs(fi[:, consts.F_HARM] / 100 - ff["harm_db"][2:-2])
        assert np.median(err) < 0.5 and err.max() < 3.0, f0
    # white and pink noise and a street background have no comb to speak of
    for x in (signals.white(rate, 0.5, -20), signals.pink(rate, 0.5, -20), signals.street(rate)):
        assert np.median(int_model.features(x, cfg)[:, consts.F_HARM]) < 1300
