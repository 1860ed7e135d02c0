"""When each transcript word is spoken (pocketsphinx forced alignment): the panel's word markers. Checked
against espeak-ng's own word events, in the library and through the job runner both clients use."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SpokenClip

pytest.importorskip("pocketsphinx")

from avi_talking.core.audio.loader import load_audio
from avi_talking.core.common.errors import AviTalkError
from avi_talking.core.lipsync.phone_timing import align_words, tokenize
from avi_talking.core.worker.jobs import JobRunner
from avi_talking.core.worker.needs import needs


def test_words_start_where_espeak_spoke_them(spoken: SpokenClip) -> None:
    audio = load_audio(spoken.path)
    words = align_words(audio, spoken.text)
    assert [w.word for w in words] == tokenize(spoken.text)
    truth = [start for _, start in spoken.speech.words]  # type: ignore[attr-defined]
    assert len(truth) == len(words)
    errors = np.abs(np.array([w.start for w in words]) - np.array(truth))
    assert float(np.median(errors)) < 0.04 and float(errors.max()) < 0.15, errors
    assert all(a.start <= b.start for a, b in zip(words, words[1:], strict=False))
    assert all(0.0 <= w.start <= w.end <= audio.duration for w in words)


def test_the_job_runner_aligns_words_and_refuses_bad_requests(spoken: SpokenClip) -> None:
    runner = JobRunner()
    result, notes = runner.run("align_words", {"audio": str(spoken.path), "transcript": spoken.text},
                               lambda stage, fraction: None)
    assert [w["word"] for w in result["words"]] == tokenize(spoken.text) and result["audio_sha256"]
    assert [need.module for need in needs("align_words", {"audio": "x.wav"})] == ["pocketsphinx"]
    with pytest.raises(AviTalkError, match="no transcript"):
        runner.run("align_words", {"audio": str(spoken.path), "transcript": "  "}, lambda stage, fraction: None)
    with pytest.raises(AviTalkError, match="could not be aligned|empty"):
        runner.run("align_words", {"audio": str(spoken.path), "transcript": "..."}, lambda stage, fraction: None)
