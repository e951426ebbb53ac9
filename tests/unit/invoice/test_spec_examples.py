"""Every example of BOLT 11's "Examples" section, read from the spec file.

Valid examples: decode, check each field the breakdown describes, and re-encode with the
spec's private key to the exact same string. Invalid examples: decode raises InvoiceError
with the reason the heading states.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pytest

from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import CURVE_ORDER, recover_digest
from vajra.invoice import (
    Invoice,
    InvoiceError,
    RawField,
    Reason,
    RouteHintHop,
    bech32,
    check_description,
    decode,
    encode,
)
from vajra.wire.primitives import scid_to_str

from .spec import (
    Example,
    default_payment_secret,
    invalid_examples,
    sign_words,
    spec_key,
    split_fields,
    valid_examples,
)

# What each invalid example's heading says is wrong, as our Reason.
INVALID_REASONS = {
    "Same, but adding invalid unknown feature 100": Reason.UNKNOWN_REQUIRED_FEATURE,
    "Bech32 checksum is invalid": Reason.INVALID_CHECKSUM,
    "Malformed bech32 string (no 1)": Reason.NO_SEPARATOR,
    "Malformed bech32 string (mixed case)": Reason.MIXED_CASE,
    "Signature is not recoverable": Reason.SIGNATURE_NOT_RECOVERABLE,
    "String is too short": Reason.TOO_SHORT,
    "Invalid multiplier": Reason.INVALID_MULTIPLIER,
    "Invalid sub-millisatoshi precision": Reason.SUB_MSAT_PRECISION,
    "Missing required `s` field": Reason.MISSING_PAYMENT_SECRET,
    "Non canonical signature (high-S) with 'n' field defined": Reason.HIGH_S_SIGNATURE,
}

# Listed among the valid examples, but invalid under the spec's own reader rule since
# bolts#1243: "MUST fail the payment if any field with fixed `data_length` (`p`, `h`, `s`,
# `n`) does not have the correct length". Upstream: bolts#1358 (stale example), #1357 (fix).
STALE_VALID = {"Same, but including fields which must be ignored.": Reason.INVALID_FIELD_LENGTH}

_BTC_PER_UNIT = {
    m: Fraction(1, 10**e) for m, e in [("", 0), ("m", 3), ("u", 6), ("n", 9), ("p", 12)]
}
MSAT_PER_BTC = 10**11
Find = Callable[[str], list[Any]]
"""Regex findall over an example's text that also counts what it checked."""


def _ids(examples: list[Example]) -> list[str]:
    return [e.title[:50] for e in examples]


def _current_valid() -> list[Example]:
    return [e for e in valid_examples() if e.title not in STALE_VALID]


def _sign_high_s(digest: bytes) -> tuple[bytes, int]:
    """The spec key's signature with s negated to the high half and the recovery id kept,
    which is how the high-S example was made (so it recovers to another key)."""
    sig, recid = spec_key().sign_recoverable(digest)
    s = int.from_bytes(sig[32:], "big")
    return sig[:32] + (CURVE_ORDER - s).to_bytes(32, "big"), recid


def test_the_spec_has_the_examples_we_expect() -> None:
    assert len(valid_examples()) >= 16
    assert {e.title for e in valid_examples()} >= set(STALE_VALID)
    assert {e.title.rstrip(".") for e in invalid_examples()} <= set(INVALID_REASONS)
    assert len(invalid_examples()) == len(INVALID_REASONS)


@pytest.mark.parametrize("ex", _current_valid(), ids=_ids(_current_valid()))
def test_valid_example_reencodes_exactly(ex: Example) -> None:
    inv = decode(ex.invoice)
    sign = _sign_high_s if "high-S" in ex.title else spec_key().sign_recoverable
    again = encode(inv, sign)
    assert (again.upper() if ex.invoice.isupper() else again) == ex.invoice


@pytest.mark.parametrize("ex", _current_valid(), ids=_ids(_current_valid()))
def test_valid_example_fields(ex: Example) -> None:
    inv = decode(ex.invoice)
    b = ex.block
    if "high-S" not in ex.title:
        assert inv.payee == spec_key().pubkey
    assert inv.payment_secret == default_payment_secret()
    checked = 0

    def found(pattern: str, text: str = b) -> list[Any]:
        nonlocal checked
        hits = re.findall(pattern, text, flags=re.M)
        checked += len(hits)
        return hits

    for prefix in found(r"^\* `(ln[a-z]+)`: prefix"):
        assert inv.currency == prefix[2:]
    amounts = found(r"^\* `(\d+)([munp]?)`: amount")
    msat = [int(Fraction(a) * _BTC_PER_UNIT[m] * MSAT_PER_BTC) for a, m in amounts]
    if "Breakdown:" in b or msat:
        assert inv.amount_msat == (msat[0] if msat else None)
    for ts in found(r"`: timestamp \((\d+)\)"):
        assert inv.timestamp == int(ts)
    for h in found(r"payment[_ ]hash ([0-9a-f]{64})"):
        assert inv.payment_hash.hex() == h
    for secret in found(r"payment secret ([0-9a-f]{64})"):
        assert inv.payment_secret.hex() == secret
    for text in found(r"^\s+\* `[a-z0-9]+`: '(.*)'$"):
        assert inv.description == text.replace('\\"', '"')
    for text, digest in found(r"SHA256 of '(.*)'\s+\(SHA256 hex: `([0-9a-f]{64})`\)"):
        assert inv.description_hash is not None and inv.description_hash.hex() == digest
        check_description(inv, text)
    for seconds in found(r"`: (\d+) seconds"):
        assert inv.expiry == int(seconds)
    for delta in found(r"min_final_cltv_expiry_delta = (\d+)"):
        assert inv.min_final_cltv_expiry_delta == int(delta)
    for address in found(r"address (\w+)", ex.title):
        assert inv.fallbacks[0].address(inv.currency) == address
    for metadata in found(r"payment metadata 0x([0-9a-f]+)", ex.title):
        assert inv.metadata is not None and inv.metadata.hex() == metadata
    for payee in found(r"@([0-9a-f]{66})", ex.title):
        assert inv.payee.hex() == payee
    _check_route_hints(inv, found)
    _check_features(inv, found)
    _check_signature(ex, inv, found)
    assert checked >= 3 or ex.invoice.isupper()  # every example but the upper-case copy


def _check_route_hints(inv: Invoice, found: Find) -> None:
    hops = [h for hint in inv.route_hints for h in hint]
    fields: dict[str, Callable[[RouteHintHop], str]] = {
        "pubkey": lambda h: h.pubkey.hex(),
        "short_channel_id": lambda h: scid_to_str(h.short_channel_id),
        "fee_base_msat": lambda h: str(h.fee_base_msat),
        "fee_proportional_millionths": lambda h: str(h.fee_proportional_millionths),
        "cltv_expiry_delta": lambda h: str(h.cltv_expiry_delta),
    }
    for name, get in fields.items():
        described = found(rf"^\s+\* `?{name}`?(?::| =) `?([0-9a-fx]+)`?")
        assert described == [get(h) for h in hops][: len(described)]
        assert not described or len(described) == len(hops)


def _check_features(inv: Invoice, found: Find) -> None:
    sets = []
    for listed in found(r"features ([\d, ]+(?:and \d+)?)"):
        sets.append({int(n) for n in re.findall(r"\d+", listed)})
    for summed in found(r"= (\d+(?: \+ \d+)+)$"):
        sets.append({int(n) for n in summed.split(" + ")})
    for bits in found(r"`: \[?b([01]+)(?:\]|$)"):
        sets.append({i for i, c in enumerate(reversed(bits)) if c == "1"})
    for expected in sets:
        assert inv.features == expected


def _check_signature(ex: Example, inv: Invoice, found: Find) -> None:
    for sig in found(r"`([0-9a-f]{128})` hex of signature data"):
        assert inv.signature.hex() == sig
    for recid in found(r"`(\d)` \(int\) recovery flag"):
        assert inv.recovery_id == int(recid)
    hrp, words, _ = bech32.decode(ex.invoice, max_length=None)
    preimage = hrp.encode() + bech32.convertbits(words[:-104], 5, 8, pad=True)
    for data in found(r"`([0-9a-f]+)` hex of data for signing"):
        assert preimage.hex() == data
    for digest in found(r"`([0-9a-f]{64})` hex of SHA256 of the preimage"):
        assert sha256(preimage).hex() == digest


@pytest.mark.parametrize("ex", invalid_examples(), ids=_ids(invalid_examples()))
def test_invalid_example_is_refused_for_the_stated_reason(ex: Example) -> None:
    with pytest.raises(InvoiceError) as e:
        decode(ex.invoice)
    assert e.value.reason == INVALID_REASONS[ex.title.rstrip(".")]
    if "feature 100" in ex.title:
        assert "100" in str(e.value)  # "SHOULD indicate the unknown bit to the user"


def test_high_s_example_is_the_spec_signature_with_s_negated() -> None:
    """Recovery accepts high-S; flipping the recovery id's parity gives back the spec key."""
    (ex,) = [e for e in valid_examples() if "high-S" in e.title]
    inv = decode(ex.invoice)
    assert int.from_bytes(inv.signature[32:], "big") > CURVE_ORDER // 2
    hrp, words, _ = bech32.decode(ex.invoice, max_length=None)
    digest = sha256(hrp.encode() + bech32.convertbits(words[:-104], 5, 8, pad=True))
    assert recover_digest(inv.signature, inv.recovery_id ^ 1, digest) == spec_key().pubkey


def test_stale_example_with_wrong_length_fields_is_refused() -> None:
    (ex,) = [e for e in valid_examples() if e.title in STALE_VALID]
    with pytest.raises(InvoiceError) as e:
        decode(ex.invoice)
    assert e.value.reason == STALE_VALID[ex.title]


def test_stale_example_without_wrong_length_fields_keeps_unknown_fields() -> None:
    """The same example minus its p/h/s/n of wrong length: the unknown type-10 field and
    the version-19 `f` are skipped and kept, and the invoice re-encodes exactly."""
    (ex,) = [e for e in valid_examples() if e.title in STALE_VALID]
    hrp, words, _ = bech32.decode(ex.invoice, max_length=None)
    body = words[:-104]
    lengths = {"p": 52, "h": 52, "s": 52, "n": 53}
    kept = [(t, d) for t, d in split_fields(body[7:]) if t not in lengths or len(d) == lengths[t]]
    s = sign_words(hrp, body[:7] + b"".join(_field(t, d) for t, d in kept))
    inv = decode(s)
    assert inv.unknown_fields == (
        RawField("2", bytes(3)),
        RawField("f", bytes([19]) + bytes(32)),
    )
    assert inv.features == {8, 14, 99}
    assert encode(inv, spec_key().sign_recoverable) == s


def _field(tag: str, words: bytes) -> bytes:
    return bytes([bech32.CHARSET.index(tag), len(words) >> 5, len(words) & 31]) + words
