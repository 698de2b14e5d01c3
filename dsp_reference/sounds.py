# SPDX-License-Identifier: MIT
"""Synthetic sound-event models for the positive classes, plus shared DSP helpers.

Every model is a function ``model(rng, rate, **params) -> (signal, info)``; all randomness comes
from the ``numpy.random.Generator`` passed in, so a seed fixes the sound.  Signals are float64,
start at (or, for ``onset_offset`` > 0, shortly before) the acoustic onset and end when the
sound has decayed 45 dB below its loudest 10 ms frame.  Filters are causal where an onset
must stay sharp (minimum-phase FIRs built from a magnitude response via the real cepstrum);
stationary noise is shaped in the frequency domain.  Confuser models live in
``dsp_reference.confusers``; ``make_event`` dispatches to both.
"""
import numpy as np

C_SOUND = 343.0
POSITIVE_CLASSES = ("gunshot", "scream", "glass_break")


# ---------------------------------------------------------------- helpers
def loguniform(rng, lo, hi):
    """One draw, uniform in log between lo and hi."""
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def fast_len(n):
    """Smallest 2**a * 3**b * 5**c >= n (a fast FFT size)."""
    best = 1 << max(0, int(np.ceil(np.log2(max(n, 1)))))
    p3 = 1
    while p3 < best:
        p35 = p3
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 5
        p3 *= 3
    return best


def shaped_noise(rng, n, rate, power_fn):
    """Gaussian noise of length n whose power spectrum follows power_fn(freq_hz); unit RMS."""
    if n <= 0:
        return np.zeros(0)
    m = fast_len(n)
    f = np.fft.rfftfreq(m, 1.0 / rate)
    spec = (rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f))) * np.sqrt(power_fn(f))
    spec[0] = 0.0
    x = np.fft.irfft(spec, m)[:n]
    r = np.sqrt(np.mean(x * x))
    return x / r if r > 0 else x


def fft_filter(x, rate, gain_fn):
    """Zero-phase filtering: multiply the spectrum by gain_fn(freq_hz) (for stationary signals)."""
    n = len(x)
    m = fast_len(n)
    f = np.fft.rfftfreq(m, 1.0 / rate)
    return np.fft.irfft(np.fft.rfft(x, m) * gain_fn(f), m)[:n]


def minphase_fir(gain_fn, rate, ntaps=256):
    """Causal minimum-phase FIR whose magnitude response approximates gain_fn(freq_hz).

    Built by folding the real cepstrum of log|H| (homomorphic method), so a filtered impulse
    still starts exactly at its first sample.
    """
    nfft = 8 * ntaps
    f = np.fft.rfftfreq(nfft, 1.0 / rate)
    logmag = np.log(np.maximum(gain_fn(f), 1e-6))
    cep = np.fft.irfft(logmag, nfft)
    fold = np.zeros(nfft)
    fold[0] = cep[0]
    fold[1:nfft // 2] = 2 * cep[1:nfft // 2]
    fold[nfft // 2] = cep[nfft // 2]
    h = np.fft.irfft(np.exp(np.fft.rfft(fold)), nfft)[:ntaps]
    return h * np.hanning(2 * ntaps)[ntaps:] ** 0.5


def causal_filter(x, h):
    """Apply FIR h causally; output has len(x) + len(h) - 1 samples."""
    if len(x) * len(h) < 4e6:
        return np.convolve(x, h)
    n = len(x) + len(h) - 1
    m = 1 << int(np.ceil(np.log2(n)))
    return np.fft.irfft(np.fft.rfft(x, m) * np.fft.rfft(h, m), m)[:n]


def bandpass_gain(lo, hi, order=2):
    """Smooth band-pass magnitude response (Butterworth-like skirts) as a gain function."""
    def g(f):
        f = np.maximum(f, 1e-3)
        return 1.0 / np.sqrt((1 + (lo / f) ** (2 * order)) * (1 + (f / hi) ** (2 * order)))
    return g


def resonance_gain(freqs, bws, amps=None):
    """Sum of two-pole resonance magnitudes (formants) as a gain function."""
    amps = np.ones(len(freqs)) if amps is None else amps

    def g(f):
        out = np.zeros_like(f, dtype=float)
        for fc, bw, a in zip(freqs, bws, amps):
            out += a / np.sqrt(1 + ((f - fc) / (bw / 2)) ** 2) / np.sqrt(1 + ((f + fc) / (bw / 2)) ** 2) * 2
        return out
    return g


def air_absorption_gain(distance_m):
    """Atmospheric absorption over distance_m (about ISO 9613-1 at 20 C, 50-70 % RH)."""
    def g(f):
        alpha_db_per_m = 0.1 * (np.maximum(f, 0) / 8000.0) ** 1.7 + 0.0005 * f / 1000.0
        return 10 ** (-alpha_db_per_m * distance_m / 20)
    return g


def mic_highpass(x, rate, fc=60.0):
    """First-order causal high-pass (MEMS microphone low-frequency roll-off)."""
    a = np.exp(-2 * np.pi * fc / rate)
    n = int(8 / (1 - a)) + 1
    lp = (1 - a) * a ** np.arange(n)
    return x - np.convolve(x, lp)[:len(x)]


def decaying_partials(n, rate, freqs, taus, amps, phases=None):
    """Sum of exponentially decaying sinusoids starting at sample 0."""
    t = np.arange(n) / rate
    out = np.zeros(n)
    nyq = 0.47 * rate
    for i, (f, tau, a) in enumerate(zip(freqs, taus, amps)):
        if f >= nyq:
            continue
        ph = 0.0 if phases is None else phases[i]
        m = min(n, int(7 * tau * rate) + 1)
        out[:m] += a * np.exp(-t[:m] / tau) * np.sin(2 * np.pi * f * t[:m] + ph)
    return out


def frame_rms(x, rate, frame_s=0.01):
    """RMS of consecutive non-overlapping frames of frame_s seconds."""
    n = max(1, int(round(frame_s * rate)))
    m = len(x) // n
    if m == 0:
        return np.array([np.sqrt(np.mean(x * x))]) if len(x) else np.zeros(1)
    return np.sqrt(np.mean(x[:m * n].reshape(m, n) ** 2, axis=1))


def finish(sig, rate, onset_offset=0, floor_db=45.0, **info):
    """Trim the decayed end of sig and build the info dict.

    The signal ends after the last 10 ms frame within floor_db of the loudest frame;
    ``duration_s`` counts from ``onset_offset``.
    """
    env = frame_rms(sig, rate)
    if env.max() > 0:
        last = np.nonzero(env >= env.max() * 10 ** (-floor_db / 20))[0][-1]
        end = min(len(sig), (last + 1) * int(round(0.01 * rate)))
        end = max(end, onset_offset + 1)
        sig = sig[:end].copy()
        sig[-min(len(sig), 32):] *= np.linspace(1, 0, min(len(sig), 32))
    info = dict(info)
    info["onset_offset"] = int(onset_offset)
    info["duration_s"] = (len(sig) - onset_offset) / rate
    return sig, info


# ---------------------------------------------------------------- gunshot
def _one_shot(rng, rate, d, crack, tail_s, h_src, h_mic, reverb_db):
    """One shot at distance d: optional crack, Friedlander blast, ground echo, reflections, tail."""
    n = int((0.12 + 1.2 * tail_s) * rate)
    lead = int(round(rng.uniform(0.002, min(0.04, 0.0017 * d)) * rate)) if crack else 0
    sig = np.zeros(n + lead)
    t_pos = rng.uniform(0.003, 0.005)                       # Friedlander positive phase
    b = rng.uniform(1.0, 2.2)
    t = np.arange(int(10 * t_pos * rate)) / rate
    blast = (1 - t / t_pos) * np.exp(-b * t / t_pos)
    direct = np.zeros(n + lead)
    direct[lead:lead + len(blast)] += blast
    if crack:                                               # N-wave from the supersonic bullet
        tn = rng.uniform(0.0002, 0.0005)
        m = max(2, int(round(tn * rate)))
        direct[:m] += rng.uniform(0.4, 1.2) * np.linspace(1, -1, m)
    # image source over hard ground: path difference -> delay, slightly lossy reflection
    delay = (np.hypot(d, h_src + h_mic) - np.hypot(d, h_mic - h_src)) / C_SOUND
    k = int(round(delay * rate))
    refl = rng.uniform(0.55, 0.9)
    ground = np.zeros_like(direct)
    ground[k:] = refl * direct[:len(direct) - k]
    direct = direct + ground
    direct = causal_filter(direct, minphase_fir(air_absorption_gain(d), rate))[:len(sig)]
    sig += direct
    # discrete facade reflections 8-90 ms later, each darker and weaker
    dark = minphase_fir(lambda f: 1 / np.sqrt(1 + (f / 2500.0) ** 2), rate, 64)
    dd = causal_filter(direct, dark)[:len(sig)]
    for _ in range(rng.integers(2, 6)):
        k = lead + int(rng.uniform(0.008, 0.09) * rate)
        if k < len(sig):
            sig[k:] += rng.uniform(0.15, 0.5) * (10 / max(d, 10)) ** -0.3 * dd[:len(sig) - k]
    # diffuse tail: highs decay faster than lows, level relative to direct grows with distance
    tt = np.arange(len(sig) - lead) / rate
    rise = np.minimum(1.0, tt / 0.01)
    lo = shaped_noise(rng, len(tt), rate, bandpass_gain(80, 900, 1))
    hi = shaped_noise(rng, len(tt), rate, bandpass_gain(900, 5000, 1))
    tail = (lo * np.exp(-6.9 * tt / tail_s) + 0.8 * hi * np.exp(-6.9 * tt / (0.6 * tail_s))) * rise
    sig[lead:] += 10 ** (reverb_db / 20) * tail * np.abs(blast).max()
    return mic_highpass(sig, rate), lead


def gunshot(rng, rate, distance_m=None, crack=None, n_shots=None, interval_s=None, tail_s=None):
    """Gunshot or burst.  Peak level follows -6 dB per doubling of distance (1.0 at 10 m).

    Args:
        distance_m: 10-300 m (log-uniform if None).  crack: supersonic N-wave before the blast
            (30 % if None).  n_shots: 1, or 2-6 for a burst (25 % bursts if None).
        interval_s: shot spacing 0.08-0.6 s.  tail_s: reverberant decay (-60 dB) time 0.1-0.8 s
            (30 % if None: 0.8-2 s with 0-8 dB more reverberation, an enclosed street).
    """
    d = loguniform(rng, 10, 300) if distance_m is None else float(distance_m)
    crack = bool(rng.random() < 0.3) if crack is None else bool(crack)
    if n_shots is None:
        n_shots = 1 if rng.random() < 0.75 else int(rng.integers(2, 7))
    if interval_s is None:
        interval_s = rng.uniform(0.08, 0.13) if rng.random() < 0.5 else rng.uniform(0.2, 0.6)
    long_tail = tail_s is None and rng.random() < 0.3
    if tail_s is None:
        # 30 %: a street canyon, underpass or courtyard -- the real clips' tails run to 2 s
        tail_s = rng.uniform(0.8, 2.0) if long_tail else rng.uniform(0.1, 0.8)
    tail_s = float(tail_s)
    h_src, h_mic = rng.uniform(1.0, 1.6), rng.uniform(3.0, 5.0)
    reverb_db = -20 + 12 * np.log10(d / 10) / np.log10(30) + rng.uniform(-3, 3) + (rng.uniform(0, 8) if long_tail else 0)
    shots, onsets = [], []
    pos = 0
    for i in range(n_shots):
        s, lead = _one_shot(rng, rate, d, crack, tail_s, h_src, h_mic, reverb_db)
        s *= 10 ** (rng.uniform(-2, 2) / 20) if i else 1.0
        shots.append((pos, s))
        onsets.append(pos)
        pos += int(interval_s * rate * rng.uniform(0.9, 1.1))
    sig = np.zeros(max(p + len(s) for p, s in shots))
    for p, s in shots:
        sig[p:p + len(s)] += s
    sig *= (10.0 / d) / np.abs(sig).max()
    sig, info = finish(sig, rate, 0, kind="gunshot", distance_m=d, crack=crack, n_shots=n_shots,
                       interval_s=float(interval_s) if n_shots > 1 else None, tail_s=tail_s)
    info["shot_offsets"] = onsets
    info["shot_onsets_s"] = [o / rate for o in onsets]
    info["duration_s"] = max(info["duration_s"], onsets[-1] / rate + 0.05)
    return sig, info


# ---------------------------------------------------------------- voice (scream and voice-like confusers)
def voice(rng, rate, f0, amp_env, formants, bws, rough_depth=0.0, rough_hz=60.0, breath=0.05,
          tilt=1.2, jitter=0.004):
    """Additive glottal-harmonic synthesis with a per-sample f0 contour and formant colouring.

    Args:
        f0: per-sample fundamental (Hz).  amp_env: per-sample amplitude.  formants, bws:
            resonances applied to each harmonic at its instantaneous frequency.
        rough_depth, rough_hz: amplitude modulation (vocal roughness).  breath: aspiration noise.
        tilt: harmonic roll-off exponent (amplitude ~ k**-tilt).  jitter: random f0 wander.
    """
    n = len(f0)
    walk = np.cumsum(rng.standard_normal(n // 64 + 2)) * jitter
    f0 = f0 * (1 + np.interp(np.arange(n), np.arange(len(walk)) * 64, walk - walk.mean()))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    fg = resonance_gain(formants, bws)
    kmax = int(0.45 * rate / max(f0.min(), 50))
    out = np.zeros(n)
    for k in range(1, kmax + 1):
        fk = k * f0
        a = fg(fk) * k ** -tilt * (fk < 0.45 * rate)
        if a.max() < 1e-4:
            continue
        out += a * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    out /= np.sqrt(np.mean(out * out)) + 1e-12
    out += breath * fft_filter(rng.standard_normal(n), rate,
                               lambda f: fg(f) / 2.0 + 0.15 * bandpass_gain(1500, 7000)(f))
    if rough_depth > 0:
        t = np.arange(n) / rate
        out *= 1 + rough_depth * np.sin(2 * np.pi * rough_hz * t + rng.uniform(0, 6.3))
    return out * amp_env


def ramp_env(n, rate, attack_s, release_s):
    """Raised-cosine attack and release envelope of n samples."""
    e = np.ones(n)
    a, r = max(1, int(attack_s * rate)), max(1, int(release_s * rate))
    a, r = min(a, n // 2), min(r, n // 2)
    e[:a] = 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a)
    e[n - r:] = 0.5 + 0.5 * np.cos(np.pi * np.arange(r) / r)
    return e


def scream(rng, rate, duration_s=None, f_peak=None):
    """Scream: arcing f0 (about 250-1500 Hz) with 5-7 Hz vibrato, rough, formant-coloured
    harmonics, and the irregularities of real screams: register jumps of f0, stretches of
    period doubling (subharmonics), noisy phonation, and an effort that wavers."""
    dur = rng.uniform(0.3, 2.5) if duration_s is None else float(duration_s)
    n = int(dur * rate)
    t = np.arange(n) / rate
    male = rng.random() < 0.2
    # the pitch of the real clips' voiced frames (node DSP comb): median 875 Hz, quartiles 770-985
    fp = (rng.uniform(450, 1000) if male else rng.uniform(600, 1600)) if f_peak is None else float(f_peak)
    f_start, f_end = fp * rng.uniform(0.6, 0.9), fp * rng.uniform(0.6, 0.9)
    t_peak = rng.uniform(0.15, 0.5) * dur
    rise = np.sin(0.5 * np.pi * np.minimum(t / t_peak, 1)) ** 0.7
    fall = np.where(t > t_peak, ((t - t_peak) / (dur - t_peak + 1e-9)) ** 2, 0)
    f0 = f_start + (fp - f_start) * rise - (fp - f_end) * fall
    for _ in range(int(rng.integers(0, 4))):                  # register breaks: sudden f0 jumps
        f0 = f0 * np.where(t >= rng.uniform(0.1, 0.9) * dur, rng.uniform(0.75, 1.3), 1.0)
    f0 = np.maximum(f0, 220.0 if male else 280.0)
    vib_hz, vib_depth = rng.uniform(5, 7), rng.uniform(0.01, 0.04)
    f0 *= 1 + vib_depth * np.sin(2 * np.pi * vib_hz * t)
    f1 = rng.uniform(550, 1200)                               # open, tense vowel
    formants = [f1, rng.uniform(1400, 2000), rng.uniform(2700, 3300), rng.uniform(3800, 4600)]
    bws = [rng.uniform(150, 300), rng.uniform(200, 350), rng.uniform(300, 500), 600]
    env = ramp_env(n, rate, rng.uniform(0.02, 0.12), rng.uniform(0.05, min(0.3, dur / 3)))
    env *= 1 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t)
    # real screams are unsteady: the effort wavers every 40-120 ms by a few dB (real_dev clips:
    # frame-to-frame level change about twice that of a steady synthetic voice)
    step = rng.uniform(0.04, 0.12)
    k = int(dur / step) + 2
    env *= np.interp(t, np.arange(k) * step, 10 ** (rng.normal(0, rng.uniform(1.5, 5.0), k) / 20))
    rough = rng.uniform(0.15, 0.6)
    rough_hz = rng.uniform(30, 150)
    tilt = rng.uniform(0.7, 1.6)
    # a strained voice is noisy: breath and jitter bring the harmonic comb's peak-to-valley to
    # the real clips' (median 26 dB over the loud frames; a clean synthetic voice gave 35 dB)
    sig = voice(rng, rate, f0, env, formants, bws, rough, rough_hz, breath=rng.uniform(0.5, 1.6), tilt=tilt,
                jitter=rng.uniform(0.004, 0.02))
    if rng.random() < 0.35:
        # period doubling in stretches: a voice at f0/2 gated in and out (energy below 500 Hz
        # and a spectrum that jumps, as in the real clips)
        gate = np.clip(_gate(rng, n, rate, rng.uniform(2, 6)), 0, 1)
        sig += rng.uniform(0.1, 0.35) * voice(rng, rate, f0 / 2, env * gate, formants, bws, breath=0.0, tilt=tilt)
    sig = mic_highpass(sig, rate, 80.0)
    sig /= np.abs(sig).max()
    return finish(sig, rate, 0, kind="scream", f_peak_hz=fp, vibrato_hz=vib_hz, roughness_hz=rough_hz)


def _gate(rng, n, rate, hz):
    """Random on/off curve (smooth edges, about hz changes per second), values near 0 or 1."""
    k = int(n / rate * hz) + 2
    knots = (rng.random(k) < 0.5).astype(float)
    x = np.linspace(0, k - 1, n)
    i = np.minimum(x.astype(int), k - 2)
    w = 0.5 - 0.5 * np.cos(np.pi * (x - i))
    return knots[i] * (1 - w) + knots[i + 1] * w


# ---------------------------------------------------------------- glass break
def glass_break(rng, rate, duration_s=None, shard_rate=None):
    """Glass break: low impact thud (< 1 kHz, < 0.2 s) then dense decaying shard impacts 2-8+ kHz."""
    dur = rng.uniform(0.3, 2.0) if duration_s is None else float(duration_s)
    n = int((dur + 0.05) * rate)
    sig = np.zeros(n)
    # impact thud: low resonances of the pane/frame plus a short broadband crack
    m = int(0.2 * rate)
    thud = decaying_partials(m, rate, rng.uniform(120, 900, 4), rng.uniform(0.015, 0.04, 4),
                             rng.uniform(0.4, 1.0, 4), rng.uniform(0, 6.3, 4))
    crack = np.zeros(m)
    k = int(0.008 * rate)                                   # fracture: broadband burst, few ms
    crack[:k] = rng.standard_normal(k) * np.exp(-np.arange(k) / (rng.uniform(0.002, 0.004) * rate))
    # the impact is often the loudest moment of a real break (real_dev: the loudest frame is the
    # impact, the shards fall 10-20 dB below it, a quarter of the energy is under 500 Hz)
    impact = loguniform(rng, 1.0, 6.0)
    sig[:m] += impact * (thud / np.abs(thud).max() * rng.uniform(0.6, 1.1) + 1.2 * crack)
    # main pane ringing (breaking glass rings, 1.5-6 kHz, long decays)
    ring = decaying_partials(n, rate, rng.uniform(1500, 6000, 5), rng.uniform(0.05, 0.3, 5),
                             rng.uniform(0.05, 0.15, 5), rng.uniform(0, 6.3, 5))
    sig += ring
    # shards: Poisson impacts, density and level decaying over dur
    lam0 = rng.uniform(150, 600) if shard_rate is None else float(shard_rate)
    tau_d = dur / rng.uniform(2.5, 4.0)
    t = 0.005
    kern_n = int(0.04 * rate)
    count = 0
    while t < dur and count < 2500:
        t += rng.exponential(1.0 / (lam0 * np.exp(-t / tau_d) + 1.0))
        if t >= dur:
            break
        p = int(t * rate)
        a = np.exp(-t / (1.5 * tau_d)) * rng.lognormal(0, 0.7) * 0.15
        nf = rng.integers(1, 4)
        fs = np.exp(rng.uniform(np.log(1200), np.log(min(12000, 0.45 * rate)), nf))
        shard = decaying_partials(kern_n, rate, fs, rng.uniform(0.002, 0.015, nf), np.ones(nf),
                                  rng.uniform(0, 6.3, nf))
        c = max(2, int(0.0007 * rate))
        shard[:c] += rng.standard_normal(c) * 1.5
        end = min(n, p + kern_n)
        sig[p:end] += a * shard[:end - p]
        count += 1
    sig = mic_highpass(sig, rate, 80.0)
    sig /= np.abs(sig).max()
    return finish(sig, rate, 0, kind="glass_break", n_shards=count, shard_rate=lam0)


POSITIVE_MODELS = {"gunshot": gunshot, "scream": scream, "glass_break": glass_break}


def make_event(kind, rng, rate=16000, **params):
    """Synthesize one event of a positive or confuser class.

    Args:
        kind: 'gunshot', 'scream', 'glass_break' or a name in confusers.CONFUSER_CLASSES.
        rng: numpy Generator.  rate: sample rate in Hz.  params: model-specific overrides.
    Returns:
        (signal, info): float64 signal and a dict holding at least ``onset_offset`` (samples
        from the signal start to the acoustic onset), ``duration_s`` and the parameters used.
    """
    from dsp_reference.confusers import CONFUSER_MODELS
    models = dict(POSITIVE_MODELS, **CONFUSER_MODELS)
    if kind not in models:
        raise ValueError("unknown event kind %r (known: %s)" % (kind, ", ".join(sorted(models))))
    sig, info = models[kind](rng, rate, **params)
    info["kind"] = kind
    return np.asarray(sig, dtype=np.float64), info
