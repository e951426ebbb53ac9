"""pytest wiring for lnprototest scenarios run against Vajra (in the lnprototest venv)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vajra_runner import VajraRunner


@pytest.fixture
def runner(pytestconfig: Any) -> Iterator[VajraRunner]:
    r = VajraRunner(pytestconfig)
    yield r
    r.stop()
    r.teardown()
