"""The onion fuzz target accepts its seeds (spec vectors) and junk without crashing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.targets.onion import fuzz_one, seeds


def test_seeds() -> None:
    assert len(seeds()) >= 10
    for s in seeds():
        fuzz_one(s)


@settings(max_examples=300)
@given(st.integers(0, 4), st.binary(max_size=1400))
def test_random_bytes(mode: int, body: bytes) -> None:
    fuzz_one(bytes([mode]) + body)
