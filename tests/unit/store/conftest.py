"""Fixtures shared by the store tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vajra.store import SqliteStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    """A fresh SQLite store on a file (WAL, as in production)."""
    s = SqliteStore(tmp_path / "store.db")
    yield s
    s.close()
