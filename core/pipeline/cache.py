"""The per-audio analysis cache: a re-bake after editing only the instruction text (or the seed) skips
loading and analysing the audio again.

Keyed by the audio file's sha256: the decoded audio, the stage-1 analysis, and the front end (with stage 2's
audio encodings, see ``Analysis.encodings``) per frame rate and transcript. It lives as long as its owner —
the worker process, or in-process the add-on session — and holds a few clips at most."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from ..audio.loader import Audio, check_input_file, load_audio, max_audio_bytes
from ..common.errors import AudioError
from ..common.fileio import sha256_file
from .analysis import Analysis

MAX_CACHED_CLIPS = 4
AnalysisKey = tuple[float, str | None, bool]  # fps, transcript (procedural only), with phones


class CachedClip:
    """Everything cached for one audio file."""

    def __init__(self, audio: Audio) -> None:
        self.audio = audio
        self.stage1: dict[str, Any] | None = None  # the analyze operation's result
        self.analyses: dict[AnalysisKey, Analysis] = {}


class AnalysisCache:
    def __init__(self, max_clips: int = MAX_CACHED_CLIPS) -> None:
        self.max_clips = max_clips
        self._clips: OrderedDict[str, CachedClip] = OrderedDict()

    def clip(self, path: str, max_seconds: float) -> tuple[CachedClip, bool]:
        """The cached clip of ``path`` (True) or a freshly loaded one (False)."""
        # kind and size first: hashing a named pipe would block, /dev/zero would never end
        check_input_file(path, "audio file", max_audio_bytes(max_seconds), AudioError)
        try:
            digest: str | None = sha256_file(path)
        except OSError:
            digest = None  # load_audio says what is wrong with the path
        if digest is not None and digest in self._clips:
            clip = self._clips[digest]
            if clip.audio.duration <= max_seconds:
                self._clips.move_to_end(digest)
                return clip, True
        audio = load_audio(path, max_seconds=max_seconds)
        clip = CachedClip(audio)
        self._clips[audio.sha256] = clip
        while len(self._clips) > self.max_clips:
            self._clips.popitem(last=False)
        return clip, False

    def __len__(self) -> int:
        return len(self._clips)
