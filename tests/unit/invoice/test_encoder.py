"""The writer side: shortest amounts, canonical field order, writer MUSTs, signer answers."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from vajra.crypto.secp256k1 import CURVE_ORDER, PrivateKey
from vajra.invoice import (
    Fallback,
    InvoiceEncodeError,
    InvoiceFields,
    RawField,
    RouteHintHop,
    decode,
    encode,
    to_json,
)

from .spec import spec_key, valid_examples

KEY = spec_key()
BASE = InvoiceFields(
    currency="bc",
    timestamp=1496314658,
    payment_hash=bytes(range(32)),
    payment_secret=bytes([0x11] * 32),
    description="coffee",
    features=frozenset({8, 14}),
)


@pytest.mark.parametrize(
    ("msat", "hrp"),
    [
        (100_000_000_000, "lnbc1"),
        (2_500_000_000, "lnbc25m"),
        (250_000_000, "lnbc2500u"),
        (100, "lnbc1n"),
        (1, "lnbc10p"),
        (967_878_534, "lnbc9678785340p"),
        (None, "lnbc"),
    ],
)
def test_amount_uses_the_largest_multiplier(msat: int | None, hrp: str) -> None:
    # Writer: "SHOULD use the shortest representation possible"
    s = encode(replace(BASE, amount_msat=msat), KEY.sign_recoverable)
    assert s.startswith(hrp + "1")
    assert decode(s).amount_msat == msat


def test_canonical_order_and_default_c() -> None:
    inv = decode(encode(BASE, KEY.sign_recoverable))
    # c is written even at its default: a writer "SHOULD include one `c` field"
    assert inv.field_order == ("p", "s", "d", "c", "9")
    full = replace(
        BASE,
        metadata=b"\x01",
        expiry=60,
        explicit_payee=KEY.pubkey,
        fallbacks=(Fallback(17, bytes(20)),),
        route_hints=((RouteHintHop(KEY.pubkey, 1, 2, 3, 4),),),
        unknown_fields=(RawField("2", b"\x00"),),
    )
    assert decode(encode(full, KEY.sign_recoverable)).field_order == (
        *"psdmnxcfr9",
        "?",
    )


@pytest.mark.parametrize(
    "change",
    [
        {"currency": "ltc"},
        {"amount_msat": 0},
        {"amount_msat": 2**64},
        {"timestamp": 2**35},
        {"payment_hash": bytes(31)},
        {"payment_secret": bytes(33)},
        {"description": None},
        {"description_hash": bytes(32)},
        {"description": None, "description_hash": bytes(31)},
        {"expiry": -1},
        {"min_final_cltv_expiry_delta": 2**64},
        {"explicit_payee": bytes(33)},
        {"fallbacks": (Fallback(0, bytes(21)),)},
        {"fallbacks": (Fallback(19, bytes(20)),)},
        {"route_hints": ((),)},
        {"features": frozenset({8, 14, 100})},  # unknown even bit
        {"features": frozenset({16})},  # basic_mpp without payment_secret
        {"unknown_fields": (RawField("xx", b""),)},
        {"unknown_fields": (RawField("2", b"\x20"),)},
        {"description": "x" * 640},  # longer than 1023 words
        {"field_order": ("p", "s", "d")},  # features set but no 9
        {"field_order": ("p", "s", "d", "9", "9")},
        {"field_order": ("p", "d", "9")},
        {"field_order": ("p", "s", "d", "9", "z")},
    ],
)
def test_writer_rules_are_enforced(change: dict[str, object]) -> None:
    with pytest.raises(InvoiceEncodeError):
        encode(replace(BASE, **change), KEY.sign_recoverable)  # type: ignore[arg-type]


def test_defaults_may_be_written_explicitly() -> None:
    f = replace(BASE, field_order=("p", "s", "d", "x", "c", "9"))
    inv = decode(encode(f, KEY.sign_recoverable))
    assert inv.field_order == f.field_order and inv.expiry == 3600


def _negate_s(sig: bytes) -> bytes:
    return sig[:32] + (CURVE_ORDER - int.from_bytes(sig[32:], "big")).to_bytes(32, "big")


def test_signer_answers_are_checked() -> None:
    with pytest.raises(InvoiceEncodeError):
        encode(BASE, lambda d: (KEY.sign_recoverable(d)[0][:63], 0))
    with pytest.raises(InvoiceEncodeError):
        encode(BASE, lambda d: (KEY.sign_recoverable(d)[0], 4))
    with pytest.raises(InvoiceEncodeError):
        encode(BASE, lambda d: (bytes(64), 0))  # r = 0 recovers nothing
    with_n = replace(BASE, explicit_payee=KEY.pubkey)
    other = PrivateKey(bytes([9] * 32))
    with pytest.raises(InvoiceEncodeError):  # "MUST set `n` to the public key used to sign"
        encode(with_n, other.sign_recoverable)

    def high_s(d: bytes) -> tuple[bytes, int]:
        sig, recid = KEY.sign_recoverable(d)
        return _negate_s(sig), recid ^ 1

    with pytest.raises(InvoiceEncodeError):  # readers refuse high-S with `n`
        encode(with_n, high_s)
    # without `n`, recovery accepts high-S: same payee
    assert decode(encode(BASE, high_s)).payee == KEY.pubkey


def test_signer_gets_the_spec_digest() -> None:
    """The digest handed to the signer is the one the spec example lists."""
    (ex,) = [e for e in valid_examples() if e.title.startswith("Please make a donation")]
    seen: list[bytes] = []

    def sign(d: bytes) -> tuple[bytes, int]:
        seen.append(d)
        return KEY.sign_recoverable(d)

    assert encode(decode(ex.invoice), sign) == ex.invoice
    assert seen[0].hex() in ex.block  # "hex of SHA256 of the preimage"


def test_to_json() -> None:
    (ex,) = [e for e in valid_examples() if "1RustyRX" in e.title]
    j = to_json(decode(ex.invoice))
    json.dumps(j)  # serialisable as is
    assert j["currency"] == "bc" and j["amount_msat"] == 2_000_000_000
    assert j["payee"] == KEY.pubkey.hex()
    assert j["fallbacks"] == [
        {
            "type": "P2PKH",
            "addr": "1RustyRX2oai4EYYDpQGWvEL62BBGqN9T",
            "hex": "76a91404b61f7dc1ea0dc99424464cc4064dc564d91e8988ac",
        }
    ]
    routes = j["routes"]
    assert isinstance(routes, list)
    assert routes[0][0]["short_channel_id"] == "66051x263430x1800"
    assert routes[0][1]["fee_base_msat"] == 2
    assert j["features"] == {
        "8": {"name": "var_onion_optin", "is_required": True, "is_known": True},
        "14": {"name": "payment_secret", "is_required": True, "is_known": True},
    }
    assert j["created_at"] == 1496314658 and j["expiry"] == 3600
