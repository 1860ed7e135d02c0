"""The built-in preview head: a stylised adult head made entirely by code (numpy only), with the 52 ARKit
shape keys.

Axes and units follow Blender: metres, +Z up, the face looks toward -Y, the character's left is +X.
The eye centres sit at z = 0; the head is about 0.23 m from crown to chin.

Modules, from the bottom up (each imports only modules listed above it):

* ``layout`` - materials, per-vertex part labels and the head's dimensions.
* ``maths`` - smoothstep, compact bumps, unit vectors, Catmull-Rom curves.
* ``sdf`` - the head's signed-distance field (smooth unions of ellipsoids and capsules), ray casting onto it,
  its normals.
* ``mesh`` - the mesh accumulator the parts are added to, and the quad-grid / triangle-fan face helpers.
* ``eyes`` - eyeballs, eyelid shells, and the lid edge curves the eye openings and the eyelid keys follow.
* ``skin`` - the skin grid sampled from the field along rays: the split lip slit, the vermilion rows, lip
  relief, the eye openings.
* ``mouth`` - inner lips, gums, the palate/floor bag, teeth and tongue.
* ``brows_ears`` - brows and ears.
* ``mirror`` - the mirror map across x = 0, symmetrising, mirror copies of parts and of key deltas.
* ``assembly`` - builds every part in order and gathers the per-vertex data the key fields need.
* ``shape_keys`` - the keys' displacement fields and the ``[52, N, 3]`` delta matrix.
* ``groups`` - vertex groups and landmarks.
* ``head`` - ``HeadMesh``, ``build_head``, ``deform`` and ``FORMAT_VERSION``: what the add-on and the
  retargeting use.
* ``measure`` - the lip gap (``lip_gap_mm`` and its linear model ``gap_model``), the project's lip-closure
  measure that training, evaluation and the benchmarks use; exact for this mesh.
"""

from .head import FORMAT_VERSION, HeadMesh, build_head, deform
from .measure import gap_model, lip_gap_mm

__all__ = ["FORMAT_VERSION", "HeadMesh", "build_head", "deform", "gap_model", "lip_gap_mm"]
