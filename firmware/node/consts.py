# SPDX-License-Identifier: MIT
# Constants the device and the host must agree on: frame sizes, band layout, feature
# vector layout, fixed-point formats.  Valid under MicroPython and CPython alike.
try:
    from micropython import const
except ImportError:  # CPython (host tools, reference models)
    def const(x):
        return x

FW_VERSION = "0.1.0"

# Supported DSP geometries.  N is the real FFT length (a frame), the complex FFT is N/2.
FRAME_SIZES = (256, 512, 1024)   # 2048 needs ~40 KB of buffers: too much for the ESP32 heap
RATES = (8000, 16000, 32000, 48000)
NMAX = const(1024)            # largest frame: the quarter-wave sine table is made for it

NBANDS = const(24)            # log-spaced band energies
FMIN_HZ = const(100)          # lower edge of band 0
HF_SPLIT_HZ = const(4000)     # "high band" = bins at or above this frequency
TONAL_LO_HZ = const(300)      # tonality is measured over bins in [TONAL_LO_HZ, TONAL_HI_HZ]
TONAL_HI_HZ = const(5000)
PITCH_LO_HZ = const(150)      # pitch candidates (harmonic comb), Hz
PITCH_HI_HZ = const(1600)
PITCH_NH = const(4)           # harmonics in the comb (a power of two: the mean is a shift)

# Fixed-point formats
Q15 = const(15)               # window and twiddles: value / 32768
LOG2_FRAC = const(10)         # log2 values carry 10 fractional bits (Q10)
CDB_MUL = const(19266)        # cdB = (log2_q10 * CDB_MUL) >> 16 ; 10*log10(2)*100/1024*65536
FLOOR_CDB = const(-15000)     # -150.00 dB: what a band / level of exactly zero reports
LOG2_3_Q10 = const(1623)      # round(log2(3) * 1024), Hann window power sum is 3N/8

# Feature vector layout (array('i') of NFEAT per frame).  Units:
#   exp        block-floating-point exponent of the spectrum (true X = Xint * 2**exp)
#   peak_cdb   20*log10(max|x| / 32768) in 1/100 dB (dBFS)
#   rms_cdb    10*log10(mean(x^2) / 32768^2) in 1/100 dB (dBFS, full-scale square = 0)
#   flux_cdb   sum over bands of max(0, band[t] - band[t-1]) in 1/100 dB
#   centroid_hz  spectral centroid of bins 1..N/2, Hz
#   hf_q10     share of spectral power at or above HF_SPLIT_HZ, 1/1024 units
#   tonal_cdb  10*log10(max bin power / mean bin power) over TONAL_LO..HI_HZ, 1/100 dB
#              (0 for flat noise, 15-25 dB for a harmonic voice, horn or siren)
#   pitch_hz   the f0 candidate (PITCH_LO..HI_HZ, half-bin steps) whose harmonic comb stands
#              highest above the valleys between its teeth: c* = argmax D(c),
#              D(c) = sum_{h=1..NH} L[bin(h*c/2)] - L[bin((h-1/2)*c/2)], L = Q10 log2 of the
#              bin power (+1); a spectral tilt cancels, a harmonic voice scores high
#   harm_cdb   D(c*)/NH in 1/100 dB: peak-to-valley of the comb per harmonic (~7-10 dB for
#              noise, 15-35 dB for a scream, crying or a siren)
#   band_k     band power in 1/100 dB, same reference as rms_cdb
F_EXP = const(0)
F_PEAK = const(1)
F_RMS = const(2)
F_FLUX = const(3)
F_CENTROID = const(4)
F_HF = const(5)
F_TONAL = const(6)
F_PITCH = const(7)
F_HARM = const(8)
F_BAND0 = const(9)
NFEAT = const(33)             # F_BAND0 + NBANDS

FEATURE_KEYS = ("exp", "peak_cdb", "rms_cdb", "flux_cdb", "centroid_hz", "hf_q10", "tonal_cdb",
                "pitch_hz", "harm_cdb")


def log2_int(n):
    # exact log2 of a power of two, raises for anything else
    k = 0
    while (1 << k) < n:
        k += 1
    if (1 << k) != n:
        raise ValueError("not a power of two: %d" % n)
    return k


def tonal_bins(rate, n):
    # first and last FFT bin of the tonality range, and their count
    lo = (TONAL_LO_HZ * n + rate - 1) // rate
    hi = TONAL_HI_HZ * n // rate
    return lo, hi, hi - lo + 1


def pitch_bins(rate, n):
    # pitch comb: first and last candidate in half-bin units (c = 2 f0 n / rate, c >= 2) and
    # the highest bin a comb tooth reaches; candidates stop where the NH-th harmonic would
    # pass the last bin (n/2)
    lo = (2 * PITCH_LO_HZ * n + rate - 1) // rate
    if lo < 2:
        lo = 2
    hi = 2 * PITCH_HI_HZ * n // rate
    top = (n - 1) // PITCH_NH
    if hi > top:
        hi = top
    return lo, hi, (PITCH_NH * hi + 1) >> 1


def _edge_positions(rate, n, nbands, fmin):
    # unrounded lower edge of each band, in FFT bins: fmin * (fnyq/fmin)**(b/nbands) / binhz
    import math
    fnyq = rate / 2
    binhz = rate / n
    return [fmin * math.exp(math.log(fnyq / fmin) * b / nbands) / binhz for b in range(nbands)]


def band_edges(rate, n, nbands=NBANDS, fmin=FMIN_HZ):
    # FFT bin edges of the log-spaced bands: band b covers bins [e[b], e[b+1]).
    # Edges are fmin * (fnyq/fmin)**(b/nbands) rounded to a bin, each band at least
    # one bin wide, the last edge is the Nyquist bin (inclusive: e[-1] = n/2 + 1).
    # Floats are used once at start-up; tests prove that single precision (ESP32)
    # rounds every edge the same way as double precision for all supported geometries.
    half = n // 2
    edges = []
    prev = -1
    for x in _edge_positions(rate, n, nbands, fmin):
        k = int(x + 0.5)
        if k <= prev:
            k = prev + 1
        edges.append(k)
        prev = k
    if prev >= half:
        raise ValueError("too many bands for frame %d at %d Hz" % (n, rate))
    edges.append(half + 1)
    return edges


def band_edge_fractions(rate, n, nbands=NBANDS, fmin=FMIN_HZ):
    # distance of every unclamped edge from a rounding boundary (for the float32 proof)
    return [abs((x - int(x)) - 0.5) for x in _edge_positions(rate, n, nbands, fmin)]
