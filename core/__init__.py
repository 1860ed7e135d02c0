"""Everything that is not Blender: audio, features, phones, synthesis, rigs, file formats, CLI.

Nothing in this package may import bpy.
"""
