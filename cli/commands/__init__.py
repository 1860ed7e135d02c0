"""Sub-commands of ``avitalk``; see ``cli/__init__.py``."""
