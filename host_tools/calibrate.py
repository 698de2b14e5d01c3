# SPDX-License-Identifier: MIT
"""Field calibration (`sednode calibrate`): with an acoustic calibrator (a steady tone of
known level, usually 94 dB SPL at 1 kHz) sealed over the node's microphone, record a few
seconds from the node, measure the tone's level in dBFS and derive the node's `cal_cdb`
(dB SPL = dBFS + cal_cdb / 100).  The recording is checked first: a tone must be there, at
the expected frequency, steady, not clipped and well above the noise; otherwise nothing is
derived and the reason is given.

Levels are in the sine convention of hardware/mic.md: a full-scale sine is 0 dBFS, so a
tone's level is 20 log10(amplitude / 32768)."""
import numpy as np

from host_tools.errors import NodeToolError, EXIT_FAIL

SETTLE_S = 0.25          # the start of the recording is not used (the mic's high-pass settling)
BLOCK_S = 0.1            # the steadiness check: the tone's level per block
MIN_SHARE = 0.9          # the tone must carry this share of the power (THD+N better than -10 dB)
MAX_WANDER_DB = 1.0      # block levels within this range
FREQ_TOL = 0.05          # measured frequency within 5 % of the one asked for
MIN_DBFS = -80.0         # a quieter tone is too close to the mic's self-noise (about -87 dBFS)
NOMINAL_DBFS = -26.0     # INMP441: -26 dBFS at 94 dB SPL, +-1 dB (hardware/mic.md)
SPREAD_DB = 3.0          # a sensitivity further than this from nominal gets a warning
CAL_RANGE = (-20000, 20000)   # node/config.py cal_cdb


def tone(x, rate, freq):
    """Measure a steady tone near ``freq`` in int16 samples ``x``.

    Returns:
        dict: freq_hz (measured), level_dbfs, share (of the power, DC removed), wander_db
        (max - min of BLOCK_S block levels), seconds (measured).
    """
    x = np.asarray(x, dtype=np.float64)[int(SETTLE_S * rate):]
    n = len(x)
    if n < int(2 * BLOCK_S * rate):
        raise NodeToolError("calibrate: %.2f s of audio is too short to measure a tone" % (n / rate), EXIT_FAIL)
    x = x - x.mean()
    w = np.hanning(n)
    spec = np.abs(np.fft.rfft(x * w))
    f = np.fft.rfftfreq(n, 1.0 / rate)
    band = (f > freq * (1 - 2 * FREQ_TOL)) & (f < freq * (1 + 2 * FREQ_TOL))
    k = int(np.flatnonzero(band)[np.argmax(spec[band])]) if band.any() else int(np.argmax(spec))
    if 0 < k < len(spec) - 1:            # parabolic peak interpolation on log magnitudes
        a, b, c = np.log(spec[k - 1:k + 2] + 1e-30)
        k = k + 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c else k
    fm = k * rate / n
    t = np.arange(n) / rate

    def fit(seg, tt):
        # least-squares amplitude of a sinusoid at fm
        m = np.column_stack([np.cos(2 * np.pi * fm * tt), np.sin(2 * np.pi * fm * tt)])
        coef, *_ = np.linalg.lstsq(m, seg, rcond=None)
        return float(np.hypot(*coef)), m @ coef

    amp, model = fit(x, t)
    power = float(np.mean(x ** 2))
    share = float(np.mean(model ** 2)) / power if power > 0 else 0.0
    b = int(BLOCK_S * rate)
    levels = [20 * np.log10(max(fit(x[i:i + b], t[i:i + b])[0], 1e-9) / 32768.0) for i in range(0, n - b + 1, b)]
    return {"freq_hz": round(fm, 1), "level_dbfs": round(20 * np.log10(max(amp, 1e-9) / 32768.0), 2),
            "share": round(share, 4), "wander_db": round(float(max(levels) - min(levels)), 2),
            "seconds": round(n / rate, 2)}


def derive(m, ref_db, freq, raw_peak):
    """Check a tone() measurement and derive cal_cdb from it.

    Args:
        m: tone()'s dict.  ref_db: the calibrator's level, dB SPL.  freq: its frequency, Hz.
        raw_peak: largest |sample| of the recording as received (clipping check).
    Returns:
        dict: cal_cdb, sensitivity_dbfs (the level 94 dB SPL gives), warnings (list of text).
    Raises:
        NodeToolError (EXIT_FAIL): no usable tone; the message says what is wrong.
    """
    why = []
    if raw_peak >= 32767:
        why.append("the recording is clipped (peak at full scale): lower gain_db or use a quieter calibrator")
    if m["share"] < MIN_SHARE:
        why.append("no steady %g Hz tone: it holds %.0f%% of the power (%.0f%% needed); is the calibrator on "
                   "and sealed over the microphone?" % (freq, 100 * m["share"], 100 * MIN_SHARE))
    elif abs(m["freq_hz"] - freq) > FREQ_TOL * freq:
        why.append("the tone is at %.0f Hz, not %g Hz (--freq)" % (m["freq_hz"], freq))
    elif m["wander_db"] > MAX_WANDER_DB:
        why.append("the tone's level wanders by %.1f dB (at most %.1f): hold the calibrator still and sealed"
                   % (m["wander_db"], MAX_WANDER_DB))
    if not why and m["level_dbfs"] < MIN_DBFS:
        why.append("the tone is at %.1f dBFS, too close to the microphone's self-noise" % m["level_dbfs"])
    if why:
        raise NodeToolError("calibrate: " + "; ".join(why), EXIT_FAIL)
    cal = int(round(100 * (ref_db - m["level_dbfs"])))
    if not CAL_RANGE[0] <= cal <= CAL_RANGE[1]:
        raise NodeToolError("calibrate: the offset would be %.2f dB, outside the node's cal_cdb range (%d..%d)"
                            % (cal / 100, CAL_RANGE[0], CAL_RANGE[1]), EXIT_FAIL)
    sens = m["level_dbfs"] - (ref_db - 94.0)
    warnings = []
    if abs(sens - NOMINAL_DBFS) > SPREAD_DB:
        warnings.append("sensitivity %.1f dBFS at 94 dB SPL is %.1f dB from the INMP441's nominal %.0f dBFS "
                        "(+-1 dB): check the calibrator's seal, the mic and gain_db"
                        % (sens, sens - NOMINAL_DBFS, NOMINAL_DBFS))
    return {"cal_cdb": cal, "sensitivity_dbfs": round(sens, 2), "warnings": warnings}


def calibrate(link, ref_db=94.0, freq=1000.0, seconds=3.0, progress=None):
    """Record from the node and derive its calibration; returns the measurement, the
    derived values, the node's gain_db and its current cal_cdb (nothing is changed here)."""
    from host_tools import stream
    cfg = link.config_get()
    x, res = stream.record(link, seconds, progress)
    if res["lost"]:
        raise NodeToolError("calibrate: %d samples lost in the recording; run again" % res["lost"], EXIT_FAIL)
    m = tone(x, res["rate"], freq)
    raw_peak = int(np.max(np.abs(x.astype(np.int32)))) if len(x) else 0
    d = derive(m, ref_db, freq, raw_peak)
    return dict(m, **d, ref_db=ref_db, freq_asked_hz=freq, gain_db=cfg["gain_db"], cal_cdb_before=cfg["cal_cdb"])
