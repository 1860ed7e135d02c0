"""Per-clip metrics of ``avitalk eval`` (definitions in docs/eval.md). All take ARKit-52 values
``[T, 52]`` on the clip's frame grid (frame t at t / fps seconds) and the clip's *true* phones."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np

from ..arkit import INDEX
from ..instructions import Segment, au_readout
from ..phonemes import BILABIALS, SILENCE, Phone
from .face import CLOSED_MM, lip_gap

CLOSURE_WINDOW = 0.04  # a bilabial counts when the lips close within ±40 ms of its interval
OPEN_VOWELS = frozenset({"AA", "AE", "AO", "AW", "AY"})
SILENCE_MIN = 0.3  # pauses at least this long are checked for closed lips ...
SILENCE_MARGIN = 0.1  # ... away from their edges
MAX_LAG = 10  # frames
AU_PRESENT = 0.1  # an AU at or above this intensity is "in" an instruction (adherence, stage-1 F1)
JAW = INDEX["jawOpen"]


def frame_times(n: int, fps: float) -> np.ndarray:
    return np.arange(n, dtype=np.float64) / fps


def bilabial_closure(values: np.ndarray, phones: list[Phone], fps: float, threshold_mm: float = CLOSED_MM,
                     window: float = CLOSURE_WINDOW) -> tuple[float, int]:
    """(share of p/b/m whose lips close within ±window of the phone, how many p/b/m). NaN without any."""
    gaps = lip_gap(values)
    times = frame_times(len(gaps), fps)
    hits = total = 0
    for ph in phones:
        if ph.label not in BILABIALS:
            continue
        inside = (times >= ph.start - window) & (times <= ph.end + window)
        if not inside.any():  # shorter than a frame at the very edge: the nearest frame decides
            inside = np.abs(times - ph.centre) == np.abs(times - ph.centre).min()
        total += 1
        hits += bool(gaps[inside].min() < threshold_mm)
    return (hits / total if total else math.nan), total


def false_closure(values: np.ndarray, target: np.ndarray, threshold_mm: float = CLOSED_MM) -> tuple[float, int]:
    """(share of the frames where the target's lips are apart whose predicted lips are closed, how many such
    frames): the other side of bilabial closure, which a model that keeps its lips shut would score 1 on."""
    open_ = lip_gap(target) >= threshold_mm
    if not open_.any():
        return math.nan, 0
    return float(np.mean(lip_gap(values[open_]) < threshold_mm)), int(open_.sum())


def false_closure_by_phone(values: np.ndarray, target: np.ndarray, phones: list[Phone], fps: float,
                           threshold_mm: float = CLOSED_MM) -> dict[str, list[int]]:
    """{true phone: [frames with the predicted lips closed, frames]} over the frames where the target's lips are
    apart (SIL outside every phone): which sounds a model takes for a closure — stops and labiodentals (t, d, k, f,
    v) sound most like p/b/m."""
    open_ = lip_gap(target) >= threshold_mm
    shut = lip_gap(values) < threshold_mm
    times = frame_times(len(values), fps)
    labels = np.full(len(values), SILENCE, dtype=object)
    for ph in phones:
        labels[(times >= ph.start) & (times < ph.end)] = ph.label
    return {str(lab): [int((shut & open_ & (labels == lab)).sum()), int((open_ & (labels == lab)).sum())]
            for lab in sorted(set(labels[open_]))}


def speech_opening(values: np.ndarray, target: np.ndarray, phones: list[Phone], fps: float) -> tuple[float, float, int]:
    """(mean lip gap in mm of the prediction, of the target, how many frames) over the frames outside the
    checked pauses: how far the mouth opens while speaking."""
    speech = ~silence_frames(phones, len(values), fps)
    if not speech.any():
        return math.nan, math.nan, 0
    return float(lip_gap(values[speech]).mean()), float(lip_gap(target[speech]).mean()), int(speech.sum())


def open_vowel_jaw(values: np.ndarray, phones: list[Phone], fps: float) -> tuple[float, int]:
    """Mean jawOpen at the frames nearest the centres of open vowels (AA AE AO AW AY)."""
    n = len(values)
    frames = [int(round(ph.centre * fps)) for ph in phones if ph.label in OPEN_VOWELS]
    frames = [f for f in frames if 0 <= f < n]
    if not frames:
        return math.nan, 0
    return float(np.mean(values[frames, JAW])), len(frames)


def silence_frames(phones: list[Phone], n: int, fps: float) -> np.ndarray:
    """Mask of frames inside pauses of at least SILENCE_MIN, SILENCE_MARGIN away from speech."""
    times = frame_times(n, fps)
    mask = np.zeros(n, bool)
    end = phones[-1].end if phones else 0.0
    for ph in phones:
        if ph.label == SILENCE and ph.duration >= SILENCE_MIN:
            lo = ph.start + (SILENCE_MARGIN if ph.start > 0 else 0.0)
            hi = ph.end - (SILENCE_MARGIN if ph.end < end - 1e-6 else 0.0)
            mask |= (times >= lo) & (times <= hi)
    return mask


def silence_closure(values: np.ndarray, phones: list[Phone], fps: float,
                    threshold_mm: float = CLOSED_MM) -> tuple[float, int]:
    """(share of pause frames with closed lips, how many pause frames)."""
    mask = silence_frames(phones, len(values), fps)
    if not mask.any():
        return math.nan, 0
    return float(np.mean(lip_gap(values[mask]) < threshold_mm)), int(mask.sum())


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; 0 when either side does not vary (a still jaw says nothing about energy)."""
    a = np.asarray(a, np.float64) - np.mean(a)
    b = np.asarray(b, np.float64) - np.mean(b)
    den = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b / den) if den > 1e-12 else 0.0


def jaw_energy_correlation(values: np.ndarray, energy_db: np.ndarray) -> float:
    n = min(len(values), len(energy_db))
    return pearson(values[:n, JAW], energy_db[:n])


def lag_frames(pred: np.ndarray, target: np.ndarray, max_lag: int = MAX_LAG) -> float:
    """Shift k in [−max_lag, max_lag] maximising the mean of pred[t + k]·target[t] over the overlap
    (mean-removed curves); positive k: the prediction is late. NaN if either curve is flat."""
    n = min(len(pred), len(target))
    p = np.asarray(pred[:n], np.float64) - np.mean(pred[:n])
    g = np.asarray(target[:n], np.float64) - np.mean(target[:n])
    if n < 2 or np.std(p) < 1e-9 or np.std(g) < 1e-9:
        return math.nan
    best, best_k = -math.inf, 0
    for k in range(-max_lag, max_lag + 1):
        if abs(k) >= n:
            continue
        score = float(np.mean(p[k:] * g[: n - k])) if k >= 0 else float(np.mean(p[: n + k] * g[-k:]))
        if score > best + 1e-12 or (abs(score - best) <= 1e-12 and abs(k) < abs(best_k)):
            best, best_k = score, k
    return float(best_k)


def diversity(takes: list[np.ndarray]) -> float:
    """AVI-Talking's diversity: Σ over ordered pairs i≠j of the mean per-frame L2 distance between
    takes i and j, divided by n(n−1) (90 for 10 seeds)."""
    n = len(takes)
    if n < 2:
        return math.nan
    total = 0.0
    for i, j in combinations(range(n), 2):
        m = min(len(takes[i]), len(takes[j]))
        total += 2.0 * float(np.mean(np.linalg.norm(takes[i][:m] - takes[j][:m], axis=1)))
    return total / (n * (n - 1))


def segment_frames(segment: Segment, n: int, fps: float) -> np.ndarray:
    times = frame_times(n, fps)
    return (times >= segment.start) & (times < segment.end)


def adherence(instructed: np.ndarray, neutral: np.ndarray, segments: list[Segment],
              fps: float) -> list[tuple[str, float, float]]:
    """For each AU (≥ AU_PRESENT) of each segment: (AU, requested intensity, realised change), the
    change being the segment's mean AU readout with the instruction minus that with a neutral one."""
    out: list[tuple[str, float, float]] = []
    n = min(len(instructed), len(neutral))
    for seg in segments:
        frames = segment_frames(seg, n, fps)
        if not frames.any():
            continue
        for au, value in seg.instruction.aus.items():
            if value < AU_PRESENT:
                continue
            realised = float(np.mean(au_readout(instructed[:n][frames], au)) -
                             np.mean(au_readout(neutral[:n][frames], au)))
            out.append((au, value, realised))
    return out


# ---- stage 1 -----------------------------------------------------------------------------------------


def _overlap(a: Segment, b: Segment) -> float:
    return max(0.0, min(a.end, b.end) - max(a.start, b.start))


def match_segments(truth: list[Segment], predicted: list[Segment]) -> list[tuple[Segment, Segment | None]]:
    """Each true segment with the predicted segment that overlaps it most (None if none does)."""
    pairs: list[tuple[Segment, Segment | None]] = []
    for seg in truth:
        best = max(predicted, key=lambda p: _overlap(seg, p), default=None)
        pairs.append((seg, best if best is not None and _overlap(seg, best) > 0 else None))
    return pairs


def stage1_counts(truth: list[Segment], predicted: list[Segment]) -> dict[str, float]:
    """Sums for emotion accuracy, intensity MAE and micro AU F1 (combine over clips, then divide)."""
    c = {"segments": 0.0, "emotion_correct": 0.0, "intensity_abs_error": 0.0, "au_tp": 0.0, "au_fp": 0.0,
         "au_fn": 0.0}
    for seg, pred in match_segments(truth, predicted):
        c["segments"] += 1
        t = seg.instruction
        p_aus = {k for k, v in pred.instruction.aus.items() if v >= AU_PRESENT} if pred else set()
        t_aus = {k for k, v in t.aus.items() if v >= AU_PRESENT}
        c["emotion_correct"] += float(pred is not None and pred.instruction.emotion == t.emotion)
        c["intensity_abs_error"] += abs((pred.instruction.intensity if pred else 0.0) - t.intensity)
        c["au_tp"] += len(p_aus & t_aus)
        c["au_fp"] += len(p_aus - t_aus)
        c["au_fn"] += len(t_aus - p_aus)
    return c


def stage1_scores(c: dict[str, float]) -> dict[str, float]:
    n = c["segments"] or math.nan
    tp, fp, fn = c["au_tp"], c["au_fp"], c["au_fn"]
    f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) > 0 else math.nan
    return {"emotion_accuracy": c["emotion_correct"] / n, "intensity_mae": c["intensity_abs_error"] / n,
            "au_f1": f1}

