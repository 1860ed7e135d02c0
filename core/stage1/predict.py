"""Speech → instruction segments with the trained stage-1 model (numpy only, deterministic).

    predictor = load_predictor()            # the shipped weights (weights/stage1/), or a path
    result = predictor.analyze(load_audio("take.wav"))
    track_to_dict(result.track())           # DESIGN.md's instruction track

Segments are phrases (``segment.phrase_cuts``). Per segment, a stage 1 that knows what it does not know:

* the emotion shown is the one with the highest calibrated probability (softmax at the card's fitted
  temperature); that probability is the segment's ``confidence``;
* the intensity head's value and every AU whose presence probability passes the card's threshold are
  scaled by ``confidence_scale``: 0 at chance (1 / number of emotions), 1 from ``SUPPORTED`` up, linear
  between; while the confidence is under ``SUPPORTED`` the intensity and the AUs are also capped at
  ``CAP_UNSUPPORTED`` (at most "slightly"), so no segment reads stronger than 0.3 unless its confidence
  supports it;
* under ``FLOOR`` the segment falls back to a neutral instruction whose text says the voice gives no clear
  emotion (the probabilities stay in the track for whoever wants the guess);
* AUs the speech itself drives (``SPEECH_AUS``: lips part, jaw drop, mouth stretch) are never written into a
  held expression: the audio moves the mouth.

Values are quantised to the adverb bins (``instructions.text.quantize``), so the text and the structure in the
track say the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ...weights_fetcher.errors import WeightsError
from ...weights_fetcher.store import AssetStore
from ..audio.loader import Audio
from ..common.errors import AviTalkError
from ..common.progress import ProgressFn, null_progress
from ..instructions import Instruction, Segment, segment_to_dict, to_text
from ..instructions.text import quantize
from .features import FrameFeatures, frame_features, segment_stats, segment_vector
from .model import Stage1Model, load_model, softmax
from .segment import MAX_SECONDS, MIN_SPEECH, manner_change, phrase_cuts, segment_bounds

ASSET = "avi-stage1"
MIN_AU_VALUE = 0.15  # a present AU is written at least "slightly" (the eval counts AUs from 0.1 as present)
SPEECH_AUS = frozenset({"AU25", "AU26", "AU27"})  # lips part, jaw drop, mouth stretch: the audio drives these
SUPPORTED = 0.6  # a confidence from here up supports the full predicted intensity
CAP_UNSUPPORTED = 2 / 7  # below SUPPORTED the intensity stays in the "slightly" bin or under (< 0.3)
FLOOR = 0.25  # under this confidence the segment is neutral: the voice gives no clear emotion
UNSURE_TEXT = "A person speaks with a neutral face. Unsure: no emotion is clear from the voice."


def confidence_scale(p_top: np.ndarray | float, n_classes: int, supported: float = SUPPORTED) -> np.ndarray:
    """How much of the predicted expression a confidence supports: 0 at chance, 1 from ``supported``."""
    chance = 1.0 / n_classes
    return np.asarray(np.clip((np.asarray(p_top, np.float64) - chance) / (supported - chance), 0.0, 1.0))


@dataclass
class SegmentPrediction:
    start: float
    end: float
    instruction: Instruction
    confidence: float  # calibrated probability of the chosen emotion
    emotion_probabilities: dict[str, float]
    au_probabilities: dict[str, float]
    features: np.ndarray  # the raw segment features the model saw (FEATURE_NAMES)
    text: str = ""
    scale: float = 1.0  # confidence_scale: the share of the predicted expression written
    manner_change: float | None = None  # the boundary scorer's probability that the manner changes at the start
    f0_reference: float = 100.0  # the recording's median F0 (Hz) the F0 features are relative to
    source: str = "stage1"
    warnings: list[str] = field(default_factory=list)

    def segment(self) -> Segment:
        return Segment(self.start, self.end, self.instruction, self.text or to_text(self.instruction))

    def to_dict(self) -> dict[str, Any]:
        out = segment_to_dict(self.segment())
        out["confidence"] = round(self.confidence, 4)
        out["confidence_scale"] = round(self.scale, 4)
        if self.manner_change is not None:
            out["manner_change"] = round(self.manner_change, 4)
        out["emotion_probabilities"] = {k: round(v, 4) for k, v in self.emotion_probabilities.items()}
        out["au_probabilities"] = {k: round(v, 4) for k, v in self.au_probabilities.items()}
        out["source"] = self.source
        return out


@dataclass
class Stage1Result:
    frames: FrameFeatures
    segments: list[SegmentPrediction]
    clip_stats: np.ndarray

    def track(self) -> list[Segment]:
        return [s.segment() for s in self.segments]


def default_weights() -> Path:
    """The shipped weights (a local asset of the registry), or a one-line error saying how to get them."""
    try:
        return AssetStore().resolve(ASSET)
    except WeightsError as exc:
        raise AviTalkError(str(exc)) from None


class Stage1Predictor:
    def __init__(self, model: Stage1Model, shrink: bool = True) -> None:
        """``shrink=False``: the model's raw reading (no confidence scaling, cap or neutral floor), which the
        training card reports beside the shipped behaviour."""
        self.model = model
        self.shrink = shrink

    @property
    def name(self) -> str:
        card = self.model.card or {}
        return f"{card.get('name', ASSET)} {card.get('version', '')}".strip()

    def split(self, ff: FrameFeatures, min_speech: float = MIN_SPEECH,
              max_seconds: float = MAX_SECONDS) -> list[tuple[float, float]]:
        """Phrase segments: ``min_speech`` is the shortest segment, ``max_seconds`` the longest (seconds)."""
        return segment_bounds(ff, phrase_cuts(ff, min_seconds=min_speech, max_seconds=max_seconds))

    def predict(self, ff: FrameFeatures, bounds: list[tuple[float, float]]) -> list[SegmentPrediction]:
        """Instructions for given segment times."""
        if not bounds:
            return []
        whole = segment_stats(ff, 0, ff.n_frames)
        x = np.stack([segment_vector(ff, ff.frame_at(a), ff.frame_at(b), whole) for a, b in bounds])
        result = self.from_features(x, bounds)
        for p in result:
            p.f0_reference = ff.f0_reference
        return result

    def from_features(self, x: np.ndarray, bounds: list[tuple[float, float]]) -> list[SegmentPrediction]:
        m = self.model
        out = m.forward(x)
        probs = softmax(out.emotion_logits, m.temperature)
        choice = np.argmax(probs, axis=-1)  # the emotion shown is the top-rated one
        emotions, aus = m.config.emotions, m.config.aus
        scale = confidence_scale(probs[np.arange(len(probs)), choice], len(emotions)) if self.shrink else \
            np.ones(len(probs))
        result = []
        for k, (a, b) in enumerate(bounds):
            e = int(choice[k])
            emotion, confidence, text = emotions[e], float(probs[k, e]), ""
            if self.shrink and confidence < FLOOR:
                instruction, text = Instruction(), UNSURE_TEXT
            else:
                cap = CAP_UNSUPPORTED if self.shrink and confidence < SUPPORTED else 1.0
                intensity = 0.0 if emotion == "neutral" else \
                    min(cap, float(np.clip(out.intensity[k], 0.05, 1.0)) * float(scale[k]))
                present = {au: min(cap, float(max(MIN_AU_VALUE, min(1.0, out.au_value[k, j]))) * float(scale[k]))
                           for j, au in enumerate(aus) if out.au_present[k, j] >= m.au_threshold
                           and au not in SPEECH_AUS}
                # on the adverb bins, so the segment's text reads back as exactly this structure
                instruction = quantize(Instruction(emotion, intensity, present))
            result.append(SegmentPrediction(
                float(a), float(b), instruction, confidence,
                {name: float(probs[k, j]) for j, name in enumerate(emotions)},
                {au: float(out.au_present[k, j]) for j, au in enumerate(aus)}, x[k], text, float(scale[k])))
        return result

    def analyze(self, audio: Audio, progress: ProgressFn = null_progress, min_speech: float = MIN_SPEECH,
                max_seconds: float = MAX_SECONDS) -> Stage1Result:
        ff = frame_features(audio)
        progress("prosody", 0.6)
        if audio.is_silent:  # nothing to hear: one neutral segment, fully confident
            neutral = SegmentPrediction(0.0, audio.duration, Instruction(), 1.0,
                                        {e: float(e == "neutral") for e in self.model.config.emotions}, {},
                                        segment_vector(ff, 0, ff.n_frames), warnings=["silent audio"])
            return Stage1Result(ff, [neutral], segment_stats(ff, 0, ff.n_frames))
        cuts = phrase_cuts(ff, min_seconds=min_speech, max_seconds=max_seconds)
        bounds = segment_bounds(ff, cuts)
        progress("segments", 0.8)
        segments = self.predict(ff, bounds)
        if len(segments) == len(cuts) + 1:  # the manner-change rating of each segment's start
            for seg, change in zip(segments[1:], manner_change(ff, cuts, self.model.boundary_probability),
                                   strict=True):
                seg.manner_change = float(change)
        progress("instructions", 1.0)
        return Stage1Result(ff, segments, segment_stats(ff, 0, ff.n_frames))


def load_predictor(weights: str | Path | None = None) -> Stage1Predictor:
    """The predictor for ``weights`` (a folder with model.json + model.safetensors, or either file), or
    the shipped default."""
    return Stage1Predictor(load_model(weights if weights is not None else default_weights()))


@cache
def _default_predictor() -> Stage1Predictor | None:
    try:
        path = AssetStore().resolve(ASSET)
    except WeightsError:
        return None  # not installed (not trained yet)
    return Stage1Predictor(load_model(path))


def predict(audio: Audio) -> list[SegmentPrediction]:
    """Stage 1's segments for ``audio`` from the shipped model, each with its confidence; empty when none
    is installed (callers such as stage 2 then fall back to a neutral instruction)."""
    predictor = _default_predictor()
    return predictor.analyze(audio).segments if predictor is not None else []
