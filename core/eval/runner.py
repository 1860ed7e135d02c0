"""Run a model over a corpus split and measure it against the clip targets (docs/eval.md).

Per clip the model hears the clip's *augmented* audio through ``prepare`` (for the procedural model:
``analyze_audio``, i.e. pocketsphinx phone recognition and the front end), then makes one take per
seed with the clip's instruction segments, plus one take with neutral instructions for adherence.
Seed 0 is the take compared with the target; all seeds feed the diversity measure.
"""

from __future__ import annotations

import math
import multiprocessing
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..animation import Animation
from ..arkit import ARKIT52, MOUTH
from ..audio.features import extract_features
from ..audio.loader import from_samples
from ..common.errors import AviTalkError
from ..common.progress import ProgressFn, null_progress
from ..corpus.dataset import Corpus, CorpusClip
from ..instructions import Instruction, Segment
from ..metrics import scores as m
from ..metrics.face import lip_gap, lip_vertex_error, upper_face_dynamics_deviation
from .registry import Model, load_model

_MOUTH_IDX = np.array([ARKIT52.index(n) for n in MOUTH])
# Expression = brows, lids (squint/wide), cheeks, nose: outside the mouth and jaw, and without blinks and
# gaze, whose seeded schedules would make any model look diverse.
_EXPRESSION_IDX = np.array([k for k, n in enumerate(ARKIT52) if n not in MOUTH and not n.startswith(
    ("jaw", "eyeBlink", "eyeLook"))])


@dataclass(frozen=True)
class EvalOptions:
    split: str = "test"
    seeds: int = 10
    max_clips: int | None = None
    transcripts: bool = False  # give the model the clip text (forced alignment) instead of recognition
    workers: int = 1
    plot_clips: int = 3


@dataclass
class ClipResult:
    record: dict[str, Any]
    curves: dict[str, Any] | None = None  # for plots: pred, target, gaps, phones


@dataclass
class EvalResult:
    model: str
    clips: list[dict[str, Any]]
    summary: dict[str, Any]
    curves: list[dict[str, Any]] = field(default_factory=list)


def to_arkit(animation: Animation, frames: int) -> np.ndarray:
    """The animation's values as [frames, 52] in ARKIT52 order (missing channels 0, length matched to
    the target by cutting or holding the last frame)."""
    if animation.space != "arkit52":
        raise AviTalkError(f"the model produced {animation.space!r} animation; evaluation needs arkit52")
    out = np.zeros((animation.n_frames, len(ARKIT52)), np.float64)
    for k, name in enumerate(animation.channels):
        if name in ARKIT52:
            out[:, ARKIT52.index(name)] = animation.values[:, k]
    if len(out) >= frames:
        return out[:frames]
    tail = np.repeat(out[-1:] if len(out) else np.zeros((1, 52)), frames - len(out), axis=0)
    return np.concatenate([out, tail])


def neutral_like(segments: list[Segment]) -> list[Segment]:
    return [Segment(s.start, s.end, Instruction("neutral", 0.0, {})) for s in segments]


def evaluate_clip(model: Model, clip: CorpusClip, options: EvalOptions, keep_curves: bool = False) -> ClipResult:
    fps = clip.fps
    with warnings.catch_warnings():  # clipping/silence warnings are the corpus's business, not the report's
        warnings.simplefilter("ignore")
        audio = from_samples(clip.audio, clip.sr, name=clip.id)
        prepared = model.prepare(audio, fps, clip.text if options.transcripts else None)
        energy = extract_features(audio, fps).energy_db
        target = clip.targets.astype(np.float64)
        frames = len(target)
        outputs = [model.generate(prepared, clip.segments, seed) for seed in range(max(1, options.seeds))]
        neutral = model.generate(prepared, neutral_like(clip.segments), 0)
    takes = [to_arkit(o.animation, frames) for o in outputs]
    pred = takes[0]
    phones = clip.phones
    closure, n_bilabial = m.bilabial_closure(pred, phones, fps)
    jaw, n_open = m.open_vowel_jaw(pred, phones, fps)
    silence, n_silence = m.silence_closure(pred, phones, fps)
    false_closed, n_open_frames = m.false_closure(pred, target)
    gap, gap_target, n_speech = m.speech_opening(pred, target, phones, fps)
    lve = lip_vertex_error(pred, target)
    record: dict[str, Any] = {
        "id": clip.id, "duration": round(clip.duration, 4), "frames": frames, "voice": clip.meta.get("voice"),
        "emotion": clip.meta.get("emotion"), "segments": len(clip.segments),
        "augmentation": clip.meta.get("augmentation", {}),
        "bilabials": n_bilabial, "bilabial_closure": closure,
        "bilabial_closure_target": m.bilabial_closure(target, phones, fps)[0],
        "open_vowels": n_open, "open_vowel_jaw": jaw, "open_vowel_jaw_target": m.open_vowel_jaw(target, phones, fps)[0],
        "lips_open_frames": n_open_frames, "false_closure": false_closed,
        "false_closure_by_phone": m.false_closure_by_phone(pred, target, phones, fps),
        "speech_frames": n_speech, "speech_gap_mm": gap, "speech_gap_mm_target": gap_target,
        "silence_frames": n_silence, "silence_closure": silence,
        "silence_closure_target": m.silence_closure(target, phones, fps)[0],
        "jaw_energy_corr": m.jaw_energy_correlation(pred, energy),
        "jaw_energy_corr_target": m.jaw_energy_correlation(target, energy),
        "lag_frames": m.lag_frames(pred[:, m.JAW], target[:, m.JAW]),
        "lve_mm": float(np.mean(lve)),
        "fdd_mm": upper_face_dynamics_deviation(pred, target),
        "mae_all": float(np.mean(np.abs(pred - target))),
        "mae_mouth": float(np.mean(np.abs(pred[:, _MOUTH_IDX] - target[:, _MOUTH_IDX]))),
        "diversity": m.diversity(takes) if len(takes) > 1 else math.nan,
        "diversity_expression": m.diversity([t[:, _EXPRESSION_IDX] for t in takes]) if len(takes) > 1 else math.nan,
        "diversity_mouth": m.diversity([t[:, _MOUTH_IDX] for t in takes]) if len(takes) > 1 else math.nan,
        # every take's closure, so the report can show that seeds vary the style and keep the lips
        "bilabial_closure_seeds": [m.bilabial_closure(t, phones, fps)[0] for t in takes],
        "adherence": [list(a) for a in m.adherence(pred, to_arkit(neutral.animation, frames), clip.segments, fps)],
        "stage1": None,
    }
    stage1 = model.generate(prepared, None, 0).instructions
    if stage1 is not None:
        record["stage1"] = m.stage1_counts(clip.segments, stage1)
    curves = None
    if keep_curves:
        curves = {"id": clip.id, "fps": fps, "pred": pred.astype(np.float32), "target": target.astype(np.float32),
                  "gap_pred": lip_gap(pred), "gap_target": lip_gap(target), "phones": phones,
                  "segments": [s.text for s in clip.segments]}
    return ClipResult(record, curves)


# ---- aggregation ----------------------------------------------------------------------------------------


def _pooled(records: list[dict[str, Any]], key: str, weight: str) -> float:
    pairs = [(r[key], r[weight]) for r in records if r[weight] and not _nan(r[key])]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else math.nan


def _by_phone(records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """The clips' false closures pooled per true phone, the phones with most wrongly closed frames first."""
    pooled: dict[str, list[int]] = {}
    for r in records:
        for label, (shut, apart) in r.get("false_closure_by_phone", {}).items():
            acc = pooled.setdefault(label, [0, 0])
            acc[0] += shut
            acc[1] += apart
    ranked = sorted(pooled.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return {label: {"closed": shut, "apart": apart, "share": shut / apart} for label, (shut, apart) in ranked if apart}


def _mean(records: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in records if not _nan(r[key])]
    return float(np.mean(values)) if values else math.nan


def _nan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    lags = np.array([r["lag_frames"] for r in records if not _nan(r["lag_frames"])])
    jaw = _pooled(records, "open_vowel_jaw", "open_vowels")
    jaw_t = _pooled(records, "open_vowel_jaw_target", "open_vowels")
    s: dict[str, Any] = {
        "clips": len(records),
        "seconds": round(sum(r["duration"] for r in records), 3),
        "bilabial_closure": _pooled(records, "bilabial_closure", "bilabials"),
        "bilabial_closure_target": _pooled(records, "bilabial_closure_target", "bilabials"),
        "bilabials": sum(r["bilabials"] for r in records),
        "open_vowel_jaw": jaw, "open_vowel_jaw_target": jaw_t,
        "open_vowel_jaw_ratio": jaw / jaw_t if jaw_t and not _nan(jaw_t) else math.nan,
        "false_closure": _pooled(records, "false_closure", "lips_open_frames"),
        "speech_gap_mm": _pooled(records, "speech_gap_mm", "speech_frames"),
        "speech_gap_mm_target": _pooled(records, "speech_gap_mm_target", "speech_frames"),
        "silence_closure": _pooled(records, "silence_closure", "silence_frames"),
        "silence_closure_target": _pooled(records, "silence_closure_target", "silence_frames"),
        "jaw_energy_corr": _mean(records, "jaw_energy_corr"),
        "jaw_energy_corr_target": _mean(records, "jaw_energy_corr_target"),
        "lag_frames_median": float(np.median(lags)) if len(lags) else math.nan,
        "lag_frames_mean_abs": float(np.mean(np.abs(lags))) if len(lags) else math.nan,
        "lve_mm": _pooled(records, "lve_mm", "frames"),
        "fdd_mm": _mean(records, "fdd_mm"),
        "mae_all": _pooled(records, "mae_all", "frames"),
        "mae_mouth": _pooled(records, "mae_mouth", "frames"),
        "diversity": _mean(records, "diversity"),
        "diversity_expression": _mean(records, "diversity_expression"),
        "diversity_mouth": _mean(records, "diversity_mouth"),
    }
    s.update(_closure_over_seeds(records))
    s["false_closure_by_phone"] = _by_phone(records)
    per_au: dict[str, list[tuple[float, float]]] = {}
    for r in records:
        for au, requested, realised in r["adherence"]:
            per_au.setdefault(au, []).append((requested, realised))
    s["adherence"] = {au: {"n": len(v), "requested": float(np.mean([a for a, _ in v])),
                           "realised": float(np.mean([b for _, b in v])),
                           "ratio": float(sum(b for _, b in v) / sum(a for a, _ in v))}
                      for au, v in sorted(per_au.items(), key=lambda kv: (int(kv[0][2:].rstrip("LR")), kv[0]))}
    all_pairs = [p for v in per_au.values() for p in v]
    s["adherence_ratio"] = float(sum(b for _, b in all_pairs) / sum(a for a, _ in all_pairs)) if all_pairs else math.nan
    counts = [r["stage1"] for r in records if r["stage1"] is not None]
    if counts:
        total = {k: sum(c[k] for c in counts) for k in counts[0]}
        s["stage1"] = m.stage1_scores(total)
    else:
        s["stage1"] = None  # the model predicts no instructions: not applicable
    return s


def _closure_over_seeds(records: list[dict[str, Any]]) -> dict[str, float]:
    """Bilabial closure of each seed's takes pooled over the clips; the worst seed's relative change
    from seed 0 is the figure a 'seeds keep the lips' bar is judged on."""
    n_seeds = min((len(r["bilabial_closure_seeds"]) for r in records), default=0)
    if n_seeds < 2:
        return {"bilabial_closure_seed_min": math.nan, "bilabial_closure_seed_max": math.nan,
                "bilabial_closure_seed_max_change": math.nan}
    per_seed = [_pooled([{"c": r["bilabial_closure_seeds"][k], "n": r["bilabials"]} for r in records], "c", "n")
                for k in range(n_seeds)]
    first = per_seed[0]
    change = max(abs(c - first) for c in per_seed) / first if first and not _nan(first) else math.nan
    return {"bilabial_closure_seed_min": min(per_seed), "bilabial_closure_seed_max": max(per_seed),
            "bilabial_closure_seed_max_change": change}


# ---- driver ---------------------------------------------------------------------------------------------

_worker_model: Model | None = None
_worker_options: EvalOptions | None = None


def _init_worker(spec: str, options: EvalOptions) -> None:
    global _worker_model, _worker_options
    _worker_model = load_model(spec)
    _worker_options = options


def _work(item: tuple[CorpusClip, bool]) -> ClipResult:
    assert _worker_model is not None and _worker_options is not None
    return evaluate_clip(_worker_model, item[0], _worker_options, item[1])


def evaluate(corpus: Corpus, model_spec: str, options: EvalOptions,
             progress: ProgressFn = null_progress) -> EvalResult:
    model = load_model(model_spec)
    if options.split not in corpus.splits:
        raise AviTalkError(f"the corpus has no split {options.split!r} (it has {', '.join(corpus.splits)})")
    entries = corpus.entries(options.split)
    if options.max_clips is not None:
        entries = entries[: options.max_clips]
    if not entries:
        raise AviTalkError(f"the {options.split} split has no clips")
    ids = {e["id"] for e in entries}
    items = ((clip, k < options.plot_clips) for k, clip in enumerate(corpus.clips(options.split, ids=ids)))
    results: list[ClipResult] = []
    if options.workers > 1 and len(entries) > 1:
        context = multiprocessing.get_context("spawn")
        with context.Pool(min(options.workers, len(entries)), _init_worker, (model_spec, options)) as pool:
            for result in pool.imap(_work, items):
                results.append(result)
                progress(result.record["id"], len(results) / len(entries))
    else:
        for clip, keep in items:
            results.append(evaluate_clip(model, clip, options, keep))
            progress(clip.id, len(results) / len(entries))
    records = [r.record for r in results]
    return EvalResult(model.name, records, summarise(records), [r.curves for r in results if r.curves])
