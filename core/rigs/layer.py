"""How a layered bake plays over the artist's animation: its NLA blend mode and influence (bpy-free, so the
CLI checks them before any work).

- ``REPLACE`` (the default): on the channels the take keys, the result is ``(1 - influence) × below +
  influence × take``; ``below`` is what plays under the layer (the artist's animation, else the key's
  resting value). At influence 1 the take wins on its channels; every other channel is left as it was.
- ``ADD``: ``below + influence × take``, for a take that should add to hand-keyed shapes.

Blender's ``COMBINE`` is not offered: with shape keys it adds on 4.2 but multiplies on 5.0 (whose shape-key
default value is 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..common.errors import AviTalkError

BLEND_MODES: tuple[str, ...] = ("REPLACE", "ADD")


@dataclass(frozen=True)
class BakeLayer:
    influence: float = 1.0
    blend: str = "REPLACE"

    def __post_init__(self) -> None:
        if isinstance(self.influence, bool) or not math.isfinite(self.influence) or not 0.0 <= self.influence <= 1.0:
            raise AviTalkError(f"a layer's influence must be between 0 and 1, not {self.influence!r}")
        if self.blend not in BLEND_MODES:
            raise AviTalkError(f"a layer's blend mode must be {' or '.join(m.lower() for m in BLEND_MODES)}, "
                               f"not {str(self.blend)[:20]!r}")
