"""``python -m avi_talking.core.worker``: serve jobs on stdin/stdout (``--probe``: print what this Python
can run, as one JSON line, and exit)."""

from __future__ import annotations

from .server import main

raise SystemExit(main())
