"""Measuring stage 1 on a corpus split: the eval harness's stage-1 scores (emotion accuracy, intensity
MAE, AU F1, from ``core.eval.metrics``), boundary accuracy on the clips with two segments, and
calibration (expected calibration error of the confidence)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..audio.loader import from_samples
from ..corpus.dataset import CorpusClip
from ..instructions import Segment
from ..metrics.scores import stage1_counts, stage1_scores
from .features import FrameFeatures, frame_features
from .predict import Stage1Predictor

BOUNDARY_HIT = 0.3  # seconds: a predicted boundary this close to a true one finds it


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Σ over equal-width confidence bins of (share of items) × |accuracy − mean confidence|."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    if not len(confidence):
        return float("nan")
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            total += sel.mean() * abs(correct[sel].mean() - confidence[sel].mean())
    return float(total)


@dataclass
class BoundaryCounts:
    true: int = 0  # true boundaries
    predicted: int = 0  # predicted boundaries
    hits: int = 0  # true boundaries with a prediction within BOUNDARY_HIT
    matched_predictions: int = 0  # predictions within BOUNDARY_HIT of a true boundary
    errors: list[float] | None = None  # |predicted − true| of the hits, seconds

    def add(self, truth: list[float], predicted: list[float]) -> None:
        self.errors = self.errors if self.errors is not None else []
        self.true += len(truth)
        self.predicted += len(predicted)
        for t in truth:
            near = [abs(p - t) for p in predicted if abs(p - t) <= BOUNDARY_HIT]
            if near:
                self.hits += 1
                self.errors.append(min(near))
        self.matched_predictions += sum(any(abs(p - t) <= BOUNDARY_HIT for t in truth) for p in predicted)

    def scores(self) -> dict[str, float]:
        recall = self.hits / self.true if self.true else float("nan")
        precision = self.matched_predictions / self.predicted if self.predicted else float("nan")
        f1 = 2 * precision * recall / (precision + recall) if self.true and self.predicted and precision + recall \
            else float("nan")
        return {"true_boundaries": self.true, "predicted_boundaries": self.predicted, "recall": recall,
                "precision": precision, "f1": f1,
                "median_error_s": float(np.median(self.errors)) if self.errors else float("nan")}


@dataclass
class ClipFrames:
    id: str
    frames: FrameFeatures
    segments: list[Segment]


def clip_frames(clips: Iterable[CorpusClip]) -> list[ClipFrames]:
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for clip in clips:
            out.append(ClipFrames(clip.id, frame_features(from_samples(clip.audio, clip.sr, name=clip.id)),
                                  clip.segments))
    return out


def evaluate_clips(predictor: Stage1Predictor, clips: list[ClipFrames], oracle: bool = False) -> dict[str, object]:
    """Stage-1 scores with the predictor's own segmentation (or the true one with ``oracle``), boundary
    accuracy and calibration."""
    counts: dict[str, float] = {}
    boundaries = BoundaryCounts()
    confidence, correct = [], []
    for clip in clips:
        bounds = [(s.start, s.end) for s in clip.segments] if oracle else predictor.split(clip.frames)
        predicted = predictor.predict(clip.frames, bounds)
        c = stage1_counts(clip.segments, [p.segment() for p in predicted])
        counts = {k: counts.get(k, 0.0) + v for k, v in c.items()}
        boundaries.add([s.start for s in clip.segments[1:]], [p.start for p in predicted[1:]])
        for seg in clip.segments:  # calibration: the prediction covering each true segment's middle
            mid = 0.5 * (seg.start + seg.end)
            p = next((p for p in predicted if p.start <= mid < p.end), predicted[-1])
            confidence.append(p.confidence)
            correct.append(p.instruction.emotion == seg.instruction.emotion)
    scores: dict[str, object] = dict(stage1_scores(counts)) if counts else {}
    scores["segments"] = int(counts.get("segments", 0))
    scores["clips"] = len(clips)
    scores["ece"] = expected_calibration_error(np.array(confidence), np.array(correct))
    if not oracle:
        scores["boundaries"] = boundaries.scores()
    return scores
