"""The BOLT 11 fuzz target accepts the spec's examples and junk without crashing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.targets.bolt11 import fuzz_one

from .spec import invalid_examples, valid_examples


def test_spec_examples() -> None:
    for ex in valid_examples() + invalid_examples():
        fuzz_one(ex.invoice.encode())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=500))
def test_random_bytes(data: bytes) -> None:
    fuzz_one(data)
