"""The files a command line names, checked before any work: each is a readable regular file of a sane
size (``core.common.inputs.check_input_file``: a named pipe would block its reader, /dev/zero never ends),
a ``--blend`` starts with a Blender header, and the inputs are listed for the output-is-an-input check
(``core.common.fileio.refuse_inputs_as_outputs``)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ...core.common.blendfile import check_blend_file
from ...core.common.inputs import check_input_file

# Size caps of the small inputs: far above any real one, far below what would exhaust memory when parsed.
MAX_TRACK_BYTES = 16 << 20  # an instruction track (JSON): a few kB per minute of speech
MAX_TRANSCRIPT_BYTES = 4 << 20  # a transcript: about 1 kB per minute of speech
MAX_FLAME_BYTES = 1 << 30  # a FLAME model: 50-150 MB for the published ones
MAX_LANDMARK_BYTES = 64 << 20  # a landmark embedding: tens of kB
MAX_MAPPING_BYTES = 1 << 20  # a rig mapping (JSON): a few kB (core.rigs.mapping.MAX_BYTES)
TRANSCRIPT_SUFFIXES = (".txt", ".lab", ".text")  # as core.lipsync.phone_timing.read_transcript reads them


def transcript_path(value: str | None) -> Path | None:
    """The file ``--transcript`` names, or None when it is the text itself (read_transcript's rule: a text
    file suffix, or an existing path; a long value is always text)."""
    if not value or len(value) >= 4096:
        return None
    path = Path(value)
    if path.suffix.lower() in TRANSCRIPT_SUFFIXES or (os.path.lexists(path) and not path.is_dir()):
        return path
    return None


def check_file_arguments(args: argparse.Namespace) -> None:
    """Check every optional input file the command's arguments name (those it does not have are skipped)."""
    if getattr(args, "instructions", None):
        check_input_file(args.instructions, "instruction track", MAX_TRACK_BYTES)
    transcript = transcript_path(getattr(args, "transcript", None))
    if transcript is not None:
        check_input_file(transcript, "transcript file", MAX_TRANSCRIPT_BYTES)
    if getattr(args, "flame", None):
        check_input_file(args.flame, "FLAME model", MAX_FLAME_BYTES)
    if getattr(args, "landmarks", None):
        check_input_file(args.landmarks, "landmark file", MAX_LANDMARK_BYTES)
    if getattr(args, "blend", None):
        check_blend_file(args.blend, "blend file")
    if getattr(args, "mapping", None):
        check_input_file(args.mapping, "rig mapping", MAX_MAPPING_BYTES)


def named_inputs(args: argparse.Namespace) -> list[tuple[str, str | Path | None]]:
    """``(what, path)`` of every input file in the arguments, for ``refuse_inputs_as_outputs``."""
    return [
        ("audio file", getattr(args, "audio", None)),
        ("--blend file", getattr(args, "blend", None)),
        ("--flame model", getattr(args, "flame", None)),
        ("--landmarks file", getattr(args, "landmarks", None)),
        ("--instructions track", getattr(args, "instructions", None)),
        ("--transcript file", transcript_path(getattr(args, "transcript", None))),
        ("--mapping file", getattr(args, "mapping", None)),
    ]
