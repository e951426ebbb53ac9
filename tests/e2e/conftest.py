"""e2e fixtures. `env`: a signer, device and signer-hub directory set in a temp dir
(`tests.e2e.test_signer_cli.Env`), its processes killed at the end; a module that needs
another environment defines its own `env`, which takes precedence."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# `tests/interop/peer_loop.py` (our asyncio initiator) is reused as a plain module.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))

from tests.e2e.test_signer_cli import Env


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.close()
