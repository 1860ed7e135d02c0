"""``python -m avi_talking`` runs the ``avitalk`` command line."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
