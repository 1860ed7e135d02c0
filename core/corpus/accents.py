"""Upper-face prosody for the corpus targets: brows and lids that follow the speech's accents.

Speakers raise their brows on pitch accents and lower them (with a squint) on loud, forceful syllables;
they blink at phrase ends. These rules run on the clean speech and its true phone times, so the model
trained on the targets has to find the same cues in the audio. Each vowel's F0 (YIN, in semitones) is
compared with the speaker's running median over the vowels around it and its level with the clip's
median vowel level; a vowel that peaks above its neighbours by enough is an accent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arkit import ARKIT52, INDEX
from ..audio.loader import TARGET_SR
from ..audio.pitch import HOP_SECONDS, pitch_at
from ..instructions import Instruction
from ..phonemes import SILENCE, VOWELS, Phone

PITCH_ACCENT_ST = 1.5  # semitones above the running median that make a pitch accent
LOUD_DB = 3.0  # dB above the clip's median vowel level that make a loud syllable
CONTEXT_S = 2.0  # the running median looks this far either side
LEAD_S = 0.03  # brows move a little before the vowel's centre
SIGMA_S = 0.11  # gesture width (about 0.26 s at half height)
RAISE, LOWER, SQUINT = 0.36, 0.28, 0.2  # channel values of a full-strength gesture


@dataclass(frozen=True)
class Accent:
    time: float  # the vowel's centre, seconds
    pitch: float  # 0..~1.25: strength of the F0 excursion (0 when it is no pitch accent)
    loud: float  # 0..1: strength of the level peak (0 when it is not loud)


@dataclass(frozen=True)
class Style:
    """How an emotion realises emphasis: gains of the raise, of the loud-syllable lowering/squint, and
    of lowering/squint on any accent (anger turns every emphasis into a frown)."""

    inner: float
    outer: float
    lower_loud: float
    squint_loud: float
    lower_any: float = 0.0
    squint_any: float = 0.0

    def array(self) -> np.ndarray:
        return np.array([self.inner, self.outer, self.lower_loud, self.squint_loud, self.lower_any, self.squint_any])


NEUTRAL = Style(0.7, 0.6, 0.5, 0.4)
STYLES: dict[str, Style] = {
    "neutral": NEUTRAL,
    "happy": Style(1.1, 1.1, 0.0, 0.5),  # smiling eyes squint a little
    "surprised": Style(1.4, 1.4, 0.0, 0.0),
    "fearful": Style(1.3, 0.7, 0.0, 0.0),  # the inner brow leads: worry
    "sad": Style(0.45, 0.0, 0.0, 0.0),  # small inner raises only
    "angry": Style(0.0, 0.0, 1.0, 0.8, 0.9, 0.7),
    "disgusted": Style(0.0, 0.0, 0.7, 0.7, 0.5, 0.6),
    "contempt": Style(0.2, 0.5, 0.4, 0.3),
}


def vowel_levels(phones: list[Phone], times: np.ndarray, energy_db: np.ndarray) -> tuple[list[Phone], np.ndarray]:
    vowels = [ph for ph in phones if ph.label in VOWELS and ph.duration > 0]
    levels = np.full(len(vowels), np.nan)
    for k, ph in enumerate(vowels):
        a, b = np.searchsorted(times, [ph.start, ph.end])
        if b <= a:  # shorter than a frame: the nearest frame
            a = min(int(np.argmin(np.abs(times - ph.centre))), len(times) - 1)
            b = a + 1
        if len(times):
            levels[k] = float(energy_db[a:b].max())
    return vowels, levels


def find_accents(samples: np.ndarray, phones: list[Phone], times: np.ndarray, energy_db: np.ndarray) -> list[Accent]:
    """The vowels that carry a pitch accent or a loudness peak, with their strengths."""
    vowels, levels = vowel_levels(phones, times, energy_db)
    if not vowels:
        return []
    # F0 on the middle half of each vowel only (its edges carry the consonants' F0 perturbations): about a
    # fifth of the frames of a whole-clip track
    spans = []
    for ph in vowels:
        quarter = 0.25 * ph.duration
        a = max(int(np.floor((ph.start + quarter) / HOP_SECONDS)), 0)
        spans.append(np.arange(a, max(int(np.ceil((ph.end - quarter) / HOP_SECONDS)) + 1, a + 1)))
    f0_all, _ = pitch_at(samples, TARGET_SR, np.concatenate(spans))
    bounds = np.cumsum([0] + [len(sp) for sp in spans])
    semitones = np.full(len(vowels), np.nan)
    for k in range(len(vowels)):
        f0 = f0_all[bounds[k] : bounds[k + 1]]
        f0 = f0[f0 > 0]
        if len(f0):
            semitones[k] = 12.0 * np.log2(float(np.median(f0)) / 100.0)
    centres = np.array([ph.centre for ph in vowels])
    level_ref = float(np.nanmedian(levels)) if np.isfinite(levels).any() else 0.0
    out = []
    for k, ph in enumerate(vowels):
        pitch = loud = 0.0
        near = (np.abs(centres - ph.centre) <= CONTEXT_S) & np.isfinite(semitones)
        if np.isfinite(semitones[k]) and near.sum() >= 3:
            excursion = semitones[k] - float(np.median(semitones[near]))
            if excursion > PITCH_ACCENT_ST and _peak(semitones, k):
                pitch = min(excursion / 4.0, 1.25)
        if np.isfinite(levels[k]):
            above = levels[k] - level_ref
            if above > LOUD_DB and _peak(levels, k):
                loud = min((above - LOUD_DB) / 6.0 + 0.3, 1.0)
        if pitch or loud:
            out.append(Accent(ph.centre, pitch, loud))
    return out


def _peak(values: np.ndarray, k: int) -> bool:
    """Not exceeded by the vowels either side (missing neighbours do not count)."""
    return all(not (0 <= j < len(values) and np.isfinite(values[j]) and values[j] > values[k]) for j in (k - 1, k + 1))


def _bumps(times: np.ndarray, centres: list[float], heights: list[float]) -> np.ndarray:
    curve = np.zeros(len(times))
    for centre, height in zip(centres, heights, strict=True):
        if height > 0:
            a, b = np.searchsorted(times, [centre - 4 * SIGMA_S, centre + 4 * SIGMA_S])
            bump = height * np.exp(-0.5 * ((times[a:b] - centre) / SIGMA_S) ** 2)
            curve[a:b] = np.maximum(curve[a:b], bump)
    return curve


def style_gains(instructions: list[Instruction], weights: np.ndarray) -> np.ndarray:
    """[T, 6] per-frame style gains: each segment's emotion, blended towards neutral by its intensity and
    cross-faded between segments by ``weights`` [S, T]."""
    rows = []
    for instr in instructions:
        style = STYLES.get(instr.emotion, NEUTRAL).array()
        strength = 1.0 if instr.emotion == "neutral" else min(1.0, 0.4 + instr.intensity)
        rows.append(NEUTRAL.array() + strength * (style - NEUTRAL.array()))
    return weights.T @ np.stack(rows)


def prosody_offsets(accents: list[Accent], times: np.ndarray, gains: np.ndarray, expressiveness: float) -> np.ndarray:
    """[T, 52] non-negative upper-face offsets: brow raises, brow lowering and squints on the accents."""
    centres = [a.time - LEAD_S for a in accents]
    pitch = _bumps(times, centres, [a.pitch for a in accents])
    loud = _bumps(times, centres, [a.loud for a in accents])
    emphasis = np.maximum(pitch, loud)
    inner, outer, lower_loud, squint_loud, lower_any, squint_any = gains.T
    out = np.zeros((len(times), len(ARKIT52)))
    out[:, INDEX["browInnerUp"]] = RAISE * inner * pitch
    lower = LOWER * (lower_loud * loud + lower_any * emphasis)
    squint = SQUINT * (squint_loud * loud + squint_any * emphasis)
    for side in ("Left", "Right"):
        out[:, INDEX[f"browOuterUp{side}"]] = RAISE * outer * pitch
        out[:, INDEX[f"browDown{side}"]] = lower
        out[:, INDEX[f"eyeSquint{side}"]] = squint
        out[:, INDEX[f"cheekSquint{side}"]] = 0.3 * squint
    return expressiveness * out


def pause_onsets(phones: list[Phone], min_pause: float) -> list[float]:
    """Where speech stops for a pause of at least ``min_pause`` (phrase ends), the clip's start excluded."""
    return [ph.start for ph in phones if ph.label == SILENCE and ph.duration >= min_pause and ph.start > 0]


def draw_expressiveness(rng: np.random.Generator) -> float:
    """How animated this clip's "speaker" is: lognormal around 1, within 0.5..1.8."""
    return float(np.clip(np.exp(rng.normal(0.0, 0.35)), 0.5, 1.8))
