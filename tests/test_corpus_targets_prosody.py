"""The corpus targets' upper face: brows on the accents, emotion-shaped emphasis, phrase-end blinks and a
per-clip expressiveness, on real espeak-ng speech; the lips untouched by any of it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from avi_talking.core.arkit import ARKIT52, INDEX
from avi_talking.core.audio.features import extract_features
from avi_talking.core.audio.loader import TARGET_SR, from_samples
from avi_talking.core.corpus.accents import draw_expressiveness, find_accents, pause_onsets
from avi_talking.core.corpus.targets import REST_MIN, make_targets
from avi_talking.core.instructions import Instruction
from avi_talking.core.lipsync.blinks import blinks
from avi_talking.core.phonemes import SILENCE, Phone

from conftest import phones_from

FPS = 30.0
MOUTH = np.array([n.startswith(("mouth", "jaw", "tongue", "cheekPuff")) for n in ARKIT52])
BROWS = [i for i, n in enumerate(ARKIT52) if n.startswith("brow")]
TEXTS = [
    ("Maybe the baby wants more milk, said Bob. I really did not expect that at all!", "en-us+m3"),
    ("The weather was terrible yesterday, so we stayed at home and watched an old movie.", "en-us+f2"),
    ("Could you please tell me where the station is? I think I am completely lost.", "en+m1"),
    ("She opened the letter, read it twice, and then she laughed for a very long time.", "en-us+f4"),
]


@dataclass
class Clip:
    samples: np.ndarray
    phones: list[Phone]

    @property
    def duration(self) -> float:
        return len(self.samples) / TARGET_SR

    def targets(self, emotion: str = "neutral", seed: int = 0, upper_face: bool = True) -> np.ndarray:
        instr = Instruction(emotion, 0.0 if emotion == "neutral" else 0.8, {})
        return make_targets(self.samples, self.phones, [(0.0, self.duration)], [instr], FPS,
                            np.random.default_rng(seed), upper_face).values

    def speech_frames(self, n: int) -> np.ndarray:
        times = np.arange(n) / FPS
        inside = np.zeros(n, bool)
        for ph in self.phones:
            if ph.label != SILENCE:
                inside |= (times >= ph.start) & (times < ph.end)
        return inside

    def accent_times(self) -> np.ndarray:
        feats = extract_features(from_samples(self.samples, TARGET_SR), FPS)
        return np.array([a.time for a in find_accents(self.samples, self.phones, feats.times, feats.energy_db)])


@pytest.fixture(scope="module")
def clips() -> list[Clip]:
    import soxr

    from avi_talking.core.tts import espeak

    if not espeak.available():
        pytest.skip("espeak-ng is not installed (the set-up script installs it)")
    out = []
    for text, voice in TEXTS:
        speech = espeak.synthesize(text, voice=voice)
        out.append(Clip(np.asarray(soxr.resample(speech.samples, speech.sr, TARGET_SR), np.float32), speech.phones))
    return out


def _at(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    return values[np.clip(np.rint(times * FPS).astype(int), 0, len(values) - 1)]


def test_a_raised_vowel_is_found_as_the_accent() -> None:
    """Six vowels at 120 Hz with one at 150 Hz (+3.9 st): that one, and only it, is a pitch accent."""
    spec: list[tuple[str, float]] = [(SILENCE, 0.3)]
    for _ in range(6):
        spec += [("T", 0.06), ("AA", 0.18)]
    spec.append((SILENCE, 0.3))
    phones = phones_from(spec)
    t = np.arange(int(phones[-1].end * TARGET_SR)) / TARGET_SR
    f0 = np.full(len(t), 120.0)
    vowels = [ph for ph in phones if ph.label == "AA"]
    accent = vowels[3]
    f0[(t >= accent.start) & (t < accent.end)] = 150.0
    voiced = np.zeros(len(t), bool)
    for ph in vowels:
        voiced |= (t >= ph.start) & (t < ph.end)
    phase = 2 * np.pi * np.cumsum(f0) / TARGET_SR
    x = np.where(voiced, 0.3 * (np.sin(phase) + 0.5 * np.sin(2 * phase)), 0.0).astype(np.float32)
    feats = extract_features(from_samples(x, TARGET_SR), FPS)
    found = find_accents(x, phones, feats.times, feats.energy_db)
    assert [a.time for a in found] == [accent.centre]
    assert found[0].pitch > 0.8 and found[0].loud == 0.0  # same level everywhere: no loudness peak


def test_brows_move_in_speech_and_rise_on_the_accents(clips: list[Clip]) -> None:
    stds: list[float] = []
    at_accent: list[float] = []
    control: list[float] = []
    rng = np.random.default_rng(7)
    for seed, clip in enumerate(clips):
        values = clip.targets(seed=seed)
        speech = clip.speech_frames(len(values))
        stds.append(float(values[speech][:, BROWS].std(axis=0).mean()))
        raise_ = values[:, INDEX["browOuterUpLeft"]] + values[:, INDEX["browInnerUp"]]
        accents = clip.accent_times()
        assert len(accents) >= 1
        at_accent.extend(_at(raise_, accents))
        # control: as many times drawn at random within the speech
        speech_times = np.flatnonzero(speech) / FPS
        control.extend(_at(raise_, rng.choice(speech_times, 20 * len(accents))))
    assert np.mean(stds) >= 0.03, stds
    assert np.mean(at_accent) > np.mean(control) + 0.1, (np.mean(at_accent), np.mean(control))


def test_angry_emphasis_lowers_the_brows_and_happy_raises_them(clips: list[Clip]) -> None:
    for clip in clips:
        accents = clip.accent_times()
        angry, happy = clip.targets("angry"), clip.targets("happy")
        def down(v: np.ndarray, at: np.ndarray = accents) -> float:
            return float(_at(v[:, INDEX["browDownLeft"]] + v[:, INDEX["browDownRight"]], at).mean())

        def up(v: np.ndarray, at: np.ndarray = accents) -> float:
            return float(_at(v[:, INDEX["browOuterUpLeft"]] + v[:, INDEX["browInnerUp"]], at).mean())

        def squint(v: np.ndarray, at: np.ndarray = accents) -> float:
            return float(_at(v[:, INDEX["eyeSquintLeft"]], at).mean())

        assert down(angry) > down(happy) + 0.1
        assert up(happy) > up(angry) + 0.1
        assert squint(angry) > squint(happy)


def test_blinks_gather_at_pause_onsets_at_about_the_same_rate(clips: list[Clip]) -> None:
    near_count = far_count = 0
    near_time = far_time = 0.0
    with_anchors = without = 0
    for clip in clips:
        anchors = pause_onsets(clip.phones, REST_MIN)
        assert anchors
        times = np.arange(int(clip.duration * FPS) + 1) / FPS
        near = np.zeros(len(times), bool)
        for a in anchors:
            near |= (times >= a) & (times < a + 0.4)
        for seed in range(40):
            values = clip.targets(seed=seed)
            lid = values[:, INDEX["eyeBlinkLeft"]] > 0.5
            onsets = np.flatnonzero(lid[1:] & ~lid[:-1]) + 1
            near_count += int(near[onsets].sum())
            far_count += int((~near[onsets]).sum())
            near_time += near.sum() / FPS
            far_time += (~near).sum() / FPS
            seed_b = int(seed * 7919 + 1)
            with_anchors += int((blinks(times, clip.duration, seed_b, 1.0, anchors)[0][1:] > 0.5).sum())
            without += int((blinks(times, clip.duration, seed_b, 1.0)[0][1:] > 0.5).sum())
    near_rate, far_rate = near_count / near_time, far_count / far_time
    assert near_rate > 3 * far_rate, (near_rate, far_rate)
    assert 0.75 < with_anchors / without < 1.35, (with_anchors, without)


def test_lip_channels_are_untouched_by_the_upper_face(clips: list[Clip]) -> None:
    for emotion in ("neutral", "angry", "happy"):
        clip = clips[0]
        full, plain = clip.targets(emotion, seed=3), clip.targets(emotion, seed=3, upper_face=False)
        np.testing.assert_array_equal(full[:, MOUTH], plain[:, MOUTH])
        assert np.abs(full[:, BROWS] - plain[:, BROWS]).max() > 0.05


def test_deterministic_per_seed_and_speakers_differ(clips: list[Clip]) -> None:
    clip = clips[1]
    instr = [Instruction()]
    span = [(0.0, clip.duration)]
    one = make_targets(clip.samples, clip.phones, span, instr, FPS, np.random.default_rng(11))
    two = make_targets(clip.samples, clip.phones, span, instr, FPS, np.random.default_rng(11))
    np.testing.assert_array_equal(one.values, two.values)
    assert one.info == two.info and 0.5 <= one.info["expressiveness"] <= 1.8
    drawn = [draw_expressiveness(np.random.default_rng(s)) for s in range(300)]
    assert min(drawn) >= 0.5 and max(drawn) <= 1.8 and np.std(drawn) > 0.25
    # a more expressive speaker moves the brows more on the same speech
    by_seed: dict[float, float] = {}
    for seed in range(12):
        t = make_targets(clip.samples, clip.phones, span, instr, FPS, np.random.default_rng(seed))
        by_seed[t.info["expressiveness"]] = float(t.values[:, INDEX["browOuterUpLeft"]].max())
    low, high = min(by_seed), max(by_seed)
    assert high > 1.3 * low and by_seed[high] > by_seed[low]
