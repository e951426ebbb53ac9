"""Fuzz target: PSBT decoding (BIP 174) and what the signer does with a parsed PSBT.

Invariants: only `VajraError`s from parsing, the signer checks, the sighash, the
finalizer and the extractor; a PSBT that parses serializes to bytes that parse back to
an equal PSBT and serialize identically (canonical form is a fixed point).
"""

from __future__ import annotations

import contextlib

from vajra.bitcoin.psbt import Psbt
from vajra.bitcoin.psbt_roles import extract, finalize_input, sighash, signing_data
from vajra.errors import VajraError


def seeds() -> list[bytes]:
    """Every PSBT in BIP 174's test vectors, valid and invalid."""
    try:
        from tests.unit.bitcoin import bip_vectors as v

        w = v.bip174_workflow()
        cases = v.bip174_invalid() + v.bip174_valid() + v.bip174_signer_fails()
    except OSError:
        return []
    return [raw for _, raw, _ in cases] + [w.created, w.updated, w.combined, w.finalized]


def fuzz_one(data: bytes) -> None:
    try:
        p = Psbt.parse(data)
    except VajraError:
        return
    raw = p.serialize()
    again = Psbt.parse(raw)
    if again != p or again.serialize() != raw:
        raise AssertionError("a parsed PSBT does not round-trip")
    for n in range(len(p.inputs)):
        for step in (signing_data, sighash, finalize_input):
            with contextlib.suppress(VajraError):
                step(p, n)
    with contextlib.suppress(VajraError):
        extract(p)
