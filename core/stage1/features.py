"""Prosodic and spectral features for stage 1: per 10 ms frame, then pooled per segment.

Frame features (100 fps, frame ``t`` centred at ``t × 10 ms``): F0 and periodicity (``pitch``), RMS level,
voice activity and log-mel from the shared front end (``core.features``).

Segment statistics (``STAT_NAMES``), chosen to survive what the corpus randomises on purpose — the
recording level (only level *differences* are used), the voice and noise (an SNR estimate is a feature, so
the model can discount it): F0 level, spread, range, slope and movement; periodicity; loudness spread,
movement and level relative to the loudest part of the clip; speaking rate (syllable nuclei per second of
speech), pause rate and the share of speech; spectral tilt, centroid and flux; a 16-band spectral envelope
with the frame level removed.

Per-recording speaker normalisation, the same code in training and inference, so the model never sees a
voice's absolute height: F0 is in semitones relative to the recording's own median voiced F0
(``FrameFeatures.f0_reference``; ``f0_rel_*``), loudness relative to the recording's speech (``energy_rel``),
and every statistic also enters as its difference from the whole recording's (``*_vs_clip``: rate, spread
and tilt relative to the speaker's own). A high and a low voice saying the same thing the same way give
near-identical features.

Segment length is deliberately not a feature: in the corpus it follows from the sentence templates, in
real speech it means nothing. A segment is described by its own statistics and their difference from the
whole clip's (``segment_vector``), which is what a change of manner shows up in.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..audio.features import extract_features
from ..audio.loader import Audio
from ..audio.pitch import HOP_SECONDS, track_pitch
from ..audio.runs import runs

FPS = 1.0 / HOP_SECONDS
N_BANDS = 16  # 80 mel bands averaged in groups of 5
MIN_PAUSE = 0.15  # seconds of inactivity that count as a pause

STAT_NAMES: tuple[str, ...] = (
    "f0_rel_mean", "f0_std", "f0_rel_p10", "f0_rel_p50", "f0_rel_p90", "f0_range", "f0_slope", "f0_delta", "f0_jumps",
    "periodicity", "voiced_ratio",
    "energy_std", "energy_range", "energy_delta", "energy_rel",
    "nuclei_rate", "pause_rate", "active_ratio",
    "tilt_mean", "tilt_std", "centroid_mean", "centroid_std", "flux_mean",
    *(f"band_{k:02d}" for k in range(N_BANDS)),
    "snr",
)  # fmt: skip
N_STATS = len(STAT_NAMES)
_ALL_STATS = frozenset(STAT_NAMES)
_BAND_NAMES = tuple(f"band_{k:02d}" for k in range(N_BANDS))
FEATURE_NAMES: tuple[str, ...] = STAT_NAMES + tuple(f"{n}_vs_clip" for n in STAT_NAMES)


@dataclass
class FrameFeatures:
    f0: np.ndarray  # [T] Hz, 0 where unvoiced
    periodicity: np.ndarray  # [T] 0..1
    energy_db: np.ndarray  # [T] dBFS
    active: np.ndarray  # [T] bool voice activity
    logmel: np.ndarray  # [T, 80]
    tilt: np.ndarray  # [T] slope of the log-mel spectrum over the band index (per band)
    centroid: np.ndarray  # [T] power-weighted mean band index, 0..1
    bands: np.ndarray  # [T, N_BANDS] log-mel in 16 groups, frame mean removed
    duration: float

    @property
    def n_frames(self) -> int:
        return len(self.f0)

    def frame_at(self, seconds: float) -> int:
        return int(np.clip(round(seconds * FPS), 0, self.n_frames))

    # Whole-clip values every segment's statistics use: computed once per clip, not once per segment
    # (splitting a long clip asks for thousands of segments). Each is exactly what the per-segment
    # expression gave, so the statistics are unchanged bit for bit.
    @cached_property
    def clip_top(self) -> float:
        """The clip's loudness reference: the 90th percentile of its active frames' level."""
        return _pct(self.energy_db[self.active], 90) if self.active.any() else _pct(self.energy_db, 90)

    @cached_property
    def f0_reference(self) -> float:
        """The recording's median voiced F0 in Hz (100 where it has too little voicing to tell): F0
        statistics are semitones relative to it, so they describe the manner, not the voice."""
        voiced = self.f0[(self.f0 > 0) & self.active]
        return float(np.median(voiced)) if len(voiced) >= 5 else 100.0

    @cached_property
    def snr(self) -> float:
        return _pct(self.energy_db, 95) - _pct(self.energy_db, 5)

    @cached_property
    def flux(self) -> np.ndarray:
        """[T-1] mean absolute log-mel change from frame t to t+1 (row by row, so a slice is a segment's)."""
        return np.mean(np.abs(np.diff(self.logmel, axis=0)), axis=1)


def frame_features(audio: Audio) -> FrameFeatures:
    front = extract_features(audio, FPS)
    pitch = track_pitch(audio.samples, audio.sr, n_frames=front.n_frames)
    logmel = front.logmel.astype(np.float32)
    n_mels = logmel.shape[1]
    index = np.linspace(-1.0, 1.0, n_mels, dtype=np.float32)
    centred = logmel - logmel.mean(axis=1, keepdims=True)
    tilt = centred @ index / float(index @ index)
    power = np.exp(np.clip(logmel - logmel.max(axis=1, keepdims=True), -30, 0))
    centroid = power @ np.linspace(0, 1, n_mels, dtype=np.float32) / np.maximum(power.sum(axis=1), 1e-9)
    bands = centred.reshape(len(logmel), N_BANDS, n_mels // N_BANDS).mean(axis=2)
    active = front.voiced.copy()
    if audio.is_silent:
        active[:] = False
    return FrameFeatures(pitch.f0, pitch.periodicity, front.energy_db.astype(np.float32), active, logmel,
                         tilt.astype(np.float32), centroid.astype(np.float32), bands.astype(np.float32),
                         audio.duration)


def pauses(ff: FrameFeatures, min_pause: float = MIN_PAUSE) -> list[tuple[int, int]]:
    """Inactive runs of at least ``min_pause`` seconds between two stretches of speech (frames)."""
    out = []
    for a, b in runs(ff.active, False):
        if a > 0 and b < ff.n_frames and (b - a) / FPS >= min_pause:
            out.append((a, b))
    return out


def _pct(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q)) if len(x) else 0.0


def _nuclei(energy: np.ndarray, voiced: np.ndarray) -> int:
    """Syllable nuclei: peaks of the smoothed level in voiced frames, ≥ 3 dB above the dip before them and
    ≥ 80 ms apart."""
    if len(energy) < 5:
        return 0
    kernel = np.hanning(7)[1:-1]
    smooth = np.convolve(energy, kernel / kernel.sum(), mode="same")
    if np.isnan(smooth).any():
        return _nuclei_scan(smooth, voiced)
    # Only voiced local maxima can count; the dip before each is the minimum since the last counted peak,
    # taken gap by gap between candidates (the same minimum, exactly, as scanning every frame).
    peaks = np.flatnonzero((smooth[1:-1] >= smooth[:-2]) & (smooth[1:-1] > smooth[2:]) & voiced[1:-1]) + 1
    if len(peaks) == 0:
        return 0
    gaps = np.minimum.reduceat(smooth[: peaks[-1] + 1], np.concatenate([[1], peaks[:-1] + 1]))
    count, last, valley = 0, -100, float(smooth[0])
    for t, gap, level in zip(peaks.tolist(), gaps.tolist(), smooth[peaks].tolist(), strict=True):
        valley = min(valley, gap)
        if level - valley >= 3.0 and t - last >= 8:
            count, last, valley = count + 1, t, level
    return count


def _nuclei_scan(smooth: np.ndarray, voiced: np.ndarray) -> int:
    """``_nuclei``'s frame-by-frame definition (kept for levels with NaN, where minima differ)."""
    count, last, valley = 0, -100, float(smooth[0])
    for t in range(1, len(smooth) - 1):
        valley = min(valley, float(smooth[t]))
        if smooth[t] >= smooth[t - 1] and smooth[t] > smooth[t + 1] and voiced[t] and \
                smooth[t] - valley >= 3.0 and t - last >= 8:
            count, last, valley = count + 1, t, float(smooth[t])
    return count


def segment_stats(ff: FrameFeatures, a: int, b: int, names: Collection[str] | None = None) -> np.ndarray:
    """``STAT_NAMES`` over frames [a, b). With ``names``, the costly statistics not named are left at 0
    (splitting compares 15 of them on both sides of every candidate pause: thousands of segments in a long
    clip); those computed are the same either way."""
    want = _ALL_STATS if names is None else frozenset(names)
    a, b = max(0, a), min(ff.n_frames, max(b, a + 1))
    act = ff.active[a:b]
    f0 = ff.f0[a:b]
    voiced = (f0 > 0) & act
    st = 12.0 * np.log2(np.maximum(f0[voiced], 1.0) / ff.f0_reference)
    out = dict.fromkeys(STAT_NAMES, 0.0)
    if len(st) >= 5:
        out.update(f0_rel_mean=float(st.mean()), f0_std=float(st.std()), f0_rel_p10=_pct(st, 10),
                   f0_rel_p50=_pct(st, 50), f0_rel_p90=_pct(st, 90))
        out["f0_range"] = out["f0_rel_p90"] - out["f0_rel_p10"]
        times = np.flatnonzero(voiced) / FPS
        if "f0_slope" in want and np.ptp(times) > 0:
            out["f0_slope"] = float(np.polyfit(times, st, 1)[0])
        steps = np.diff(st)[np.diff(np.flatnonzero(voiced)) == 1]  # neighbouring voiced frames only
        if len(steps):
            out["f0_delta"] = float(np.mean(np.abs(steps)))
            out["f0_jumps"] = float(np.mean(np.abs(steps) > 1.0))
        out["periodicity"] = float(ff.periodicity[a:b][voiced].mean())
    n_act = int(act.sum())
    out["voiced_ratio"] = float(voiced.sum() / n_act) if n_act else 0.0
    energy = ff.energy_db[a:b]
    e_act = energy[act]
    if len(e_act) >= 3:
        top = _pct(e_act, 90)
        out.update(energy_std=float(e_act.std()), energy_range=top - _pct(e_act, 10),
                   energy_delta=float(np.mean(np.abs(np.diff(e_act)))), energy_rel=top - ff.clip_top)
    seconds = (b - a) / FPS
    active_seconds = n_act / FPS
    out["nuclei_rate"] = _nuclei(energy, voiced) / active_seconds if active_seconds > 0.2 else 0.0
    if "pause_rate" in want:
        inner = [r for r in runs(act, False) if r[0] > 0 and r[1] < len(act) and (r[1] - r[0]) / FPS >= MIN_PAUSE]
        out["pause_rate"] = len(inner) / seconds
    out["active_ratio"] = n_act / max(1, b - a)
    sel = voiced if voiced.sum() >= 5 else act if n_act >= 3 else np.ones(b - a, bool)
    out.update(tilt_mean=float(ff.tilt[a:b][sel].mean()), centroid_mean=float(ff.centroid[a:b][sel].mean()))
    if not want.isdisjoint(("tilt_std", "centroid_std")):
        out.update(tilt_std=float(ff.tilt[a:b][sel].std()), centroid_std=float(ff.centroid[a:b][sel].std()))
    if b - a > 1:
        flux = ff.flux[a : b - 1]
        out["flux_mean"] = float(flux[act[1:]].mean()) if act[1:].any() else float(flux.mean())
    if not want.isdisjoint(_BAND_NAMES):
        bands = ff.bands[a:b][act].mean(axis=0) if n_act else ff.bands[a:b].mean(axis=0)
        for k, name in enumerate(_BAND_NAMES):
            out[name] = float(bands[k])
    out["snr"] = ff.snr
    return np.array([out[n] for n in STAT_NAMES], np.float32)


def segment_vector(ff: FrameFeatures, a: int, b: int, clip: np.ndarray | None = None) -> np.ndarray:
    """``FEATURE_NAMES``: the segment's statistics and their difference from the clip's."""
    own = segment_stats(ff, a, b)
    whole = clip if clip is not None else segment_stats(ff, 0, ff.n_frames)
    return np.concatenate([own, own - whole]).astype(np.float32)

