"""Sub-commands of ``avitalk``; see ``core/cli.py``."""
