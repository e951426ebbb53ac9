"""Each BOLT 11 reader rule, on invoices signed here from hand-made fields.

The invoices are signed correctly, so every refusal below is the rule under test, not a
bad checksum or signature.
"""

from __future__ import annotations

import pytest

from vajra.crypto.secp256k1 import PrivateKey
from vajra.invoice import (
    InvoiceError,
    RawField,
    Reason,
    bech32,
    check_description,
    decode,
    is_expired,
)
from vajra.invoice.bech32 import bytes_to_words
from vajra.invoice.bolt11 import MAX_INVOICE_LENGTH

from .spec import field, sign_words, spec_key, valid_examples

TS = bytes([0] * 2) + bytes.fromhex("0b") + bytes([25, 31, 25, 20])  # any 7 words
HASH = bytes(range(32))
SECRET = bytes([0x11] * 32)
P = field("p", bytes_to_words(HASH))
S = field("s", bytes_to_words(SECRET))
D = field("d", bytes_to_words(b"coffee"))
F9 = field("9", bytes([16, 8, 0]))  # bits 8 and 14: var_onion_optin, payment_secret


def make(*fields: bytes, hrp: str = "lnbc", key: PrivateKey | None = None) -> str:
    return sign_words(hrp, TS + b"".join(fields), key)


def refused(s: str) -> Reason:
    with pytest.raises(InvoiceError) as e:
        decode(s)
    return e.value.reason


def test_minimal_invoice_decodes_with_defaults() -> None:
    inv = decode(make(P, S, D))
    assert (inv.payment_hash, inv.payment_secret, inv.description) == (HASH, SECRET, "coffee")
    assert inv.amount_msat is None
    assert inv.expiry == 3600  # "Default is 3600 (1 hour) if not specified."
    assert inv.min_final_cltv_expiry_delta == 18  # "Default is 18 if not specified."
    assert inv.features == frozenset()
    assert inv.payee == spec_key().pubkey
    assert inv.field_order == ("p", "s", "d")


# ----------------------------------------------------------------- human-readable part


@pytest.mark.parametrize(
    ("hrp", "msat"),
    [
        ("lnbc", None),
        ("lnbc1", 100_000_000_000),
        ("lnbc25m", 2_500_000_000),
        ("lnbc2500u", 250_000_000),
        ("lnbc1n", 100),
        ("lnbc10p", 1),
        ("lnbc9678785340p", 967_878_534),
        ("lntb20m", 2_000_000_000),
        ("lntbs1u", 100_000),
        ("lnbcrt5m", 500_000_000),
    ],
)
def test_amounts_and_multipliers(hrp: str, msat: int | None) -> None:
    assert decode(make(P, S, D, hrp=hrp)).amount_msat == msat


@pytest.mark.parametrize(
    ("hrp", "reason"),
    [
        ("lnxy1m", Reason.UNKNOWN_PREFIX),  # "if it does NOT understand the `prefix`"
        ("lnb", Reason.UNKNOWN_PREFIX),
        ("bc1m", Reason.UNKNOWN_PREFIX),
        ("lnbc25x", Reason.INVALID_MULTIPLIER),
        ("lnbc2m5", Reason.INVALID_AMOUNT),  # "contains a non-digit"
        ("lnbc25mm", Reason.INVALID_AMOUNT),  # "followed by anything except a multiplier"
        ("lnbc25m!", Reason.INVALID_AMOUNT),
        ("lnbc025m", Reason.INVALID_AMOUNT),  # writer: "no leading 0s"
        ("lnbc0", Reason.INVALID_AMOUNT),  # writer: "positive"
        ("lnbc11p", Reason.SUB_MSAT_PRECISION),  # "multiplier is `p` and the last decimal ..."
        ("lnbc" + "9" * 22, Reason.INVALID_AMOUNT),
        ("lnbc184467440738", Reason.INVALID_AMOUNT),  # > 2^64 - 1 msat
    ],
)
def test_bad_human_readable_parts(hrp: str, reason: Reason) -> None:
    assert refused(make(P, S, D, hrp=hrp)) == reason


# ---------------------------------------------------------------------- bech32 layer


def test_bech32m_checksum_is_not_an_invoice() -> None:
    s = make(P, S, D)
    hrp, words, _ = bech32.decode(s, max_length=None)
    assert refused(bech32.encode(hrp, words, bech32.Encoding.BECH32M)) == Reason.INVALID_CHECKSUM


def test_upper_case_is_accepted_and_mixed_case_is_not() -> None:
    s = make(P, S, D)
    assert decode(s.upper()) == decode(s)
    assert refused(s[:10] + s[10:].upper()) == Reason.MIXED_CASE


def test_spec_upper_case_example_is_the_lower_case_one() -> None:
    examples = valid_examples()
    (i,) = [n for n, e in enumerate(examples) if e.invoice.isupper()]
    assert examples[i].invoice.lower() == examples[i - 1].invoice
    assert decode(examples[i].invoice) == decode(examples[i - 1].invoice)


def test_length_limit() -> None:
    # BOLT 11 lifts BIP 173's 90 characters ("without the character limit"); we bound work
    # at LDK's 7,089: a deliberate deviation (bolt11.MAX_INVOICE_LENGTH, ARCHITECTURE.md).
    long_d = field("d", bytes_to_words(b"x" * 600))
    s = make(P, S, long_d, *[field("2", bytes(1000))] * 5)
    assert len(s) <= MAX_INVOICE_LENGTH and decode(s).description == "x" * 600
    assert refused(make(P, S, D, *[field("2", bytes(1000))] * 7)) == Reason.TOO_LONG


@pytest.mark.parametrize("cut", [1, 2, 5])
def test_truncated_field_is_refused(cut: int) -> None:
    assert refused(make(P, S, D, field("2", bytes(10))[:-cut])) == Reason.TRUNCATED_FIELD


def test_too_short_for_a_signature() -> None:
    s = make(P, S, D)
    hrp, words, _ = bech32.decode(s, max_length=None)
    assert refused(bech32.encode(hrp, words[:110])) == Reason.TOO_SHORT


# ------------------------------------------------------------------------ tagged fields


@pytest.mark.parametrize(("tag", "length"), [("p", 51), ("p", 53), ("s", 0), ("h", 50), ("n", 52)])
def test_fixed_length_fields_of_wrong_length_fail(tag: str, length: int) -> None:
    # "MUST fail the payment if any field with fixed `data_length` (`p`, `h`, `s`, `n`) does
    # not have the correct length (52, 52, 52, 53)."
    assert refused(make(P, S, D, field(tag, bytes(length)))) == Reason.INVALID_FIELD_LENGTH


def test_unknown_fields_are_skipped_and_kept() -> None:
    inv = decode(make(P, field("2", b"\x01\x02"), S, D, field("0", b"")))
    assert inv.unknown_fields == (RawField("2", b"\x01\x02"), RawField("0", b""))
    assert inv.field_order == ("p", "?", "s", "d", "?")


def test_repeated_single_field_first_wins() -> None:
    # payer "SHOULD use the first `p` field as the payment hash"
    other = field("p", bytes_to_words(bytes(32)))
    inv = decode(make(P, other, S, D))
    assert inv.payment_hash == HASH
    assert inv.unknown_fields == (RawField("p", bytes_to_words(bytes(32))),)


def test_missing_p_s_or_description() -> None:
    assert refused(make(S, D)) == Reason.MISSING_PAYMENT_HASH
    assert refused(make(P, D)) == Reason.MISSING_PAYMENT_SECRET  # "a valid `s` field"
    assert refused(make(P, S)) == Reason.MISSING_DESCRIPTION
    h = field("h", bytes_to_words(bytes(32)))
    assert refused(make(P, S, D, h)) == Reason.BOTH_DESCRIPTIONS


def test_description_must_be_utf8() -> None:
    assert (
        refused(make(P, S, field("d", bytes_to_words(b"\xff\xfe")))) == Reason.INVALID_DESCRIPTION
    )


def test_description_hash_check() -> None:
    text = "One piece of chocolate cake"
    from vajra.crypto.hashes import sha256

    inv = decode(make(P, S, field("h", bytes_to_words(sha256(text.encode())))))
    check_description(inv, text)
    with pytest.raises(InvoiceError) as e:
        check_description(inv, text + ".")
    assert e.value.reason == Reason.DESCRIPTION_HASH_MISMATCH


@pytest.mark.parametrize("tag", ["x", "c", "9"])
def test_non_minimal_integers_are_refused(tag: str) -> None:
    # "if a `c`, `x`, or `9` field ... begins with 0 field elements: SHOULD treat the
    # invoice as invalid."
    assert refused(make(P, S, D, field(tag, b"\x00\x01"))) == Reason.NON_MINIMAL_FIELD


def test_integer_fields_values_and_bound() -> None:
    inv = decode(make(P, S, D, field("x", b"\x01\x1c"), field("c", b"\x02")))
    assert (inv.expiry, inv.min_final_cltv_expiry_delta) == (60, 2)
    assert refused(make(P, S, D, field("x", b"\x1f" * 13))) == Reason.FIELD_TOO_LARGE


def test_unknown_odd_feature_is_ignored_even_is_refused() -> None:
    # bit 99 (odd) and 100 (even) are unknown
    odd = 1 << 99 | 1 << 14 | 1 << 8
    inv = decode(make(P, S, D, field("9", _minimal(odd))))
    assert inv.features == {8, 14, 99}
    with pytest.raises(InvoiceError) as e:
        decode(make(P, S, D, field("9", _minimal(odd | 1 << 100))))
    assert e.value.reason == Reason.UNKNOWN_REQUIRED_FEATURE and "100" in e.value.detail


def test_known_even_features_are_accepted() -> None:
    bits = 1 << 8 | 1 << 14 | 1 << 16 | 1 << 48
    assert decode(make(P, S, D, field("9", _minimal(bits)))).features == {8, 14, 16, 48}


def test_features_outside_the_invoice_context_count_as_unknown() -> None:
    # option_anchors (22/23) is in BOLT 9 but not for invoices: even refused, odd ignored;
    # option_zeroconf (51) is ignored too, though its dependency (scid_alias) is unset.
    base = 1 << 8 | 1 << 14
    assert refused(make(P, S, D, field("9", _minimal(base | 1 << 22)))) == (
        Reason.UNKNOWN_REQUIRED_FEATURE
    )
    assert decode(make(P, S, D, field("9", _minimal(base | 1 << 23 | 1 << 51)))).features == {
        8,
        14,
        23,
        51,
    }


def test_feature_dependencies_must_be_set() -> None:
    # basic_mpp (16/17) depends on payment_secret (14/15)
    assert (
        refused(make(P, S, D, field("9", _minimal(1 << 17)))) == Reason.MISSING_FEATURE_DEPENDENCY
    )
    assert decode(make(P, S, D, field("9", _minimal(1 << 17 | 1 << 15)))).features == {15, 17}


def _minimal(value: int) -> bytes:
    words = []
    while value:
        words.append(value & 31)
        value >>= 5
    return bytes(reversed(words))


def test_fallbacks_known_unknown_and_malformed() -> None:
    p2wpkh = field("f", bytes([0]) + bytes_to_words(bytes(20)))
    v19 = field("f", bytes([19]) + bytes(10))
    inv = decode(make(P, S, D, p2wpkh, v19))
    assert [(f.version, f.program) for f in inv.fallbacks] == [(0, bytes(20))]
    # "MUST skip over `f` fields that use an unknown `version`."
    assert inv.unknown_fields == (RawField("f", bytes([19]) + bytes(10)),)
    bad_v0 = field("f", bytes([0]) + bytes_to_words(bytes(21)))
    assert refused(make(P, S, D, bad_v0)) == Reason.INVALID_FALLBACK
    assert refused(make(P, S, D, field("f", b""))) == Reason.INVALID_FALLBACK
    p2pkh_short = field("f", bytes([17]) + bytes_to_words(bytes(19)))
    assert refused(make(P, S, D, p2pkh_short)) == Reason.INVALID_FALLBACK


def test_route_hints() -> None:
    hop = spec_key().pubkey + (1 << 40 | 2 << 16 | 3).to_bytes(8, "big") + bytes(10)
    inv = decode(make(P, S, D, field("r", bytes_to_words(hop * 2))))
    (hint,) = inv.route_hints
    assert len(hint) == 2 and hint[0].short_channel_id == 1 << 40 | 2 << 16 | 3
    assert refused(make(P, S, D, field("r", bytes_to_words(hop[:-1])))) == Reason.INVALID_ROUTE_HINT
    assert refused(make(P, S, D, field("r", b""))) == Reason.INVALID_ROUTE_HINT
    bad_key = b"\x05" + hop[1:]
    assert refused(make(P, S, D, field("r", bytes_to_words(bad_key)))) == Reason.INVALID_ROUTE_HINT


# ------------------------------------------------------------------------ signature


def test_n_field_is_used_instead_of_recovery() -> None:
    n = field("n", bytes_to_words(spec_key().pubkey))
    inv = decode(make(P, S, D, n))
    assert inv.explicit_payee == inv.payee == spec_key().pubkey
    other = PrivateKey(bytes([7] * 32))
    assert refused(make(P, S, D, n, key=other)) == Reason.SIGNATURE_MISMATCH


def test_n_field_must_be_a_valid_key() -> None:
    bad = field("n", bytes_to_words(b"\x04" + bytes(32)))
    assert refused(make(P, S, D, bad)) == Reason.INVALID_PAYEE_KEY


def test_recovery_id_out_of_range() -> None:
    assert refused(sign_words("lnbc", TS + P + S + D, recid_xor=4)) == Reason.INVALID_RECOVERY_ID


def test_wrong_recovery_id_gives_another_payee() -> None:
    # Without `n`, the signature names the payee: a different recovery id is a different
    # (or no) key, never the signer's.
    s = sign_words("lnbc", TS + P + S + D, recid_xor=1)
    try:
        assert decode(s).payee != spec_key().pubkey
    except InvoiceError as e:
        assert e.reason == Reason.SIGNATURE_NOT_RECOVERABLE


# --------------------------------------------------------------------------- expiry


def test_is_expired_uses_the_given_time() -> None:
    inv = decode(make(P, S, D, field("x", b"\x01\x1c")))  # 60 s
    assert not is_expired(inv, inv.timestamp)
    assert not is_expired(inv, inv.timestamp + 59)
    assert is_expired(inv, inv.timestamp + 60)
    assert inv.expires_at == inv.timestamp + 60


# ----------------------------------------------------------------- one pad-bit rule


def _with_pad_bit(words: bytes, skip: int = 0) -> bytes:
    """The same field data with its lowest pad bit set (the data must have pad bits)."""
    assert (len(words) - skip) * 5 % 8, "no pad bits to set"
    return words[:-1] + bytes([words[-1] | 1])


HOP = spec_key().pubkey + bytes(range(8)) + bytes(4) + bytes(4) + bytes(2)


@pytest.mark.parametrize(
    ("tag", "data", "others"),
    [
        ("p", bytes_to_words(HASH), (S, D)),
        ("s", bytes_to_words(SECRET), (P, D)),
        ("h", bytes_to_words(bytes(32)), (P, S)),
        ("n", bytes_to_words(spec_key().pubkey), (P, S, D)),
        ("m", bytes_to_words(b"meta"), (P, S, D)),
        ("d", bytes_to_words(b"coffee"), (P, S)),
        ("r", bytes_to_words(HOP), (P, S, D)),
        ("f", bytes([0]) + bytes_to_words(bytes(32)), (P, S, D)),
    ],
)
def test_one_pad_bit_rule_for_every_byte_field(
    tag: str, data: bytes, others: tuple[bytes, ...]
) -> None:
    """Zero pad bits decode and re-encode to the same string; a non-zero pad bit is refused
    the same way in every field (it would otherwise be dropped, breaking the promise)."""
    from vajra.invoice import encode

    good = make(*others, field(tag, data))
    assert encode(decode(good), spec_key().sign_recoverable) == good
    bad = make(*others, field(tag, _with_pad_bit(data, skip=1 if tag == "f" else 0)))
    assert refused(bad) == Reason.INVALID_PADDING


def test_an_extra_word_of_padding_is_refused() -> None:
    assert refused(make(P, S, field("d", bytes_to_words(b"coffee") + b"\0"))) == (
        Reason.INVALID_PADDING
    )
