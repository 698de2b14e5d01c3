# SPDX-License-Identifier: MIT
"""The technician's microphone check (`sednode check`): record a few seconds from the node
and look for what goes wrong with an I2S MEMS microphone on a pole: no signal (unpowered,
data line open, L/R selecting the empty slot), a stuck value, samples quieter than the
microphone's own noise (data bits misaligned), a level no street has (bits misaligned the
other way, or random data), clipping, a DC offset (the INMP441 removes DC), samples lost.

Levels are the node's (node/dsp.py rms_cdb): 10 log10(mean(x^2) / 32768^2), so a full-scale
square is 0 dBFS; dB SPL = dBFS + cal_cdb / 100 once the node is calibrated.  The INMP441's
self-noise is about -87 dBFS (hardware/mic.md: 33 dBA SPL against 120 dB SPL full scale)."""
import numpy as np

BLOCK_S = 0.1            # levels are taken over blocks of this length
SETTLE_S = 0.25          # the start of the recording is not used (the mic's high-pass settling)
DEAD_DBFS = -100.0       # a working mic never reads quieter than this (its self-noise is ~ -87)
LOUD_DBFS = -15.0        # a median block level above this + gain_db (~105 dB SPL all the time) is no street
CLIP_SHARE = 0.001       # more samples than this at full scale: clipping
DC_SHARE = 0.01          # |mean| above this share of full scale: a DC offset
FLOOR_DBFS = -150.0      # what nothing at all reads (the node's consts.FLOOR_CDB)


def _dbfs(p):
    return max(10 * np.log10(max(float(p), 1e-30) / 32768.0 ** 2), FLOOR_DBFS)


def analyse(x, rate, gain_db=0, cal_cdb=0):
    """Check int16 samples ``x`` recorded at ``rate`` with the node's ``gain_db``.

    Returns:
        dict: ok (no failure), failures and warnings (lists of text), level_dbfs (whole
        recording), floor_dbfs and loud_dbfs (10th and 90th percentile of BLOCK_S block
        levels), peak_dbfs, dc (mean / full scale), clipped (share of samples at full
        scale), zeros (share of samples exactly 0), seconds; with cal_cdb, the same levels
        in dB SPL (level_db_spl, floor_db_spl, loud_db_spl).
    """
    x = np.asarray(x, dtype=np.int64)[int(SETTLE_S * rate):]
    fails, warns = [], []
    n = len(x)
    b = int(BLOCK_S * rate)
    if n < 2 * b:
        raise ValueError("%.2f s of audio is too short to check the microphone" % (n / rate))
    xf = x.astype(np.float64)
    blocks = np.array([_dbfs(np.mean(xf[i:i + b] ** 2)) for i in range(0, n - b + 1, b)])
    r = {"seconds": round(n / rate, 2), "level_dbfs": round(_dbfs(np.mean(xf ** 2)), 1),
         "floor_dbfs": round(float(np.percentile(blocks, 10)), 1),
         "loud_dbfs": round(float(np.percentile(blocks, 90)), 1),
         "peak_dbfs": round(_dbfs(float(np.max(np.abs(x))) ** 2), 1),
         "dc": round(float(np.mean(xf)) / 32768.0, 4),
         "clipped": round(float(np.mean((x >= 32767) | (x <= -32768))), 5),
         "zeros": round(float(np.mean(x == 0)), 4), "gain_db": gain_db}
    dead = DEAD_DBFS + gain_db
    if r["zeros"] == 1.0:
        fails.append("no signal: every sample is 0 (mic unpowered, its data line open, or its L/R pin "
                     "selecting the other slot; hardware/wiring.md)")
    elif np.ptp(x) == 0:
        fails.append("the samples are stuck at %d (the data line held high or low?)" % x[0])
    elif r["floor_dbfs"] < dead:
        fails.append("quieter than the microphone's own noise: %.1f dBFS in the quietest tenth (a working "
                     "INMP441 never reads under %.0f dBFS at gain_db %d): data bits misaligned, or no mic on the "
                     "line" % (r["floor_dbfs"], dead, gain_db))
    typical = float(np.median(blocks))
    if typical > LOUD_DBFS + gain_db:
        fails.append("the level stays at %.1f dBFS (about %.0f dB SPL uncalibrated): louder than any street, all "
                     "the time: data bits misaligned or random data (check SCK/WS wiring and the board's pin file; "
                     "gain_db %d)" % (typical, typical + 120 - gain_db, gain_db))
    if r["clipped"] > CLIP_SHARE:
        warns.append("%.2f%% of the samples are at full scale: clipping (a loud sound, or gain_db %d too high)"
                     % (100 * r["clipped"], gain_db))
    if abs(r["dc"]) > DC_SHARE and not fails:
        warns.append("a DC offset of %.1f%% of full scale (the INMP441 removes DC: check the sample format)"
                     % (100 * r["dc"]))
    if cal_cdb:
        for k in ("level", "floor", "loud"):
            r[k + "_db_spl"] = round(r[k + "_dbfs"] + cal_cdb / 100.0, 1)
    r.update(ok=not fails, failures=fails, warnings=warns)
    return r


def check(link, seconds=5.0, progress=None):
    """Record from the node and analyse(); samples lost on the way are a warning."""
    from host_tools import stream
    cfg = link.config_get()
    x, res = stream.record(link, seconds, progress)
    r = analyse(x, res["rate"], cfg["gain_db"], cfg["cal_cdb"])
    if res["lost"]:
        r["warnings"].append("%d samples were lost on the way (the node's audio_dropped counter, or the link)"
                             % res["lost"])
    r.update(lost=res["lost"], rate=res["rate"], cal_cdb=cfg["cal_cdb"])
    return r
