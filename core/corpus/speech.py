"""A planned clip → clean 16 kHz speech with its true phone times and segment boundaries.

Each sentence is spoken by the clip's engine with its segment's prosody — espeak-ng's C library (phoneme
events give sample-accurate starts), Piper (its duration predictor's samples per token), flite or
festival (the phone ends they print) — and pauses are inserted as digital silence, so every phone time
is exact by construction. Only espeak-ng reads the emphasis mark (SSML).
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np

from ..audio.loader import TARGET_SR
from ..phonemes import SILENCE, Phone
from ..tts import cli_engines, espeak, piper_voice
from .plan import ClipPlan, SegmentPlan
from .voices import engine_controls


@dataclass
class CleanSpeech:
    samples: np.ndarray  # float32 at TARGET_SR
    phones: list[Phone]  # tile [0, duration]
    segment_times: list[tuple[float, float]]  # one per plan segment, tiling [0, duration]

    @property
    def duration(self) -> float:
        return len(self.samples) / TARGET_SR


def _ssml(text: str, emphasis: int) -> tuple[str, bool]:
    if emphasis < 0:
        return text, False
    words = [escape(w) for w in text.split()]
    k = min(emphasis, len(words) - 1)
    words[k] = f"<emphasis>{words[k]}</emphasis>"
    return f"<speak>{' '.join(words)}</speak>", True


def _even_shared_slots(phones: list[Phone]) -> list[Phone]:
    """espeak gives a symbol that maps to two phones (e.g. syllabic "əl") one slot: the first phone gets
    0.1 ms. Share the slot evenly instead, so both phones have a real duration."""
    out = list(phones)
    for i in range(len(out) - 1):
        a, b = out[i], out[i + 1]
        if a.duration < 0.001 and a.label != SILENCE and b.label != SILENCE:
            mid = 0.5 * (a.start + b.end)
            out[i], out[i + 1] = Phone(a.label, a.start, mid), Phone(b.label, mid, b.end)
    return out


def render(plan: ClipPlan) -> CleanSpeech:
    parts: list[np.ndarray] = []
    timed: list[Phone] = []
    seg_edges: list[tuple[float, float]] = []  # speech span of each segment
    sr = 0
    cursor = 0
    gaps = list(plan.gaps)
    k = 0

    def silence(seconds: float) -> None:
        nonlocal cursor
        n = int(round(seconds * sr))
        parts.append(np.zeros(n, np.float32))
        cursor += n

    for segment in plan.segments:
        seg_start = None
        for sentence, emphasis in zip(segment.sentences, segment.emphasis, strict=True):
            speech = speak(plan, segment, sentence, emphasis)
            if sr and speech.sr != sr:
                raise RuntimeError(f"{plan.voice} changed its sample rate within a clip")
            sr = speech.sr
            if not parts:
                silence(plan.lead)
            elif k > 0:
                silence(gaps[k - 1])
            offset = cursor / sr
            seg_start = offset if seg_start is None else seg_start
            for ph in _even_shared_slots(speech.phones):
                timed.append(Phone(ph.label, ph.start + offset, ph.end + offset))
            parts.append(speech.samples.astype(np.float32))
            cursor += len(speech.samples)
            k += 1
        assert seg_start is not None
        seg_edges.append((seg_start, cursor / sr))
    silence(plan.tail)
    raw = np.concatenate(parts)
    import soxr

    samples = np.asarray(soxr.resample(raw, sr, TARGET_SR, quality="HQ"), dtype=np.float32)
    duration = len(samples) / TARGET_SR
    phones = _tile(timed, duration)
    # segments meet halfway through the pause between them
    bounds = [0.0] + [0.5 * (a[1] + b[0]) for a, b in zip(seg_edges, seg_edges[1:], strict=False)] + [duration]
    return CleanSpeech(samples, phones, [(bounds[i], bounds[i + 1]) for i in range(len(seg_edges))])


def speak(plan: ClipPlan, segment: SegmentPlan, sentence: str, emphasis: int) -> espeak.Speech:
    """One sentence in the clip's voice with the segment's prosody."""
    p = segment.prosody
    if plan.engine == "espeak":
        text, ssml = _ssml(sentence, emphasis)
        return espeak.synthesize(text, voice=plan.voice, rate=p.rate, pitch=p.pitch, pitch_range=p.pitch_range,
                                 volume=p.volume, word_gap=p.word_gap, ssml=ssml)
    c = engine_controls(p)
    if plan.engine == "piper":
        return piper_voice.synthesize(sentence, rate=c["rate"], variability=c["range_factor"], gain=c["gain"])
    if plan.engine == "flite":
        return cli_engines.flite(sentence, plan.variant, **c)
    if plan.engine == "festival":
        return cli_engines.festival(sentence, plan.variant, **c)
    raise ValueError(f"unknown corpus engine {plan.engine!r}")


def _tile(phones: list[Phone], duration: float) -> list[Phone]:
    """Fill the pauses with SIL, merge neighbouring silences, clip to [0, duration]."""
    out: list[Phone] = []

    def push(label: str, start: float, end: float) -> None:
        end = min(end, duration)
        if out:
            start = max(start, out[-1].end)
        if end - start <= 1e-9:
            return
        if out and label == SILENCE and out[-1].label == SILENCE:
            out[-1] = Phone(SILENCE, out[-1].start, end)
        else:
            out.append(Phone(label, start, end))

    t = 0.0
    for ph in phones:
        if ph.start > t + 1e-9:
            push(SILENCE, t, ph.start)
        push(ph.label, ph.start, ph.end)
        t = max(t, ph.end)
    push(SILENCE, t, duration)
    if out and out[0].start > 0.0:
        out[0] = Phone(out[0].label, 0.0, out[0].end)
    return out
