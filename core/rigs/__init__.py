"""Rigs: the built-in preview head (``builtin_head``) and fitting other rigs' shape keys.

- ``names``: name-tolerant matching (case, prefixes, sides; one channel onto both sided keys, a sided pair onto
  one key; a preset's key names looked up on a rig).
- ``presets``: naming conventions as data (ARKit, ICT-FaceKit, Character Creator 3/4, numbered ARKit).
- ``fit``: the best fit of the animation's channels onto a rig (presets, then names).
- ``mapping``: the rig mapping (key ← Σ weight × channel), its JSON file, the baked values as a matrix product.
- ``channel_groups``: lips, jaw, brows, … for masked bakes; ``report``: the "baked N of M channels" words.

Nothing here imports bpy; the Blender objects are built by ``addon``.
"""
