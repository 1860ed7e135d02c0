"""The project's version: the one place every layer (the weights fetcher included) reads it from.

A leaf: it imports nothing, so any module may import it without pulling in the rest of the project.
``blender_manifest.toml``, ``pyproject.toml`` and ``bl_info`` carry the same number (a test checks)."""

__version__ = "0.1.0"
