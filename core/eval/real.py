"""``avitalk eval --real DIR``: a yardstick on real recordings that need no labels (docs/eval.md).

Every audio file in DIR goes through the one generation path (``core.pipeline.generate``) with the model,
instruction and seed chosen, and is measured against what the recording itself says: pauses from a voice
activity detector (``core.audio.vad``), loudness from the front end, and — when ``DIR/<stem>.txt`` holds a
transcript — p/b/m times from pocketsphinx forced alignment.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..arkit import BROWS, INDEX, MOUTH
from ..audio import vad
from ..audio.loader import SUFFIXES
from ..common.errors import AviTalkError
from ..common.progress import ProgressFn, null_progress
from ..metrics import scores as m
from ..metrics.face import CLOSED_MM, lip_gap
from ..pipeline.generate import Generation, generate
from ..pipeline.options import MAX_TRANSCRIPT_CHARS, GenerateOptions
from .runner import EvalResult, to_arkit

# The mouth needs time to close after the last sound and opens before the next one: frames this close to
# speech are left out of the pause-closure measure (the all-pause-frames variant keeps them).
PAUSE_MARGIN = 0.07
SQUINT = ("eyeSquintLeft", "eyeSquintRight")
_MOUTH_IDX = np.array([INDEX[n] for n in MOUTH])
_BROW_IDX = np.array([INDEX[n] for n in BROWS])
_SQUINT_IDX = np.array([INDEX[n] for n in SQUINT])


@dataclass(frozen=True)
class RealOptions:
    model: str = "stage2"  # as GenerateOptions: stage2, procedural, or stage-2 weights
    text: str | None = None  # one instruction for every file (stage 2)
    seed: int = 0
    fps: float = 30.0
    plots: bool = True


RealResult = EvalResult  # the same record as a corpus evaluation's: model, clips, summary, curves


def audio_files(folder: str | Path) -> list[Path]:
    """The audio files directly in ``folder`` (the loader's suffixes), sorted; a one-line error when there
    are none or the folder is missing."""
    root = Path(folder)
    if not root.is_dir():
        raise AviTalkError(f"{root} is not a folder" if root.exists() else f"folder {root} does not exist")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise AviTalkError(f"no audio files in {root} (looked for {', '.join('*' + s for s in SUFFIXES)})")
    return files


def read_transcript(audio_path: Path) -> tuple[str | None, str | None]:
    """(the text of ``<stem>.txt`` beside the audio, a note when it is unusable); (None, None) without one."""
    path = audio_path.with_suffix(".txt")
    if not path.is_file():
        return None, None
    if path.stat().st_size > 4 * MAX_TRANSCRIPT_CHARS:
        return None, f"{path.name} is too large to be a transcript; bilabials not measured"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{path.name} is unreadable ({type(exc).__name__}); bilabials not measured"
    return (text, None) if text.strip() else (None, f"{path.name} is empty; bilabials not measured")


def _shifted_r(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Pearson r of a[t + k] with b[t] over their overlap (k > 0: a is late)."""
    n = min(len(a), len(b))
    x, y = (a[k:n], b[: n - k]) if k >= 0 else (a[: n + k], b[-k:n])
    return m.pearson(x, y) if len(x) > 1 else math.nan


def accent_track(samples: np.ndarray, sr: int, fps: float, n: int) -> np.ndarray:
    """[n] pitch-accent strength per animation frame, from the recording alone: how far F0 (semitones) rises
    above its own running median (±1 s), on voiced frames, smoothed over ±100 ms. What the face should
    answer with brow raises and nods."""
    from ..audio.pitch import track_pitch

    track = track_pitch(samples, sr)
    voiced = track.voiced
    if voiced.sum() < 10:
        return np.zeros(n)
    st = np.where(voiced, 12.0 * np.log2(np.maximum(track.f0, 1.0) / 100.0), np.nan)
    half = int(round(1.0 / track.hop))
    padded = np.pad(st, half, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)[:: 5]  # every 50 ms is enough
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all-unvoiced windows
        coarse = np.nanmedian(windows, axis=1)
    median = np.interp(np.arange(len(st)), np.arange(len(coarse)) * 5, np.nan_to_num(coarse, nan=0.0))
    rise = np.where(voiced, np.clip(st - median, 0.0, None), 0.0)
    rise = np.convolve(rise, np.ones(21) / 21, mode="same")
    return np.interp(np.arange(n) / fps, np.arange(len(rise)) * track.hop, rise)


def accent_response(accent: np.ndarray, motion: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(r, shuffled r): Pearson r of ``motion`` with the accent track over the masked frames, and the mean
    |r| with the same track circularly shifted by 40 spread offsets (a copy whose accents fall elsewhere)."""
    a, b = accent[mask], motion[mask]
    if len(a) < 20 or np.std(a) == 0 or np.std(b) == 0:
        return math.nan, math.nan
    r = m.pearson(a, b)
    shifts = np.linspace(0.15, 0.85, 40) * len(a)
    shuffled = float(np.mean([abs(m.pearson(np.roll(a, int(k)), b)) for k in shifts]))
    return r, shuffled


def _std(x: np.ndarray) -> float:
    return float(np.std(x)) if len(x) else math.nan


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else math.nan


def _instructions(done: Generation, options: RealOptions) -> tuple[str, list[dict[str, Any]]]:
    """Where stage 2's instructions came from and, per segment, emotion, intensity and stage 1's confidence."""
    meta = done.animation.meta
    source = str(meta.get("instruction_source", "none (procedural)"))
    if options.model == "procedural":
        return source, []
    from ..pipeline.instruction_choice import resolve_instructions

    with warnings.catch_warnings():  # already noted from the generation
        warnings.simplefilter("ignore")
        # the same call the generation made (deterministic), for the segments' emotions and intensities
        segments, _, confidence = resolve_instructions(done.analysis.audio, GenerateOptions(
            model=options.model, instruction_text=options.text, fps=options.fps, seed=options.seed))
    return source, [{"start": round(s.start, 3), "end": round(s.end, 3), "emotion": s.instruction.emotion,
                     "intensity": round(s.instruction.intensity, 3),
                     "confidence": round(confidence[k], 4) if k < len(confidence) else None, "text": s.text}
                    for k, s in enumerate(segments)]


def evaluate_file(path: Path, options: RealOptions, keep_curves: bool = False) -> tuple[dict[str, Any],
                                                                                         dict[str, Any] | None]:
    """One recording's record (and its curves for the plots)."""
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        done = generate(path, GenerateOptions(model=options.model, fps=options.fps, seed=options.seed,
                                              instruction_text=options.text))
        elapsed = time.perf_counter() - t0
    notes += sorted({str(w.message).splitlines()[0] for w in caught})
    animation, audio, features = done.animation, done.analysis.audio, done.analysis.features
    fps = animation.fps
    values = to_arkit(animation, animation.n_frames)
    times = np.arange(len(values)) / fps
    activity = vad.detect(audio)
    hop = np.minimum((times / activity.hop).astype(np.int64), max(len(activity.speech) - 1, 0))
    speech = activity.speech[hop] if len(activity.speech) else np.zeros(len(times), bool)
    inner = activity.on_frames(times, vad.MIN_PAUSE, PAUSE_MARGIN)
    every = activity.on_frames(times, vad.MIN_PAUSE, 0.0)
    gap = lip_gap(values)
    closed = gap < CLOSED_MM

    # bilabials: only with a transcript that forced alignment can place
    bilabial, n_bilabial = math.nan, 0
    transcript, note = read_transcript(path)
    if note:
        notes.append(note)
    if transcript is not None:
        from ..lipsync.phone_timing import force_align

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            phones = force_align(audio, transcript)
        if phones is None:
            notes.append("the transcript could not be aligned (not English, or not what is said): bilabials "
                         "not measured")
        else:
            bilabial, n_bilabial = m.bilabial_closure(values, phones, fps)
            if not n_bilabial:
                notes.append("the transcript has no p/b/m")

    jaw = values[:, m.JAW]
    loudness = np.asarray(features.loudness, np.float64)[: len(jaw)]
    lag = m.lag_frames(jaw, loudness)
    diffs = np.abs(np.diff(values[:, _MOUTH_IDX], axis=0)).mean(axis=1)
    both = speech[1:] & speech[:-1]
    head = [k for k, name in enumerate(animation.channels) if name.lower().startswith("head")]
    source, segments = _instructions(done, options)
    accent = accent_track(audio.samples, audio.sr, fps, len(values))
    raise_ = values[:, INDEX["browInnerUp"]] + 0.5 * (values[:, INDEX["browOuterUpLeft"]]
                                                      + values[:, INDEX["browOuterUpRight"]])
    brow_r, brow_shuffled = accent_response(accent, raise_, speech)
    pitch_k = animation.channels.index("headPitch") if "headPitch" in animation.channels else None
    if pitch_k is not None:
        nod = animation.values[: len(values), pitch_k].astype(np.float64)
        nod = nod - np.convolve(nod, np.ones(31) / 31, mode="same")  # the nods, not the slow drift
        head_r, head_shuffled = accent_response(accent, nod, speech[: len(nod)])
    else:
        head_r = head_shuffled = math.nan
    record: dict[str, Any] = {
        "file": path.name, "duration": round(audio.duration, 4), "frames": len(values),
        "seconds_to_generate": round(elapsed, 3), "rtf": elapsed / max(audio.duration, 1e-9),
        "noise_floor_db": activity.noise_floor_db, "speech_share": float(np.mean(activity.speech)) if len(
            activity.speech) else math.nan,
        "pauses": [[round(a, 3), round(b, 3)] for a, b in activity.pauses()],
        "pause_frames": int(inner.sum()), "pause_closure": float(np.mean(closed[inner])) if inner.any() else math.nan,
        "pause_frames_all": int(every.sum()),
        "pause_closure_all": float(np.mean(closed[every])) if every.any() else math.nan,
        "transcript": transcript is not None, "bilabials": n_bilabial, "bilabial_closure": bilabial,
        "jaw_loudness_r": m.pearson(jaw[: len(loudness)], loudness),
        "jaw_loudness_lag": lag,
        "jaw_loudness_r_at_lag": _shifted_r(jaw, loudness, int(lag)) if not math.isnan(lag) else math.nan,
        "speech_frames": int(speech.sum()),
        "mouth_motion": _mean(diffs[both]),
        "lip_gap_std_speech": _std(gap[speech]),
        "lips_open_in_speech": _mean((~closed[speech]).astype(float)),
        "brow_std": _mean(values[speech][:, _BROW_IDX].std(axis=0)) if speech.any() else math.nan,
        "squint_mean": _mean(values[speech][:, _SQUINT_IDX].mean(axis=1)),
        "squint_std": _std(values[speech][:, _SQUINT_IDX].mean(axis=1)),
        # head rotation channels do not exist yet; when a model adds them they are measured here
        "head_std": ({animation.channels[k]: _std(animation.values[speech[: animation.n_frames], k]) for k in head}
                     if head else None),
        "head_std_deg": (float(np.degrees(np.mean([_std(animation.values[speech[: animation.n_frames], k])
                                                    for k in head]))) if head else math.nan),
        "brow_accent_r": brow_r, "brow_accent_r_shuffled": brow_shuffled,
        "head_accent_r": head_r, "head_accent_r_shuffled": head_shuffled,
        "instruction_source": source, "instructions": segments,
        "notes": notes,
    }
    curves = None
    if keep_curves:
        curves = {"file": path.name, "fps": fps, "times": times, "loudness": loudness,
                  "pauses": activity.pauses(), "inner": inner, "gap": gap,
                  "brows": {name: values[:, INDEX[name]] for name in ("browInnerUp", "browDownLeft",
                                                                        "browOuterUpLeft")},
                  "squint": values[:, _SQUINT_IDX].mean(axis=1),
                  "title": "; ".join(f"{s['emotion']} {s['intensity']:.2f}" + (
                      f" (conf {s['confidence']:.2f})" if s["confidence"] is not None else "") for s in segments)}
    return record, curves


def _pooled(records: list[dict[str, Any]], key: str, weight: str) -> float:
    pairs = [(r[key], r[weight]) for r in records if r[weight] and not math.isnan(r[key])]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else math.nan


def _mean_of(records: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in records if r[key] is not None and not math.isnan(r[key])]
    return float(np.mean(values)) if values else math.nan


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    lags = np.array([r["jaw_loudness_lag"] for r in records if not math.isnan(r["jaw_loudness_lag"])])
    segments = [s for r in records for s in r["instructions"]]
    confidences = [s["confidence"] for s in segments if s["confidence"] is not None]
    heads = [v for r in records if r["head_std"] for v in r["head_std"].values() if not math.isnan(v)]
    return {
        "clips": len(records),
        "seconds": round(sum(r["duration"] for r in records), 3),
        "rtf": _mean_of(records, "rtf"),
        "pause_frames": sum(r["pause_frames"] for r in records),
        "pause_closure": _pooled(records, "pause_closure", "pause_frames"),
        "pause_frames_all": sum(r["pause_frames_all"] for r in records),
        "pause_closure_all": _pooled(records, "pause_closure_all", "pause_frames_all"),
        "clips_with_bilabials": sum(1 for r in records if r["bilabials"]),
        "bilabials": sum(r["bilabials"] for r in records),
        "bilabial_closure": _pooled(records, "bilabial_closure", "bilabials"),
        "jaw_loudness_r": _mean_of(records, "jaw_loudness_r"),
        "jaw_loudness_r_at_lag": _mean_of(records, "jaw_loudness_r_at_lag"),
        "jaw_loudness_lag_median": float(np.median(lags)) if len(lags) else math.nan,
        "jaw_loudness_lag_mean_abs": float(np.mean(np.abs(lags))) if len(lags) else math.nan,
        "mouth_motion": _mean_of(records, "mouth_motion"),
        "lip_gap_std_speech": _mean_of(records, "lip_gap_std_speech"),
        "lips_open_in_speech": _mean_of(records, "lips_open_in_speech"),
        "brow_std": _mean_of(records, "brow_std"),
        "squint_mean": _mean_of(records, "squint_mean"),
        "squint_std": _mean_of(records, "squint_std"),
        "head_std": float(np.mean(heads)) if heads else None,
        "head_std_deg": _mean_of(records, "head_std_deg"),
        "brow_accent_r": _mean_of(records, "brow_accent_r"),
        "brow_accent_r_shuffled": _mean_of(records, "brow_accent_r_shuffled"),
        "head_accent_r": _mean_of(records, "head_accent_r"),
        "head_accent_r_shuffled": _mean_of(records, "head_accent_r_shuffled"),
        "emotions": dict(Counter(s["emotion"] for s in segments).most_common()),
        "intensity_mean": float(np.mean([s["intensity"] for s in segments])) if segments else math.nan,
        "confidence_mean": float(np.mean(confidences)) if confidences else math.nan,
    }


def evaluate_real(folder: str | Path, options: RealOptions, progress: ProgressFn = null_progress) -> RealResult:
    files = audio_files(folder)
    records: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    for k, path in enumerate(files):
        try:
            record, curve = evaluate_file(path, options, options.plots)
        except AviTalkError as exc:
            raise AviTalkError(f"{path.name}: {exc}") from None
        records.append(record)
        if curve is not None:
            curves.append(curve)
        progress(path.name, (k + 1) / len(files))
    return RealResult(options.model, records, summarise(records), curves)
