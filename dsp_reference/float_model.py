# SPDX-License-Identifier: MIT
"""float64 model of the frame features: what the fixed-point DSP approximates.

Same definitions as node/consts.py (units here are plain dB, Hz and ratios):
exact periodic Hann window, numpy's real FFT, band powers normalised so that their
sum is the frame's mean square in dBFS (full-scale square = 0 dB).
"""
import numpy as np

from dsp_reference.int_model import frames_of
from node import consts


def hann(n):
    return 0.5 * (1.0 - np.cos(2.0 * np.pi * np.arange(n) / n))


def _db(p, floor_db=consts.FLOOR_CDB / 100.0):
    with np.errstate(divide="ignore"):
        return np.maximum(10.0 * np.log10(p), floor_db)


def analyse(x, cfg):
    """Features of samples x (int16 units, any float/int array).

    Returns a dict of arrays: spectrum (F, n/2+1) complex, bands_db (F, NBANDS),
    peak_db, rms_db, flux_db, centroid_hz, hf_ratio, tonal_db, pitch_hz, harm_db (each (F,)).
    """
    n, hop, rate = cfg["frame"], cfg["hop"], cfg["rate"]
    fr = frames_of(x, n, hop, np.float64)
    w = hann(n)
    X = np.fft.rfft(fr * w[None, :], axis=1)
    P = np.abs(X) ** 2
    norm = 2.0 / (n * np.sum(w * w)) / 32768.0 ** 2
    edges = consts.band_edges(rate, n)
    bands = np.stack([P[:, edges[b]:edges[b + 1]].sum(axis=1) for b in range(len(edges) - 1)], axis=1)
    bands_db = _db(bands * norm)
    flux = np.zeros(len(fr))
    flux[1:] = np.maximum(np.diff(bands_db, axis=0), 0).sum(axis=1)
    k = np.arange(1, n // 2 + 1)
    Pk = P[:, 1:]
    tot = Pk.sum(axis=1)
    safe = np.where(tot > 0, tot, 1.0)
    centroid = (Pk * k[None, :]).sum(axis=1) / safe * rate / n
    khf = int(np.ceil(consts.HF_SPLIT_HZ * n / rate))
    hf = Pk[:, khf - 1:].sum(axis=1) / safe
    tlo, thi, _ = consts.tonal_bins(rate, n)
    band = P[:, tlo:thi + 1]
    bmean = band.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        tonal = np.where(bmean > 0, 10 * np.log10(band.max(axis=1) / np.where(bmean > 0, bmean, 1)), 0.0)
    pitch_hz, harm_db = pitch(P, rate, n)
    peak = np.abs(fr).max(axis=1) if len(fr) else np.zeros(0)
    return {
        "spectrum": X,
        "bands_db": bands_db,
        "peak_db": _db((peak / 32768.0) ** 2),
        "rms_db": _db(np.mean(fr * fr, axis=1) / 32768.0 ** 2),
        "flux_db": flux,
        "centroid_hz": np.where(tot > 0, centroid, 0.0),
        "hf_ratio": np.where(tot > 0, hf, 0.0),
        "tonal_db": tonal,
        "pitch_hz": pitch_hz,
        "harm_db": harm_db,
    }


def pitch(P, rate, n):
    """Harmonic comb over the bin powers P (F, n/2+1): f0 candidate with the largest mean
    peak-to-valley log power over PITCH_NH harmonics (node/consts.py), and that mean in dB.
    The bin powers are floored 60 dB below the frame's strongest bin, about where the
    fixed-point power (kept to 20 bits) runs out."""
    clo, chi, kp = consts.pitch_bins(rate, n)
    top = P[:, 1:].max(axis=1, initial=0.0)[:, None] if len(P) else np.zeros((0, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        L = 10 * np.log10(P + np.where(top > 0, top, 1.0) * 1e-6)
    best = np.full(len(P), -np.inf)
    cb = np.full(len(P), clo)
    for c in range(clo, chi + 1):
        d = sum(L[:, (h * c + 1) >> 1] - L[:, ((2 * h - 1) * c + 2) >> 2] for h in range(1, consts.PITCH_NH + 1))
        better = d > best
        best, cb = np.where(better, d, best), np.where(better, c, cb)
    return cb * rate / (2.0 * n), np.maximum(best, 0.0) / consts.PITCH_NH
