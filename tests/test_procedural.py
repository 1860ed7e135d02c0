"""The procedural baseline judged on the built-in head's mesh: p/b/m close the lips, silence keeps the
mouth shut, coarticulation blends, blinks are natural and seeded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avi_talking.core.arkit import INDEX, MOUTH
from avi_talking.core.audio.features import extract_features
from avi_talking.core.audio.loader import from_samples
from avi_talking.core.lipsync.procedural import ProceduralSettings, coarticulate, synthesize
from avi_talking.core.phonemes import BILABIALS, SILENCE, Phone
from avi_talking.core.pipeline.generate import generate
from avi_talking.core.pipeline.options import GenerateOptions
from avi_talking.core.rigs.builtin_head.measure import lip_gap_mm

from conftest import SpokenClip, tone, write_audio

CLOSED_MM = 1.0  # lips count as closed below this gap on the built-in head


@pytest.mark.parametrize("fps", [24.0, 30.0, 60.0])
def test_every_bilabial_closes_the_lips_within_two_frames(spoken: SpokenClip, fps: float) -> None:
    animation = generate(spoken.path, GenerateOptions(model="procedural", fps=fps, transcript=spoken.text)).animation
    gap = lip_gap_mm(animation.values)
    truth = spoken.speech.phones  # type: ignore[attr-defined]
    bilabials = [p for p in truth if p.label in BILABIALS]
    assert len(bilabials) >= 12
    for phone in bilabials:
        k = int(round(phone.centre * fps))
        window = gap[max(0, k - 2) : k + 3]
        assert window.min() < CLOSED_MM, f"{phone.label} at {phone.centre:.3f}s: lip gap {window.min():.2f} mm"


def test_the_mouth_opens_for_vowels(spoken: SpokenClip) -> None:
    animation = generate(spoken.path, GenerateOptions(model="procedural", fps=30.0, transcript=spoken.text)).animation
    gap = lip_gap_mm(animation.values)
    open_vowels = [p for p in spoken.speech.phones if p.label in {"AA", "AE", "AY", "AW"}]  # type: ignore[attr-defined]
    peaks = [gap[int(p.start * 30) : int(np.ceil(p.end * 30)) + 1].max() for p in open_vowels]
    assert np.median(peaks) > 6.0  # mm


def test_silence_keeps_the_mouth_closed(spoken: SpokenClip) -> None:
    fps = 30.0
    animation = generate(spoken.path, GenerateOptions(model="procedural", fps=fps, transcript=spoken.text)).animation
    gap = lip_gap_mm(animation.values)
    times = animation.times()
    pauses = [p for p in spoken.speech.phones if p.label == SILENCE and p.duration > 0.25]  # type: ignore[attr-defined]
    assert pauses
    for pause in pauses:
        inside = (times > pause.start + 0.1) & (times < pause.end - 0.1)
        assert inside.any()
        assert gap[inside].max() < CLOSED_MM
        assert animation.channel("jawOpen")[inside].max() < 0.05


def test_recognition_mode_still_seals_most_bilabials(spoken: SpokenClip) -> None:
    # no transcript: phones come from recognition, which misses some on synthetic speech
    animation = generate(spoken.path, GenerateOptions(model="procedural", fps=30.0)).animation
    gap = lip_gap_mm(animation.values)
    bilabials = [p for p in spoken.speech.phones if p.label in BILABIALS]  # type: ignore[attr-defined]
    closed = [gap[max(0, round(p.centre * 30) - 2) : round(p.centre * 30) + 3].min() < CLOSED_MM for p in bilabials]
    assert np.mean(closed) >= 0.5


def test_silent_audio_gives_a_face_at_rest(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "silence.wav", np.zeros(32000, np.float32), 16000)
    with pytest.warns(UserWarning, match="silent"):
        animation = generate(path, GenerateOptions(model="procedural", fps=30.0)).animation
    mouth = animation.values[:, [INDEX[n] for n in MOUTH]]
    assert np.abs(mouth).max() == 0.0
    assert lip_gap_mm(animation.values).max() < CLOSED_MM


def _speech_like(seconds: float) -> np.ndarray:
    """Syllable-rate amplitude-modulated tone: voiced throughout, loud enough for VAD."""
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)


def _features(seconds: float, fps: float = 30.0):
    return extract_features(from_samples(_speech_like(seconds), 16000), fps)


def test_coarticulation_blends_instead_of_stepping() -> None:
    fps = 60.0
    times = np.arange(int(1.0 * fps)) / fps
    # "t" has almost no hold on the lips: they are already rounding for the following "oo"
    phones = [Phone(SILENCE, 0.0, 0.3), Phone("T", 0.3, 0.38), Phone("UW", 0.38, 0.6), Phone(SILENCE, 0.6, 1.0)]
    poses = coarticulate(phones, times)
    pucker = poses[:, INDEX["mouthPucker"]]
    during_t = pucker[(times >= 0.3) & (times < 0.38)]
    assert during_t.max() > 0.3  # anticipatory rounding
    jaw = poses[:, INDEX["jawOpen"]]
    assert np.abs(np.diff(jaw)).max() < 0.1  # no jumps from frame to frame at 60 fps
    assert np.abs(np.diff(pucker)).max() < 0.2


def test_bilabial_between_open_vowels_is_sealed() -> None:
    fps = 30.0
    feats = _features(1.0, fps)
    phones = [Phone("AA", 0.0, 0.45), Phone("M", 0.45, 0.52), Phone("AA", 0.52, 1.0)]
    values = synthesize(phones, feats, ProceduralSettings(blinks=0))
    gap = lip_gap_mm(values)
    k = round(0.485 * fps)
    assert gap[k] < CLOSED_MM
    assert gap[3] > 8.0 and gap[-4] > 8.0


def test_same_seed_same_take_other_seed_other_blinks() -> None:
    feats = _features(30.0)
    phones = [Phone("AA", 0.0, 30.0)]
    a = synthesize(phones, feats, ProceduralSettings(seed=1))
    b = synthesize(phones, feats, ProceduralSettings(seed=1))
    c = synthesize(phones, feats, ProceduralSettings(seed=2))
    assert np.array_equal(a, b)
    blink = INDEX["eyeBlinkLeft"]
    assert not np.array_equal(a[:, blink], c[:, blink])


def test_blinks_are_natural() -> None:
    fps = 30.0
    feats = _features(120.0, fps)
    values = synthesize([Phone("AH", 0.0, 120.0)], feats, ProceduralSettings(seed=5))
    left, right = values[:, INDEX["eyeBlinkLeft"]], values[:, INDEX["eyeBlinkRight"]]
    closed = left > 0.8
    onsets = np.flatnonzero(np.diff(closed.astype(int)) == 1)
    per_minute = len(onsets) / 2.0
    assert 8 <= per_minute <= 30
    durations = [np.sum(left[k - 6 : k + 12] > 0.2) / fps for k in onsets if 6 <= k < len(left) - 12]
    assert 0.08 <= np.median(durations) <= 0.35  # seconds with the lid substantially closed
    assert np.corrcoef(left, right)[0, 1] > 0.9  # both eyes blink together
    no_blinks = synthesize([Phone("AH", 0.0, 120.0)], feats, ProceduralSettings(blinks=0))
    assert no_blinks[:, INDEX["eyeBlinkLeft"]].max() == 0


def test_jaw_follows_loudness_within_a_vowel() -> None:
    fps = 30.0
    pause = np.random.default_rng(0).normal(0, 1e-3, 8000).astype(np.float32)
    quiet_then_loud = np.concatenate([pause, tone(1.0, level=0.06, freq=200.0), tone(1.0, level=0.4, freq=200.0)])
    feats = extract_features(from_samples(quiet_then_loud, 16000), fps)
    quiet, loud = slice(22, 37), slice(52, 67)
    assert feats.voiced[quiet].all()  # the quiet part is still speech, not a pause
    values = synthesize([Phone(SILENCE, 0.0, 0.5), Phone("AA", 0.5, 2.5)], feats, ProceduralSettings(blinks=0))
    jaw = values[:, INDEX["jawOpen"]]
    assert jaw[loud].mean() > jaw[quiet].mean() + 0.15


def test_the_rest_mask_eases_inside_pauses_and_holds_to_the_clip_edges() -> None:
    from avi_talking.core.lipsync.procedural import pause_rest_mask

    times = np.arange(0, 3.0, 0.01)
    # a pause opening the clip, one inside it, one closing it
    mask = pause_rest_mask(times, [(0.0, 0.5, True, False), (1.2, 1.8, False, False), (2.6, 3.0, False, True)], 0.1)
    at = lambda t: float(mask[int(round(t / 0.01))])  # noqa: E731
    assert at(0.0) == 1.0 and at(0.39) == 1.0 and at(0.5) == 0.0  # rest from the edge, eased out inside the pause
    assert at(1.2) == 0.0 and at(1.5) == 1.0 and at(1.8) == 0.0 and 0.0 < at(1.25) < 1.0  # eased in and out
    assert at(2.99) == 1.0 and at(2.6) == 0.0 and at(0.8) == 0.0  # to the end; speech untouched
    assert not pause_rest_mask(times, [(1.0, 1.15, False, False)], 0.1).any()  # too short to ease in and out
