"""The Animation contract (DESIGN.md): per-frame channel values with a frame rate and a space.

Frame ``t`` shows the face at ``t / fps`` seconds from the audio start. Encodings: ``.npz`` (canonical),
``.json`` (same fields) and ``.csv`` (Epic Live Link Face column layout, ARKit space only).

Head rotations (``headYaw``/``headPitch``/``headRoll``, radians, after the 52) go into the CSV's
``HeadYaw``/``HeadPitch``/``HeadRoll`` columns as they are (radians, this project's signs: docs/animation.md);
reading a CSV keeps them when any of the three columns is not all zero (a face-only file writes zeros there).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .arkit import ARKIT52, HEAD_ROTATIONS, LIVE_LINK_FACE_ROTATIONS, LIVE_LINK_FACE_SHAPES
from .common.errors import FormatError
from .common.fileio import atomic_output

SUFFIXES = (".npz", ".json", ".csv")

# NTSC-style rates given as decimals are snapped to their exact ratios.
_NTSC = {23.976: 24000 / 1001, 29.97: 30000 / 1001, 47.952: 48000 / 1001, 59.94: 60000 / 1001}


def normalize_fps(fps: float) -> float:
    """Validate a frame rate and snap 23.976/29.97/59.94 to 24000/1001 etc."""
    fps = float(fps)
    if not math.isfinite(fps) or not 1.0 <= fps <= 240.0:
        raise FormatError(f"frame rate {fps} is outside 1..240 fps")
    for approx, exact in _NTSC.items():
        if abs(fps - approx) < 0.006:
            return exact
    return fps


def n_frames_for(duration: float, fps: float) -> int:
    """Frames needed so that frame times t/fps cover [0, duration)."""
    return max(1, math.ceil(duration * fps - 1e-6))


@dataclass
class Animation:
    fps: float
    channels: tuple[str, ...]
    values: np.ndarray  # float32 [T, C]
    space: str = "arkit52"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.channels = tuple(str(c) for c in self.channels)
        self.values = np.ascontiguousarray(self.values, dtype=np.float32)
        if self.values.ndim != 2 or self.values.shape[1] != len(self.channels):
            raise FormatError(
                f"animation values have shape {self.values.shape}, expected [frames, {len(self.channels)}]"
            )
        if len(set(self.channels)) != len(self.channels):
            raise FormatError("animation channel names are not unique")
        if not np.isfinite(self.values).all():
            raise FormatError("animation values contain NaN or infinity")
        if not (isinstance(self.fps, float | int) and math.isfinite(self.fps) and self.fps > 0):
            raise FormatError(f"animation frame rate {self.fps!r} is not a positive number")
        self.fps = float(self.fps)

    @property
    def n_frames(self) -> int:
        return int(self.values.shape[0])

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps

    def times(self) -> np.ndarray:
        return np.arange(self.n_frames, dtype=np.float64) / self.fps

    def channel(self, name: str) -> np.ndarray:
        try:
            return self.values[:, self.channels.index(name)]
        except ValueError:
            raise KeyError(f"animation has no channel {name!r}") from None

    # ---- encodings -------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write atomically; the format follows the file suffix."""
        out = Path(path)
        suffix = out.suffix.lower()
        if suffix not in SUFFIXES:
            raise FormatError(f"cannot write {out.name}: use one of {', '.join(SUFFIXES)}")
        with atomic_output(out) as tmp:
            if suffix == ".npz":
                self._write_npz(tmp)
            elif suffix == ".json":
                tmp.write_text(json.dumps(self.to_dict()), encoding="utf-8")
            else:
                self._write_live_link_csv(tmp)
        return out

    @classmethod
    def load(cls, path: str | Path) -> Animation:
        src = Path(path)
        if not src.is_file():
            raise FormatError(f"animation file {src} does not exist")
        suffix = src.suffix.lower()
        try:
            if suffix == ".npz":
                return cls._read_npz(src)
            if suffix == ".json":
                return cls.from_dict(json.loads(src.read_text(encoding="utf-8")))
            if suffix == ".csv":
                return cls._read_live_link_csv(src)
        except FormatError:
            raise
        except Exception as exc:  # any parse failure is the file's fault, reported in one line
            raise FormatError(f"cannot read animation {src.name}: {exc}") from exc
        raise FormatError(f"cannot read {src.name}: use one of {', '.join(SUFFIXES)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "fps": self.fps,
            "space": self.space,
            "channels": list(self.channels),
            "values": np.round(self.values.astype(np.float64), 6).tolist(),
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Animation:
        for key in ("fps", "channels", "values"):
            if key not in data:
                raise FormatError(f"animation is missing {key!r}")
        values = np.asarray(data["values"], dtype=np.float32).reshape(-1, len(data["channels"]))
        return cls(float(data["fps"]), tuple(data["channels"]), values, str(data.get("space", "arkit52")),
                   dict(data.get("meta", {})))

    def _write_npz(self, tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                fps=np.float64(self.fps),
                channels=np.array(self.channels, dtype=str),
                values=self.values,
                space=np.array(self.space),
                meta=np.array(json.dumps(self.meta)),
            )

    @classmethod
    def _read_npz(cls, src: Path) -> Animation:
        with np.load(src, allow_pickle=False) as data:  # never unpickle user files
            missing = {"fps", "channels", "values"} - set(data.files)
            if missing:
                raise FormatError(f"{src.name} is missing {', '.join(sorted(missing))}")
            meta = json.loads(str(data["meta"])) if "meta" in data.files else {}
            space = str(data["space"]) if "space" in data.files else "arkit52"
            return cls(float(data["fps"]), tuple(str(c) for c in data["channels"]), data["values"], space, meta)

    def _write_live_link_csv(self, tmp: Path) -> None:
        if self.space != "arkit52":
            raise FormatError(f"Live Link Face CSV holds ARKit-52 curves only, not {self.space!r}")
        lower = {c.lower(): i for i, c in enumerate(self.channels)}
        cols = [lower.get(name.lower()) for name in LIVE_LINK_FACE_SHAPES]
        # HeadYaw, HeadPitch, HeadRoll from the head channels; the eyes' rotation columns stay zero
        rot_cols = [lower.get(name.lower()) for name in LIVE_LINK_FACE_ROTATIONS]
        nominal = max(1, round(self.fps))
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["Timecode", "BlendShapeCount", *LIVE_LINK_FACE_SHAPES, *LIVE_LINK_FACE_ROTATIONS])
            for t in range(self.n_frames):
                row = self.values[t]
                shapes = [f"{row[c]:.6f}" if c is not None else "0.0" for c in cols]
                rotations = [f"{row[c]:.6f}" if c is not None else "0.0" for c in rot_cols]
                writer.writerow([_timecode(t / self.fps, nominal), 61, *shapes, *rotations])

    @classmethod
    def _read_live_link_csv(cls, src: Path) -> Animation:
        with open(src, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        if len(rows) < 2 or rows[0][:2] != ["Timecode", "BlendShapeCount"]:
            raise FormatError(f"{src.name} is not a Live Link Face CSV (no Timecode,BlendShapeCount header)")
        header = rows[0]
        by_lower = {name.lower(): name for name in ARKIT52}
        picks = [(i, by_lower[h.lower()]) for i, h in enumerate(header) if h.lower() in by_lower]
        times = _parse_timecodes([r[0] for r in rows[1:]])
        diffs = np.diff(times)
        fps = normalize_fps(1.0 / float(np.median(diffs))) if len(diffs) else 60.0
        values = np.zeros((len(rows) - 1, 52), dtype=np.float32)
        for col, name in picks:
            values[:, ARKIT52.index(name)] = [float(r[col]) for r in rows[1:]]
        head = {h.lower(): i for i, h in enumerate(header)}
        head_cols = [head.get(name.lower()) for name in HEAD_ROTATIONS]
        if all(c is not None for c in head_cols):
            angles = np.array([[float(r[c]) for c in head_cols if c is not None] for r in rows[1:]],
                              dtype=np.float32).reshape(len(rows) - 1, 3)
            if np.any(angles != 0.0):  # a face-only file (ours before head motion, or a capture without it)
                return cls(fps, ARKIT52 + HEAD_ROTATIONS, np.concatenate([values, angles], axis=1), "arkit52",
                           {"source": src.name})
        return cls(fps, ARKIT52, values, "arkit52", {"source": src.name})


def _timecode(seconds: float, nominal_fps: int) -> str:
    whole = math.floor(seconds + 1e-9)
    frames = (seconds - whole) * nominal_fps
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{frames:06.3f}"


def _parse_timecodes(codes: list[str]) -> np.ndarray:
    """Seconds from ``HH:MM:SS:FF.fff`` codes, relative to the first row.

    FF counts frames at the recording's nominal rate, which the file does not state: it is taken as the
    smallest common rate above the largest FF seen (Live Link Face records at 60 or 30)."""
    parts = np.array([[float(x) for x in c.split(":")] for c in codes], dtype=np.float64)
    if parts.ndim != 2 or parts.shape[1] != 4:
        raise FormatError("timecodes must look like HH:MM:SS:FF.fff")
    top = float(parts[:, 3].max())
    nominal = next((r for r in (24, 25, 30, 50, 60, 120, 240) if top < r), math.ceil(top + 1))
    seconds = parts[:, 0] * 3600 + parts[:, 1] * 60 + parts[:, 2] + parts[:, 3] / nominal
    return seconds - seconds[0]
