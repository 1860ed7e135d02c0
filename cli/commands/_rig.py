"""The rig options ``bake`` and ``batch`` share: ``--mapping FILE``, ``--only GROUPS``, ``--layer`` with
``--influence`` and ``--layer-blend``, ``--head-bone NAME``. Checked (and the mapping file read) before any
synthesis; the head bone itself is looked up in the rig when the .blend is open (before anything is keyed)."""

from __future__ import annotations

import argparse
from typing import Any

from ...core.common.errors import AviTalkError
from ...core.rigs.channel_groups import ALIASES, GROUPS, parse_groups
from ...core.rigs.layer import BLEND_MODES, BakeLayer
from ...core.rigs.mapping import RigMapping, read_mapping

RigParts = tuple[RigMapping | None, tuple[str, ...] | None, BakeLayer | None, str | None]


def add_rig_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("rig fit, channel groups and layers")
    g.add_argument("--mapping", metavar="FILE",
                   help="rig mapping (JSON: each shape key and the channels that drive it, with weights; the add-on's "
                        "Export Rig Mapping writes one): channels it does not name are not baked. Default: the "
                        "mapping saved on --object, else the automatic fit")
    groups = ", ".join([*GROUPS, *(f"{a} (= {'+'.join(g)})" for a, g in ALIASES.items())])
    g.add_argument("--only", metavar="GROUPS", help=f"bake only these channel groups, comma-separated: {groups}")
    g.add_argument("--layer", action="store_true",
                   help="bake into a new NLA track above the rig's animation, which keeps playing unchanged (its "
                        "active action is pushed down)")
    g.add_argument("--influence", type=float, metavar="0..1", help="the layer's influence (default 1)")
    g.add_argument("--layer-blend", choices=[m.lower() for m in BLEND_MODES],
                   help="replace: the layer replaces what plays below, faded by its influence (default); "
                        "add: it is added to it")
    g.add_argument("--head-bone", metavar="NAME",
                   help="the bone of --object's armature that the head rotations (headYaw/Pitch/Roll) turn, e.g. "
                        "Head. Without it the built-in head turns about its neck pivot and a FLAME rig its neck "
                        "joint; other rigs' head rotations are not placed")


def rig_parts(args: argparse.Namespace) -> RigParts:
    """``(mapping, groups, layer, head bone)`` from the arguments, each checked; the mapping file read and
    validated."""
    if not args.layer and (args.influence is not None or args.layer_blend is not None):
        raise AviTalkError(f"{'--influence' if args.influence is not None else '--layer-blend'} needs --layer")
    if getattr(args, "flame", None) and (args.mapping or args.only or args.layer):
        raise AviTalkError("--mapping, --only and --layer are for shape-key rigs, not --flame heads")
    if getattr(args, "takes", None) and args.layer:
        raise AviTalkError("--layer puts one take over the rig's animation: with --takes every file is a take of "
                           "its own")
    groups = parse_groups(args.only, "--only") if args.only is not None else None
    layer = None
    if args.layer:
        blend = (args.layer_blend or "replace").upper()
        layer = BakeLayer(1.0 if args.influence is None else args.influence, blend)
    mapping = read_mapping(args.mapping) if args.mapping else None
    head_bone = getattr(args, "head_bone", None)
    if head_bone is not None and not head_bone.strip():
        raise AviTalkError("--head-bone is empty: name a bone of --object's armature")
    if head_bone is not None and not getattr(args, "object", None):
        raise AviTalkError("--head-bone names a bone of --object's rig (a new head turns about its own neck)")
    return mapping, groups, layer, head_bone


def rig_options(headless: Any, parts: RigParts) -> Any:
    """The add-on's ``RigOptions`` (imported with bpy, only once the arguments are good)."""
    return headless.RigOptions(*parts)


def describe(summary: Any) -> str:
    """What a bake keyed, for its summary line: ``50 of 52 channels on 'Head' as layer 'AVI x'``."""
    layer = f" as layer {summary.layer!r}" if getattr(summary, "layer", None) else ""
    return f"{summary.channels} on {summary.object_name!r}{layer}"
