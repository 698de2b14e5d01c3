# SPDX-License-Identifier: MIT
"""Deterministic labelled street scenes: backgrounds, event mixing at a chosen SNR, labels.

Everything follows from the seed (``numpy.random.default_rng``).  Event models are in
``dsp_reference.sounds`` (positives) and ``dsp_reference.confusers``.

SNR definition used everywhere here: for an event labelled [onset, offset),
``snr_db = 10*log10(sum(event[onset:offset]**2) / sum(background[onset:offset]**2))`` where
``event`` is the scaled event alone and ``background`` the background bed alone, both over the
same samples of the scene.
"""
import json
from dataclasses import dataclass, field

import numpy as np

from dsp_reference.confusers import CONFUSER_CLASSES
from dsp_reference.sounds import POSITIVE_CLASSES, bandpass_gain, fast_len, make_event, shaped_noise

BACKGROUNDS = ("traffic", "babble", "wind", "rain", "night")
SNR_CHOICES = (0, 5, 10, 15, 20, 30)
LEVEL_RANGE_DBFS = {"traffic": (-45, -30), "babble": (-50, -36), "wind": (-50, -36),
                    "rain": (-50, -38), "night": (-68, -62)}
SELF_NOISE_DBFS = -87.0          # INMP441-class self noise (about 33 dBA at -26 dBFS/94 dB SPL)
FIRST_EVENT_S, MIN_GAP_S, END_MARGIN_S = 1.0, 1.5, 0.3
PEAK_LIMIT = 0.89                # headroom kept when not deliberately clipping


def _smooth_random(rng, n, rate, hz, lo=0.0, hi=1.0, step=8, held=True):
    """Smooth random curve in [lo, hi] with features at about hz (cosine-interpolated knots).

    Evaluated every ``step`` samples; returned held to n samples, or at that grid if not held.
    """
    k = max(2, int(n / rate * hz) + 2)
    knots = rng.uniform(lo, hi, k)
    m = n // step + 1
    x = np.linspace(0, k - 1, m)
    i = np.minimum(x.astype(int), k - 2)
    w = 0.5 - 0.5 * np.cos(np.pi * (x - i))
    y = knots[i] * (1 - w) + knots[i + 1] * w
    return np.repeat(y, step)[:n] if held else y


def _traffic(rng, n, rate):
    t = np.arange(n) / rate
    rumble = shaped_noise(rng, n, rate, lambda f: 1 / (1 + (f / 90.0) ** 2.4) * (f > 25))
    tyres = shaped_noise(rng, n, rate, bandpass_gain(300, 1800, 1))
    env = np.full(n, 0.15)
    engines = np.zeros(n)
    n_cars = rng.poisson(n / rate * rng.uniform(0.1, 0.35))
    for _ in range(n_cars):
        tc = rng.uniform(-3, n / rate + 3)
        v, d0 = rng.uniform(8, 17), rng.uniform(4, 15)
        lo, hi = max(0, int((tc - 3) * rate)), min(n, int((tc + 3) * rate))
        if hi <= lo:
            continue
        tt = t[lo:hi] - tc
        r = np.hypot(d0, v * tt)
        near = d0 / r
        env[lo:hi] += near * rng.uniform(0.5, 1.2)
        vr = v * v * tt / r                                   # radial speed, >0 receding
        fe = rng.uniform(25, 60) * 343.0 / (343.0 + vr)        # Doppler-shifted firing frequency
        ph = 2 * np.pi * np.cumsum(fe) / rate
        harm = np.sin(ph) + 0.5 * np.sin(2 * ph + rng.uniform(0, 6.3)) + 0.33 * np.sin(3 * ph + rng.uniform(0, 6.3))
        engines[lo:hi] += harm * near * np.sqrt(near) * rng.uniform(0.2, 0.6)
    return rumble + 0.7 * tyres * env + engines * 0.5


def _babble(rng, n, rate):
    """Several talkers: pulse-train voices through 3 vowel filter banks, syllable-gated, plus fricatives."""
    vowels = [([700, 1200, 2600]), ([450, 1900, 2600]), ([400, 900, 2400])]
    src = [np.zeros(n) for _ in vowels]
    unv = np.zeros(n // 8 + 1)
    for _ in range(int(rng.integers(4, 9))):
        f0 = rng.uniform(95, 240) * (1 + 0.12 * (_smooth_random(rng, n, rate, 3.0, held=False) - 0.5))
        pulse = (np.cumsum(np.repeat(f0 / rate, 8)[:n]) % 1.0) - 0.5     # sawtooth glottal source
        syl = _smooth_random(rng, n, rate, rng.uniform(8, 12), held=False) ** 3     # 4-6 syllables/s
        talk = _smooth_random(rng, n, rate, 0.3, held=False) > 0.35               # phrase pauses
        g = syl * talk * rng.uniform(0.3, 1.0)
        pg = pulse * np.repeat(g, 8)[:n]
        seg = int(0.2 * rate)                                 # one vowel per 200 ms
        for j, v in enumerate(rng.integers(0, len(vowels), n // seg + 1)):
            src[v][j * seg:(j + 1) * seg] += pg[j * seg:(j + 1) * seg]
        unv += g * (1 - syl)
    unv = np.repeat(unv, 8)[:n]
    m = fast_len(n)
    f = np.fft.rfftfreq(m, 1.0 / rate)
    spec = np.zeros(len(f), dtype=complex)
    for v, fm in enumerate(vowels):                           # vowel filters summed in one spectrum
        gain = sum(1 / np.sqrt(1 + ((f - fc) / 80.0) ** 2) for fc in fm) / (1 + (f / 3000) ** 2)
        spec += np.fft.rfft(src[v], m) * gain
    out = np.fft.irfft(spec, m)[:n]
    out += unv * shaped_noise(rng, n, rate, bandpass_gain(2500, 6000, 1)) * 0.025
    return out


def _wind(rng, n, rate):
    gust = _smooth_random(rng, n, rate, rng.uniform(0.2, 0.6), 0.2, 1.0) ** 2
    low = shaped_noise(rng, n, rate, lambda f: 1 / (1 + (f / 60.0) ** 3) * (f > 15))
    whistle = shaped_noise(rng, n, rate, bandpass_gain(200, 1200, 1))
    return gust * low + 0.08 * np.sqrt(gust) * whistle


def _rain(rng, n, rate):
    hiss = shaped_noise(rng, n, rate, lambda f: bandpass_gain(400, 9000, 1)(f) ** 2)
    drops = np.zeros(n)
    k = rng.poisson(n / rate * rng.uniform(400, 1500))
    pos = rng.integers(0, n, k)
    amp = np.minimum(rng.exponential(1.0, k), 3.0)           # no single loud drop
    np.add.at(drops, pos, amp * rng.choice([-1.0, 1.0], k))
    m = fast_len(n)
    f = np.fft.rfftfreq(m, 1.0 / rate)
    ring = sum(1 / np.sqrt(1 + ((f - fc) / 600.0) ** 2) for fc in (1500, 2500, 3800)) * (f > 300)
    drops = np.fft.irfft(np.fft.rfft(drops, m) * ring, m)[:n]
    drops /= np.sqrt(np.mean(drops ** 2)) + 1e-12
    return 0.6 * hiss + 0.8 * drops


def _night(rng, n, rate):
    t = np.arange(n) / rate
    hum = shaped_noise(rng, n, rate, bandpass_gain(60, 300, 2))
    out = hum + 0.3 * shaped_noise(rng, n, rate, lambda f: 1 / np.maximum(f, 50))
    for _ in range(int(rng.integers(1, 4))):                 # crickets: 4-5 kHz chirps
        fc = rng.uniform(3800, 5200)
        pulse = (np.sin(2 * np.pi * rng.uniform(25, 40) * t) > 0.3)
        chirp = (np.sin(2 * np.pi * rng.uniform(1.0, 2.5) * t + rng.uniform(0, 6.3)) > 0.6)
        out += 0.25 * np.sin(2 * np.pi * fc * t) * pulse * chirp * rng.uniform(0.3, 1)
    return out


_BG = {"traffic": _traffic, "babble": _babble, "wind": _wind, "rain": _rain, "night": _night}


def make_background(kind, rng, rate=16000, seconds=30.0):
    """Background bed of the given kind, unit RMS (scale it to a level yourself).

    Args:
        kind: one of BACKGROUNDS.  rng: numpy Generator.  rate: Hz.  seconds: length.
    Returns:
        float64 array of round(seconds*rate) samples, RMS 1.  No event-like impulses: the
        largest rain droplet or traffic transient stays far below a labelled event at 0 dB SNR.
    """
    if kind not in _BG:
        raise ValueError("unknown background %r (known: %s)" % (kind, ", ".join(BACKGROUNDS)))
    n = int(round(seconds * rate))
    x = _BG[kind](rng, n, rate)
    return x / (np.sqrt(np.mean(x * x)) + 1e-20)


@dataclass
class Scene:
    """A mixed scene and its ground truth.

    Attributes:
        audio: float64 mixture in [-1, 1).  rate: Hz.  labels: positive events (dicts with class,
        onset_s, offset_s, onset_sample, offset_sample, snr_db, and model info).  confusers: the
        confuser sounds (same keys) that must not be detected.  background: background kind.
        seed: the seed.  level_dbfs: RMS of the background bed in the final mix.
        background_audio / event_audio: the background bed and the positives alone (final scale),
        kept to check SNRs.
    """
    audio: np.ndarray
    rate: int
    labels: list
    confusers: list
    background: str
    seed: int
    level_dbfs: float
    background_audio: np.ndarray = field(repr=False, default=None)
    event_audio: np.ndarray = field(repr=False, default=None)


def _place(rng, durations, seconds):
    """Start times for items of the given lengths, in order, >= MIN_GAP_S apart, after FIRST_EVENT_S."""
    free = seconds - FIRST_EVENT_S - END_MARGIN_S - sum(durations) - MIN_GAP_S * (len(durations) - 1)
    if free < 0:
        return None
    cuts = np.sort(rng.uniform(0, free, len(durations)))
    starts, pos = [], FIRST_EVENT_S
    prev = 0.0
    for d, c in zip(durations, cuts):
        pos += c - prev
        prev = c
        starts.append(pos)
        pos += d + MIN_GAP_S
    return starts


def _snr_gain(ev, bg, snr_db):
    pe, pb = np.sum(ev * ev), np.sum(bg * bg)
    return np.sqrt(pb / pe * 10 ** (snr_db / 10)) if pe > 0 else 0.0


def make_scene(seed, rate=16000, seconds=30.0, background=None, snr_db=None, n_events=None,
               classes=POSITIVE_CLASSES, confusers=True, level_dbfs=None, clip=False):
    """Generate a labelled scene.

    Args:
        seed: int seed; the scene is a pure function of the arguments.
        rate: 16000 or 32000 (any rate >= 16000 works).  seconds: scene length.
        background: one of BACKGROUNDS (drawn if None).  snr_db: event-to-background ratio for
            every event (drawn per event from SNR_CHOICES if None); see the module docstring.
        n_events: number of positive events (about one per 8 s if None).  classes: positive
            classes to draw from.  confusers: add confuser sounds (True, False, or a list of names).
        level_dbfs: background RMS in dBFS (drawn from LEVEL_RANGE_DBFS if None).  The whole mix is
            turned down if the loudest event would exceed -1 dBFS, unless clip is set, in
            which case the mix is hard-clipped as a close shot or scream clips a real microphone.
    Returns:
        Scene.  Events and confusers never overlap, are at least 1.5 s apart and start after 1 s.
    """
    rng = np.random.default_rng(seed)
    bg_kind = background or BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    lo, hi = LEVEL_RANGE_DBFS[bg_kind]
    level = rng.uniform(lo, hi) if level_dbfs is None else float(level_dbfs)
    n_ev = int(rng.integers(max(1, int(seconds / 12)), max(2, int(seconds / 6)) + 1)) if n_events is None else n_events
    conf_names = CONFUSER_CLASSES if confusers is True else tuple(confusers or ())
    n_conf = int(rng.integers(1, max(2, int(seconds / 10)) + 1)) if conf_names else 0
    ev_rng = np.random.default_rng([seed, 1])
    items = [(classes[ev_rng.integers(len(classes))], True) for _ in range(n_ev)]
    items += [(conf_names[ev_rng.integers(len(conf_names))], False) for _ in range(n_conf)]
    items = [items[i] for i in ev_rng.permutation(len(items))]
    sounds = [make_event(k, ev_rng, rate) + (k, pos) for k, pos in items]
    starts = _place(rng, [len(s[0]) / rate for s in sounds], seconds)
    while starts is None:                                     # too full: drop confusers first
        drop = next((i for i, s in enumerate(sounds) if not s[3]), len(sounds) - 1)
        sounds.pop(drop)
        starts = _place(rng, [len(s[0]) / rate for s in sounds], seconds)
    n = int(round(seconds * rate))
    bg = make_background(bg_kind, np.random.default_rng([seed, 2]), rate, seconds) * 10 ** (level / 20)
    bg += np.random.default_rng([seed, 3]).standard_normal(n) * 10 ** (SELF_NOISE_DBFS / 20)
    ev_track, conf_track = np.zeros(n), np.zeros(n)
    labels, conf_labels = [], []
    for (sig, info, kind, positive), st in zip(sounds, starts):
        s0 = int(round(st * rate))
        on = s0 + info["onset_offset"]
        off = min(n, on + int(round(info["duration_s"] * rate)))
        snr = float(SNR_CHOICES[rng.integers(len(SNR_CHOICES))] if snr_db is None else snr_db)
        lab_len = off - on
        g = _snr_gain(sig[info["onset_offset"]:info["onset_offset"] + lab_len], bg[on:off], snr)
        (ev_track if positive else conf_track)[s0:s0 + len(sig)] += g * sig[:n - s0]
        lab = {"class": kind, "onset_s": on / rate, "offset_s": off / rate, "onset_sample": on,
               "offset_sample": off, "snr_db": snr}
        lab.update({k: v for k, v in info.items() if k not in ("kind", "onset_offset", "duration_s",
                                                                "shot_offsets", "shot_onsets_s")})
        if "shot_offsets" in info:
            lab["n_shots"] = info["n_shots"]
            lab["shot_onsets_s"] = [(s0 + o) / rate for o in info["shot_offsets"]]
        (labels if positive else conf_labels).append(lab)
    mix = bg + ev_track + conf_track
    peak = np.abs(mix).max()
    scale = 1.0
    if peak > PEAK_LIMIT and not clip:
        scale = PEAK_LIMIT / peak
    mix, bg, ev_track = mix * scale, bg * scale, ev_track * scale
    mix = np.clip(mix, -1.0, 1.0 - 2.0 ** -15)
    return Scene(audio=mix, rate=rate, labels=labels, confusers=conf_labels, background=bg_kind, seed=seed,
                 level_dbfs=float(level + 20 * np.log10(scale)), background_audio=bg, event_audio=ev_track)


def make_background_hours(seed, rate=16000, hours=2.0, chunk_s=60.0, backgrounds=BACKGROUNDS,
                          confusers_per_hour=120, block_minutes=10.0, confusers=CONFUSER_CLASSES):
    """Long background-plus-confuser stream for false-alarm-rate measurement, in chunks.

    The background kind changes every block_minutes (cycling through ``backgrounds`` in a seeded
    order); consecutive chunks are joined by a 0.5 s equal-power crossfade of independently
    generated beds, so no click marks a chunk boundary.  Confusers (drawn from ``confusers``) come
    at about confusers_per_hour, each placed wholly inside one chunk, at SNRs from SNR_CHOICES.

    Yields:
        (audio_chunk, confuser_labels): float64 chunk of chunk_s seconds and a list of dicts with
        class, onset_s, offset_s (seconds from the start of the whole stream), snr_db, background.
    """
    xf = int(0.5 * rate)
    n = int(round(chunk_s * rate))
    n_chunks = int(np.ceil(hours * 3600.0 / chunk_s))
    order = np.random.default_rng([seed, 9]).permutation(len(backgrounds))
    tail = None
    w = np.sin(0.5 * np.pi * (np.arange(xf) + 0.5) / xf)
    for c in range(n_chunks):
        rng = np.random.default_rng([seed, 10, c])
        kind = backgrounds[order[int(c * chunk_s / 60.0 / block_minutes) % len(backgrounds)]]
        level = rng.uniform(*LEVEL_RANGE_DBFS[kind])
        bed = make_background(kind, rng, rate, (n + xf) / rate)[:n + xf] * 10 ** (level / 20)
        bed += rng.standard_normal(n + xf) * 10 ** (SELF_NOISE_DBFS / 20)
        chunk = bed[:n].copy()
        if tail is not None:
            chunk[:xf] = tail * w[::-1] + chunk[:xf] * w
        tail = bed[n:n + xf]
        labels = []
        k = rng.poisson(confusers_per_hour * chunk_s / 3600.0)
        sounds = [make_event(confusers[rng.integers(len(confusers))], rng, rate) for _ in range(k)]
        starts = _place(rng, [len(s) / rate for s, _ in sounds], chunk_s)
        for (sig, info), st in zip(sounds, starts or []):
            on = int(round(st * rate))
            off = min(n, on + len(sig))
            snr = float(SNR_CHOICES[rng.integers(len(SNR_CHOICES))])
            seg = sig[:off - on]
            g = _snr_gain(seg, chunk[on:off], snr)
            g_max = 0.8 * PEAK_LIMIT / (np.abs(seg).max() + 1e-12)    # never clip: cap loud confusers
            if g > g_max:
                g = g_max
                snr = float(10 * np.log10(np.sum((g * seg) ** 2) / np.sum(chunk[on:off] ** 2)))
            chunk[on:off] += g * seg
            labels.append({"class": info["kind"], "onset_s": c * chunk_s + on / rate,
                           "offset_s": c * chunk_s + off / rate, "snr_db": snr, "background": kind})
        yield np.clip(chunk, -1.0, 1.0 - 2.0 ** -15), labels


def write_scene(scene, wav_path, labels_path):
    """Write scene.audio as 16-bit WAV and its labels/confusers/metadata as JSON."""
    from host_tools.audio_io import to_int16, write_wav
    write_wav(wav_path, to_int16(scene.audio), scene.rate)

    def plain(v):
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, (np.floating,)):
            return float(v)
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    doc = {"seed": scene.seed, "rate": scene.rate, "seconds": len(scene.audio) / scene.rate,
           "background": scene.background, "level_dbfs": scene.level_dbfs,
           "snr_definition": "10*log10(event energy / background energy) over [onset_s, offset_s)",
           "labels": plain(scene.labels), "confusers": plain(scene.confusers)}
    with open(labels_path, "w") as f:
        json.dump(doc, f, indent=1)
