"""Rigs: the built-in preview head (``builtin_head``) and, later, matching and retargeting onto other rigs.

Nothing here imports bpy; the Blender objects are built by ``addon``.
"""
