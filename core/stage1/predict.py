"""Speech → instruction segments with the trained stage-1 model (numpy only, deterministic).

    predictor = load_predictor()            # the shipped weights (weights/stage1/), or a path
    result = predictor.analyze(load_audio("take.wav"))
    track_to_dict(result.track())           # DESIGN.md's instruction track

Per segment: the emotion with the highest calibrated probability divided by the emotion's training
share to a power fitted on the validation split (so an ambiguous segment is not always called neutral,
the commonest class); its calibrated probability is the segment's ``confidence``. Then the intensity
head's value (0 for neutral), and every AU whose presence probability passes the card's threshold, at
the AU head's intensity. Values are quantised to the adverb bins (``instructions.text.quantize``), so
the text and the structure in the track say the same.
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
from .segment import MAX_SECONDS, MIN_SPEECH, segment_bounds, split_points

ASSET = "avi-stage1"
MIN_AU_VALUE = 0.15  # a present AU is written at least "slightly" (the eval counts AUs from 0.1 as present)


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
    source: str = "stage1"
    warnings: list[str] = field(default_factory=list)

    def segment(self) -> Segment:
        return Segment(self.start, self.end, self.instruction, self.text or to_text(self.instruction))

    def to_dict(self) -> dict[str, Any]:
        out = segment_to_dict(self.segment())
        out["confidence"] = round(self.confidence, 4)
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
    def __init__(self, model: Stage1Model) -> None:
        self.model = model

    @property
    def name(self) -> str:
        card = self.model.card or {}
        return f"{card.get('name', ASSET)} {card.get('version', '')}".strip()

    def split(self, ff: FrameFeatures, min_speech: float = MIN_SPEECH,
              max_seconds: float = MAX_SECONDS) -> list[tuple[float, float]]:
        cuts = split_points(ff, self.model.boundary_probability, self.model.boundary_threshold, min_speech,
                            max_seconds)
        return segment_bounds(ff, cuts)

    def predict(self, ff: FrameFeatures, bounds: list[tuple[float, float]]) -> list[SegmentPrediction]:
        """Instructions for given segment times."""
        if not bounds:
            return []
        whole = segment_stats(ff, 0, ff.n_frames)
        x = np.stack([segment_vector(ff, ff.frame_at(a), ff.frame_at(b), whole) for a, b in bounds])
        return self.from_features(x, bounds)

    def from_features(self, x: np.ndarray, bounds: list[tuple[float, float]]) -> list[SegmentPrediction]:
        m = self.model
        out = m.forward(x)
        probs = softmax(out.emotion_logits, m.temperature)
        choice = m.decide(probs)
        emotions, aus = m.config.emotions, m.config.aus
        result = []
        for k, (a, b) in enumerate(bounds):
            e = int(choice[k])
            emotion = emotions[e]
            intensity = 0.0 if emotion == "neutral" else float(np.clip(out.intensity[k], 0.05, 1.0))
            present = {au: float(max(MIN_AU_VALUE, min(1.0, out.au_value[k, j])))
                       for j, au in enumerate(aus) if out.au_present[k, j] >= m.au_threshold}
            # on the adverb bins, so the segment's text reads back as exactly this structure (docs/instructions.md)
            instruction = quantize(Instruction(emotion, intensity, present))
            result.append(SegmentPrediction(
                float(a), float(b), instruction, float(probs[k, e]),
                {name: float(probs[k, j]) for j, name in enumerate(emotions)},
                {au: float(out.au_present[k, j]) for j, au in enumerate(aus)}, x[k]))
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
        bounds = self.split(ff, min_speech, max_seconds)
        progress("segments", 0.8)
        segments = self.predict(ff, bounds)
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
