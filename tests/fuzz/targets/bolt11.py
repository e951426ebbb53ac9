"""Fuzz target: BOLT 11 decoding (bech32, human-readable part, tagged fields, signature).

The input is read as UTF-8 when it is valid UTF-8, else as Latin-1, so both printable
invoices and arbitrary code points reach the decoder. Only `VajraError`s are expected;
anything else escapes and is a crash. A decoded invoice must also render to JSON.
"""

from __future__ import annotations

import json
import re

from tests.specs import spec_path
from vajra.errors import VajraError
from vajra.invoice import decode, to_json


def seeds() -> list[bytes]:
    """Every invoice string in the BOLT 11 examples (valid and invalid)."""
    # A missing spec copy raises (spec_path): seeds that silently become none would leave
    # the fuzzer short of every checksum-valid invoice it cannot forge by chance.
    spec = spec_path("bolts/11-payment-encoding.md")
    found = re.findall(
        r"\b(ln(?:bc|tb|bcrt|sb|tbs)[0-9a-z]+1[02-9ac-hj-np-z]{20,})", spec.read_text()
    )
    return [s.encode() for s in dict.fromkeys(found)]


def fuzz_one(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    try:
        inv = decode(text)
    except VajraError:
        return
    json.dumps(to_json(inv))
