"""Research FLAME sequences → ``flame``-space Animations.

What the tools write (per frame ``t``; a leading batch axis of size 1 is dropped):

- **DECA / EMOCA**: ``exp`` [T, 50] and ``pose`` [T, 6] — the head's global rotation in ``pose[:, :3]`` and
  the jaw in ``pose[:, 3:6]`` (axis-angle); EMOCA's codes are also named ``expcode``/``posecode``, and its
  per-frame output folders (``<frame>/exp.npy``, ``<frame>/pose.npy``) are read as one sequence.
- **DiffPoseTalk**: ``exp`` [T, 50], ``pose`` [T, 6] laid out like DECA's (plus ``shape``), saved as ``.npz``.
- **EMOTE**: ``expression`` [T, 50 or 100] and ``jaw_pose`` [T, 3].
- **Generic**: ``exp`` and ``jaw_pose`` (axis-angle [T, 3], or the 6-d rotation representation [T, 6]),
  optionally ``neck_pose`` [T, 3], ``eye_pose`` [T, 6] (left, right) and ``fps``.

Files are ``.npz`` (read without pickle), ``.json`` (the same keys as lists) or an EMOCA folder. The
head's global rotation is camera-relative and usually left out; ``head_pose=True`` keeps it as the
neck rotation. Frame ``t`` is shown at ``t / fps`` seconds, as everywhere in the project.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..animation import Animation, normalize_fps
from ..common.errors import FormatError
from .channels import SPACE, make_animation
from .limits import MAX_FILE_BYTES, MAX_JSON_BYTES, bounded_asarray, check_file_size
from .rotations import matrix_to_axis_angle, rotation_6d_to_matrix
from .safe_npz import read_npy, read_npz

FORMATS = ("auto", "deca", "emoca", "diffposetalk", "emote", "generic")
SUFFIXES = (".npz", ".json")
_ALIASES = {
    "exp": ("exp", "expression", "expcode", "expression_params", "exp_params"),
    "pose": ("pose", "posecode", "pose_params"),
    "jaw": ("jaw_pose", "jaw", "jaw_params"),
    "neck": ("neck_pose", "global_pose", "head_pose", "global_orient"),
    "eyes": ("eye_pose", "eyes_pose"),
}
_NEEDS = {"deca": ("exp", "pose"), "emoca": ("exp", "pose"), "diffposetalk": ("exp", "pose"),
          "emote": ("exp", "jaw"), "generic": ("exp", "jaw")}


def read_sequence(path: str | Path, *, fps: float | None = None, fmt: str = "auto", head_pose: bool = False,
                  default_fps: float | None = None) -> Animation:
    """Read a research sequence (or a flame-space Animation file) as a flame-space Animation.

    The frame rate is ``fps``, else what the file states, else ``default_fps`` (else an error)."""
    with np.errstate(all="ignore"):  # bad values are refused explicitly, without numpy's warnings first
        return _read_sequence(Path(path).expanduser(), fps, fmt, head_pose, default_fps)


def _read_sequence(src: Path, fps: float | None, fmt: str, head_pose: bool, default_fps: float | None
                   ) -> Animation:
    if fmt not in FORMATS:
        raise FormatError(f"unknown sequence format {fmt!r}; use one of {', '.join(FORMATS)}")
    if not src.exists():
        raise FormatError(f"sequence {src} does not exist")
    if src.is_dir():
        data, detected = _read_emoca_folder(src), "emoca"
    else:
        data = _read_file(src)
        if "channels" in data and "values" in data:  # already an Animation file
            return _flame_animation(src, fps)
        detected = _detect(data)
    chosen = detected if fmt == "auto" else fmt
    arrays = {role: _find(data, role, src.name) for role in _ALIASES}
    for role in _NEEDS.get(chosen, ()):
        if arrays[role] is None and not (role == "jaw" and arrays["pose"] is not None):
            raise FormatError(f"{src.name} has no {role!r} array ({' / '.join(_ALIASES[role])}), which "
                              f"{chosen} sequences have")
    rate = _frame_rate(data, fps, default_fps, src.name)
    exp, rotations = _assemble(arrays, src.name, head_pose)
    meta = {"source": src.name, "format": chosen, "frames": int(exp.shape[0])}
    return make_animation(rate, exp, rotations, meta)


def _flame_animation(src: Path, fps: float | None) -> Animation:
    anim = Animation.load(src)
    if anim.space != SPACE:
        raise FormatError(f"{src.name} is a {anim.space!r} animation, not a FLAME sequence")
    if fps is not None and abs(normalize_fps(fps) - anim.fps) > 1e-6:
        raise FormatError(f"{src.name} states {anim.fps:g} fps; --fps {fps:g} disagrees")
    return anim


def _read_file(src: Path) -> dict[str, Any]:
    suffix = src.suffix.lower()
    if suffix == ".npz":  # headers checked before anything is allocated; never unpickled
        return dict(read_npz(src, max_bytes=MAX_FILE_BYTES, what="sequence file"))
    if suffix == ".json":
        check_file_size(src, MAX_JSON_BYTES, "JSON sequence")
        try:
            data = json.loads(src.read_text(encoding="utf-8"))
        except (ValueError, OSError, RecursionError) as exc:
            raise FormatError(f"{src.name} is not readable JSON ({type(exc).__name__})") from exc
        if not isinstance(data, dict):
            raise FormatError(f"{src.name} must hold a JSON object of arrays")
        return data
    if suffix in (".npy", ".pkl", ".pt", ".pth"):
        raise FormatError(f"{src.name}: {suffix} sequences may hold pickles, which are never loaded; save the "
                          "arrays with np.savez(out, exp=..., pose=...) and import the .npz")
    raise FormatError(f"cannot read sequence {src.name}: use .npz, .json or an EMOCA output folder")


def _natural_key(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _read_emoca_folder(folder: Path) -> dict[str, Any]:
    frames = sorted((d for d in folder.iterdir() if (d / "exp.npy").is_file()), key=_natural_key)
    if not frames:
        raise FormatError(f"{folder} holds no per-frame folders with exp.npy (EMOCA's output layout)")
    exp, pose = [], []
    for frame in frames:
        pair = []
        for part in ("exp.npy", "pose.npy"):
            if not (frame / part).is_file():
                raise FormatError(f"{frame.name} has no {part}")
            pair.append(read_npy(frame / part, max_bytes=MAX_FILE_BYTES, what="sequence file").reshape(-1))
        exp.append(pair[0])
        pose.append(pair[1])
    if len({e.size for e in exp}) != 1 or len({p.size for p in pose}) != 1:
        raise FormatError(f"{folder.name}: frames have differing numbers of coefficients")
    return {"exp": np.stack(exp), "pose": np.stack(pose)}


def _detect(data: dict[str, Any]) -> str:
    keys = set(data)
    if {"expcode", "posecode"} <= keys:
        return "emoca"
    if "expression" in keys and "jaw_pose" in keys:
        return "emote"
    if {"exp", "pose", "shape"} <= keys:
        return "diffposetalk"
    if "exp" in keys and "pose" in keys:
        return "deca"
    return "generic"


def _find(data: dict[str, Any], role: str, name: str) -> np.ndarray | None:
    for key in _ALIASES[role]:
        if key in data:
            try:
                arr = bounded_asarray(data[key], name)
                if arr.dtype.kind not in "biuf":  # complex, text, objects
                    raise TypeError(arr.dtype.str)
                arr = arr.astype(np.float64)
            except (TypeError, ValueError, OverflowError, RecursionError) as exc:
                raise FormatError(f"{name}: {key!r} is not a numeric array") from exc
            while arr.ndim > 2 and arr.shape[0] == 1:  # [1, T, K] batches
                arr = arr[0]
            if arr.ndim == 1:
                arr = arr[None]
            if arr.ndim != 2 or arr.shape[0] == 0:
                raise FormatError(f"{name}: {key!r} has shape {arr.shape}, expected [frames, values]")
            if not np.isfinite(arr).all():
                raise FormatError(f"{name}: {key!r} contains NaN or infinity")
            return arr
    return None


def _frame_rate(data: dict[str, Any], fps: float | None, default_fps: float | None, name: str) -> float:
    stated = data.get("fps")
    if fps is not None:
        return normalize_fps(fps)
    if stated is not None:
        try:
            value = bounded_asarray(stated, name).reshape(-1)
            if value.dtype.kind not in "iuf":
                raise TypeError(value.dtype.str)
            return normalize_fps(float(value[0]))
        except (TypeError, ValueError, IndexError, OverflowError) as exc:
            raise FormatError(f"{name}: 'fps' is not a number") from exc
    if default_fps is not None:
        return normalize_fps(default_fps)
    raise FormatError(f"{name} does not say its frame rate: pass --fps (the video's rate)")


def _rotation_vectors(arr: np.ndarray, what: str, name: str) -> np.ndarray:
    if arr.shape[1] == 3:
        return arr
    if arr.shape[1] == 6:  # the continuous 6-d representation
        try:
            return matrix_to_axis_angle(rotation_6d_to_matrix(arr))
        except ValueError as exc:
            raise FormatError(f"{name}: {what} is not a valid 6-d rotation ({exc})") from exc
    raise FormatError(f"{name}: {what} has {arr.shape[1]} values per frame, expected 3 (axis-angle) or 6")


def _assemble(arrays: dict[str, np.ndarray | None], name: str, head_pose: bool
              ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    exp = arrays["exp"]
    if exp is None:
        raise FormatError(f"{name} has no expression coefficients ({' / '.join(_ALIASES['exp'])})")
    if exp.shape[1] > 400:
        raise FormatError(f"{name}: {exp.shape[1]} expression coefficients is more than a FLAME model has")
    rotations: dict[str, np.ndarray] = {}
    pose, jaw = arrays["pose"], arrays["jaw"]
    if jaw is not None:
        rotations["jaw"] = _rotation_vectors(jaw, "the jaw pose", name)
    elif pose is not None:
        if pose.shape[1] != 6:
            raise FormatError(f"{name}: 'pose' has {pose.shape[1]} values per frame, expected 6 (global, jaw)")
        rotations["jaw"] = pose[:, 3:6]
    neck = arrays["neck"]
    if head_pose:
        if neck is not None:
            rotations["neck"] = _rotation_vectors(neck, "the head pose", name)
        elif pose is not None and pose.shape[1] == 6:
            rotations["neck"] = pose[:, :3]
        else:
            warnings.warn(f"{name} has no head pose to keep", stacklevel=4)
    eyes = arrays["eyes"]
    if eyes is not None:
        if eyes.shape[1] != 6:
            raise FormatError(f"{name}: 'eye_pose' has {eyes.shape[1]} values per frame, expected 6 (left, right)")
        rotations["left_eye"], rotations["right_eye"] = eyes[:, :3], eyes[:, 3:]
    lengths = {len(exp), *(len(r) for r in rotations.values())}
    if len(lengths) != 1:
        raise FormatError(f"{name}: the arrays have different numbers of frames ({sorted(lengths)})")
    return exp, rotations


def align_to_audio(anim: Animation, offset: float = 0.0, audio_seconds: float | None = None) -> Animation:
    """Shift a sequence against its audio: ``offset`` seconds > 0 starts the face later (holding the
    first frame before it), < 0 drops the first frames. Warns when the lengths disagree."""
    if not math.isfinite(offset):
        raise FormatError("the audio offset must be a finite number of seconds")
    shift = round(offset * anim.fps)
    values = anim.values
    if shift > 0:
        values = np.concatenate([np.repeat(values[:1], shift, axis=0), values])
    elif shift < 0:
        if -shift >= anim.n_frames:
            raise FormatError(f"an offset of {offset:g} s drops the whole {anim.duration:.2f} s sequence")
        values = values[-shift:]
    meta = dict(anim.meta)
    if shift:
        meta["offset_frames"] = shift
    out = Animation(anim.fps, anim.channels, values, anim.space, meta)
    if audio_seconds is not None:
        gap = out.duration - audio_seconds
        if abs(gap) > max(0.5, 0.05 * audio_seconds):
            warnings.warn(f"the sequence lasts {out.duration:.2f} s but the audio {audio_seconds:.2f} s: is "
                          f"the frame rate ({anim.fps:g} fps) right?", stacklevel=2)
    return out
