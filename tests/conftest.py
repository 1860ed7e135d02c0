"""Shared fixtures: real speech from espeak-ng and helpers to write audio files."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SENTENCE = "Bob met Pam by the map. Maybe the baby wants more milk."


@dataclass
class SpokenClip:
    path: Path
    text: str
    speech: object  # core.tts.espeak.Speech (samples, sr, phones with true times)


@pytest.fixture(scope="session")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> SpokenClip:
    """A sentence full of bilabials, spoken by espeak-ng, with its true phone times."""
    from avi_talking.core.tts import espeak

    if not espeak.available():
        pytest.skip("espeak-ng is not installed (the set-up script installs it)")
    speech = espeak.synthesize(SENTENCE, voice="en-us", rate=160)
    path = tmp_path_factory.mktemp("speech") / "sentence.wav"
    sf.write(path, speech.samples, speech.sr, subtype="PCM_16")
    return SpokenClip(path, SENTENCE, speech)


def tone(seconds: float, sr: int = 16000, freq: float = 220.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_audio(path: Path, data: np.ndarray, sr: int, subtype: str | None = None) -> Path:
    sf.write(path, data, sr, subtype=subtype)
    return path


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m avi_talking ...`` as a user would, capturing output."""
    return subprocess.run([sys.executable, "-m", "avi_talking", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600, check=False)


def match_labels(truth: list[str], got: list[str]) -> list[tuple[int, int]]:
    """Index pairs of equal labels on the best monotonic alignment of two label sequences."""
    n, m = len(truth), len(got)
    cost = np.zeros((n + 1, m + 1))
    cost[:, 0], cost[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            same = truth[i - 1] == got[j - 1]
            cost[i, j] = min(cost[i - 1, j] + 1, cost[i, j - 1] + 1, cost[i - 1, j - 1] + (0 if same else 1))
    pairs, i, j = [], n, m
    while i > 0 and j > 0:
        if truth[i - 1] == got[j - 1] and cost[i, j] == cost[i - 1, j - 1]:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif cost[i, j] == cost[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


def phones_from(spec: list[tuple[str, float]]) -> list:
    """Back-to-back phones from (label, duration) pairs, starting at 0 s."""
    from avi_talking.core.phonemes import Phone

    out, t = [], 0.0
    for label, duration in spec:
        out.append(Phone(label, t, t + duration))
        t += duration
    return out


def build_test_corpus(factory: pytest.TempPathFactory, name: str, hours: float, seed: int,
                      shard_seconds: float, engines: dict[str, float] | None = None) -> Path:
    """A small real corpus (espeak-ng speech unless ``engines`` says otherwise, two worker processes) for a
    test module; skips without espeak."""
    from avi_talking.core.corpus.build import build_corpus
    from avi_talking.core.tts import espeak

    if not espeak.available():
        pytest.skip("espeak-ng is not installed (the set-up script installs it)")
    out = factory.mktemp(name) / "corpus"
    build_corpus(out, hours, seed, workers=2, shard_seconds=shard_seconds,
                 engine_share=engines if engines is not None else {"espeak": 1.0})
    return out
