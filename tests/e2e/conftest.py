"""e2e fixtures: a runtime process with a few thousand nodes, shared by a module."""

from __future__ import annotations

import sys
from pathlib import Path

# `tests/interop/peer_loop.py` (our asyncio initiator) is reused as a plain module.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))
