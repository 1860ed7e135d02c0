"""flite and festival (Debian packages) as corpus voices: their own phone times, read from the engines.

Both speak CMU's US phone set in lower case ("ax", "pau", ...), which maps onto ARPAbet directly. The
phone ends they print are the times in the audio they write (flite: ``-psdur``; festival: the Segment
relation's ``end`` feature), so the phones are exact by construction, as with espeak-ng's events.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..common.errors import AviTalkError
from ..phonemes import SILENCE, Phone, normalize_arpabet
from .espeak import Speech

FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
FESTIVAL_VOICES = {"kal": "voice_kal_diphone", "ked": "voice_ked_diphone", "slt_hts": "voice_cmu_us_slt_arctic_hts"}
# the voices' own mean F0 (Hz), so a pitch setting moves each one around its natural level
_FLITE_F0 = {"kal": 105.0, "kal16": 105.0, "awb": 110.0, "rms": 100.0, "slt": 170.0}
_FESTIVAL_F0 = {"kal": 105.0, "ked": 105.0}
_CMU = {"ax": "AH", "axr": "ER", "pau": SILENCE, "h#": SILENCE, "brth": SILENCE, "ssil": SILENCE}
_TIMEOUT = 120.0


def available(engine: str) -> bool:
    return shutil.which(engine) is not None


def _label(cmu: str) -> str:
    return _CMU.get(cmu, normalize_arpabet(cmu)) if cmu else SILENCE


def _tile(ends: list[tuple[str, float]], duration: float) -> list[Phone]:
    """(phone, end) pairs → phones tiling [0, duration]; neighbouring pauses merged."""
    phones: list[Phone] = []
    start = 0.0
    for label, end in ends:
        end = min(end, duration)
        if end <= start + 1e-6:
            continue
        if phones and label == SILENCE and phones[-1].label == SILENCE:
            phones[-1] = Phone(SILENCE, phones[-1].start, end)
        else:
            phones.append(Phone(label, start, end))
        start = end
    if start < duration - 1e-6:
        if phones and phones[-1].label == SILENCE:
            phones[-1] = Phone(SILENCE, phones[-1].start, duration)
        else:
            phones.append(Phone(SILENCE, start, duration))
    return phones


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    import soundfile

    data, sr = soundfile.read(str(path), dtype="float32", always_2d=True)
    return np.ascontiguousarray(data[:, 0]), int(sr)


def _run(cmd: list[str], stdin: str | None = None) -> str:
    try:
        done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AviTalkError(f"{cmd[0]} failed: {exc}") from exc
    if done.returncode != 0:
        raise AviTalkError(f"{cmd[0]} failed (exit {done.returncode}): {done.stderr.strip()[:200]}")
    return done.stdout


def _clean_text(text: str) -> str:
    """What the engines read: no quotes or backslashes (festival's Scheme string), one line."""
    return " ".join(text.replace("\\", " ").replace('"', " ").split())


def flite(text: str, voice: str, *, rate: float = 1.0, pitch_st: float = 0.0, range_factor: float = 1.0,
          gain: float = 1.0) -> Speech:
    """``rate``: speed factor (2 = twice as fast); ``pitch_st``: semitones from the voice's own mean F0;
    ``range_factor``: scales the F0 spread."""
    if voice not in FLITE_VOICES:
        raise AviTalkError(f"unknown flite voice {voice!r}")
    f0 = _FLITE_F0[voice] * 2.0 ** (pitch_st / 12.0)
    with tempfile.TemporaryDirectory(prefix="avi-flite-") as tmp:
        wav = Path(tmp) / "x.wav"
        out = _run(["flite", "-voice", voice, "-t", _clean_text(text), "-o", str(wav), "-psdur",
                    "--setf", f"duration_stretch={1.0 / max(rate, 0.2):.4f}",
                    "--setf", f"int_f0_target_mean={f0:.2f}",
                    "--setf", f"int_f0_target_stddev={max(2.0, 0.12 * f0 * range_factor):.2f}"])
        samples, sr = _read_wav(wav)
    ends = []
    for token in out.split():
        name, _, end = token.rpartition(":")
        try:
            ends.append((_label(name), float(end)))
        except ValueError:
            continue
    return Speech(np.clip(samples * gain, -1.0, 1.0), sr, _tile(ends, len(samples) / sr))


def festival(text: str, voice: str, *, rate: float = 1.0, pitch_st: float = 0.0, range_factor: float = 1.0,
             gain: float = 1.0) -> Speech:
    """The same controls as ``flite``; pitch and range apply to the diphone voices only (the HTS voice
    has no intonation-model parameters to set)."""
    if voice not in FESTIVAL_VOICES:
        raise AviTalkError(f"unknown festival voice {voice!r}")
    with tempfile.TemporaryDirectory(prefix="avi-festival-") as tmp:
        wav = Path(tmp) / "x.wav"
        lines = [f"({FESTIVAL_VOICES[voice]})", f"(Parameter.set 'Duration_Stretch {1.0 / max(rate, 0.2):.4f})"]
        if voice in _FESTIVAL_F0:
            f0 = _FESTIVAL_F0[voice] * 2.0 ** (pitch_st / 12.0)
            lines.append(f"(set! int_lr_params '((target_f0_mean {f0:.2f}) (target_f0_std "
                         f"{max(2.0, 0.14 * f0 * range_factor):.2f}) (model_f0_mean 170) (model_f0_std 34)))")
        lines += [f'(set! utt (SynthText "{_clean_text(text)}"))',
                  f'(utt.save.wave utt "{wav}" \'riff)',
                  "(mapcar (lambda (s) (format t \"%s %f\\n\" (item.name s) (item.feat s 'end)))"
                  " (utt.relation.items utt 'Segment))"]
        out = _run(["festival", "--pipe"], "\n".join(lines) + "\n")
        samples, sr = _read_wav(wav)
    ends = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                ends.append((_label(parts[0]), float(parts[1])))
            except ValueError:
                continue
    return Speech(np.clip(samples * gain, -1.0, 1.0), sr, _tile(ends, len(samples) / sr))
