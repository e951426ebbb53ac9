"""BOLT 11 invoices: `decode` with every reader rule enforced, `encode` through a signer.

Theory of operation
-------------------
An invoice is bech32: a human-readable part `ln` + currency + optional amount, then 5-bit
words: a 35-bit timestamp, tagged fields (5-bit type, 10-bit length, data), and a 520-bit
recoverable signature over sha256(hrp as UTF-8 || the data words regrouped into bytes).

`decode` checks cheapest first and raises `InvoiceError` with a `Reason` at the first
broken rule: bech32 (case, checksum), the human-readable part, the field layout, each
field's own rules (`tagged.py`), the whole-invoice rules (p, s, d xor h, feature
bits), and last the signature.

Fields a reader skips (unknown types, `f` with an unknown version, a second copy of a
single field) are kept in `unknown_fields`, and `field_order` records where every field
stood. Every byte-valued field must be its bytes padded with 0 bits (one rule for all of
them, `tagged.byte_field`: a non-zero pad bit refuses the invoice as INVALID_PADDING),
so nothing a reader decodes is dropped. The promise that follows: every string `decode`
accepts, `encode` writes back to the very same string, given a signer that reproduces
its signature (a deterministic one with the same key), up to case (`encode` writes
lower case).

Deliberate deviation: BOLT 11 readers parse "without the character limit"; we refuse
strings over MAX_INVOICE_LENGTH (7,089 characters) as TOO_LONG, to bound the work a
hostile string costs. See docs/ARCHITECTURE.md ("Deliberate deviations").

Pure: no clock. Expiry is judged by `is_expired(invoice, now)`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import (
    CURVE_ORDER,
    InvalidKey,
    check_pubkey,
    recover_digest,
    verify_digest,
)
from vajra.invoice import bech32
from vajra.invoice.address import Fallback, is_known_version, is_valid_program
from vajra.invoice.bech32 import CHARSET, bytes_to_words, convertbits, words_to_bytes
from vajra.invoice.errors import InvoiceEncodeError, InvoiceError, Reason
from vajra.invoice.features import check_invoice_features
from vajra.invoice.model import (
    CURRENCIES,
    DEFAULT_EXPIRY,
    DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA,
    UNKNOWN,
    Invoice,
    InvoiceFields,
    RawField,
    RouteHintHop,
)
from vajra.invoice.tagged import (
    SINGLE_FIELDS,
    read_fallback,
    read_route_hint,
    uint,
    uint_words,
    write_fallback,
    write_route_hint,
)

# DELIBERATE DEVIATION from BOLT 11, which says to parse "without the character limit":
# a bound on work per string, the largest QR code's capacity (7,089 numeric characters),
# as LDK enforces (rust-lightning#3665). Documented in docs/ARCHITECTURE.md.
MAX_INVOICE_LENGTH = 7089
MAX_AMOUNT_MSAT = 2**64 - 1
TIMESTAMP_WORDS = 7
SIGNATURE_WORDS = 104
MAX_FIELD_WORDS = 1023

# Amount multipliers as pico-bitcoin (0.1 msat) per unit: BOLT 11 "Human-Readable Part".
_PICO_PER_UNIT = {"": 10**12, "m": 10**9, "u": 10**6, "n": 10**3, "p": 1}
_AMOUNT = re.compile(r"([0-9]+)([a-z]?)")

Signer = Callable[[bytes], tuple[bytes, int]]
"""Signs a 32-byte digest: returns (64-byte compact signature, recovery id 0..3)."""


# ---------------------------------------------------------------------------- decoding


@dataclass(slots=True)
class _Reading:
    """Fields gathered while decoding; becomes an Invoice."""

    payment_hash: bytes | None = None
    payment_secret: bytes | None = None
    description_hash: bytes | None = None
    explicit_payee: bytes | None = None
    description: str | None = None
    metadata: bytes | None = None
    expiry: int | None = None
    min_final_cltv_expiry_delta: int | None = None
    features: frozenset[int] | None = None
    fallbacks: list[Fallback] = field(default_factory=list)
    route_hints: list[tuple[RouteHintHop, ...]] = field(default_factory=list)
    unknown_fields: list[RawField] = field(default_factory=list)
    order: list[str] = field(default_factory=list)

    def read(self, tag: str, words: bytes) -> None:
        if tag == "f":
            fallback = read_fallback(words)
            if fallback is None:
                self.skip(tag, words)
            else:
                self.fallbacks.append(fallback)
                self.order.append(tag)
        elif tag == "r":
            self.route_hints.append(read_route_hint(words))
            self.order.append(tag)
        elif tag in SINGLE_FIELDS:
            single = SINGLE_FIELDS[tag]
            value = single.read(tag, words)
            if getattr(self, single.attr) is None:
                setattr(self, single.attr, value)
                self.order.append(tag)
            else:
                self.skip(tag, words)
        else:
            self.skip(tag, words)  # unknown type: skipped, so invoices can be extended

    def skip(self, tag: str, words: bytes) -> None:
        self.unknown_fields.append(RawField(tag, words))
        self.order.append(UNKNOWN)


def _split_fields(words: bytes) -> list[tuple[str, bytes]]:
    fields = []
    i = 0
    while i < len(words):
        if len(words) - i < 3:
            raise InvoiceError(Reason.TRUNCATED_FIELD, "incomplete field header")
        length = words[i + 1] << 5 | words[i + 2]
        data = words[i + 3 : i + 3 + length]
        if len(data) != length:
            raise InvoiceError(Reason.TRUNCATED_FIELD, f"{CHARSET[words[i]]} needs {length} words")
        fields.append((CHARSET[words[i]], data))
        i += 3 + length
    return fields


def _parse_hrp(hrp: str) -> tuple[str, int | None]:
    """(currency, amount_msat) from the human-readable part."""
    if not hrp.startswith("ln"):
        raise InvoiceError(Reason.UNKNOWN_PREFIX, hrp)
    rest = hrp[2:]
    digit = re.search(r"[0-9]", rest)
    cut = digit.start() if digit else len(rest)
    currency, amount = rest[:cut], rest[cut:]
    # BOLT 11: "if it does NOT understand the `prefix`: MUST fail the payment."
    if currency not in CURRENCIES:
        raise InvoiceError(Reason.UNKNOWN_PREFIX, f"ln{currency}")
    if not amount:
        return currency, None
    m = _AMOUNT.fullmatch(amount)
    # BOLT 11: "if `amount` contains a non-digit OR is followed by anything except a
    # `multiplier`: MUST fail the payment."
    if m is None:
        raise InvoiceError(Reason.INVALID_AMOUNT, amount)
    digits, multiplier = m.groups()
    if multiplier not in _PICO_PER_UNIT:
        raise InvoiceError(Reason.INVALID_MULTIPLIER, multiplier)
    # Writer: "MUST encode `amount` as a positive decimal integer with no leading 0s";
    # we refuse what no conforming writer produces. 21 digits bound int() work and range.
    if digits[0] == "0" or len(digits) > 21:
        raise InvoiceError(Reason.INVALID_AMOUNT, amount)
    pico = int(digits) * _PICO_PER_UNIT[multiplier]
    # BOLT 11: "if multiplier is `p` and the last decimal of `amount` is not 0: MUST fail".
    if pico % 10:
        raise InvoiceError(Reason.SUB_MSAT_PRECISION, amount)
    if pico // 10 > MAX_AMOUNT_MSAT:
        raise InvoiceError(Reason.INVALID_AMOUNT, "more than 2^64 - 1 msat")
    return currency, pico // 10


def signing_digest(hrp: str, body: bytes) -> bytes:
    # BOLT 11: the signature covers "the human-readable part (as UTF-8 bytes) concatenated
    # with the data part (excluding the signature), with 0 bits appended to pad to a byte
    # boundary".
    return sha256(hrp.encode() + convertbits(body, 5, 8, pad=True))


def _is_high_s(signature: bytes) -> bool:
    return int.from_bytes(signature[32:], "big") > CURVE_ORDER // 2


def decode(s: str) -> Invoice:
    """Parse and check a BOLT 11 string; raise InvoiceError (with a Reason) if a reader
    must refuse it. A `lightning:` URI prefix is the caller's to strip.

    Promise: nothing of an accepted string is dropped -- `encode(decode(s), sign)` gives
    `s` back (lower case) for a signer reproducing its signature -- because every
    byte-valued field must carry 0 pad bits (`INVALID_PADDING` otherwise, the same rule
    for `p`, `s`, `h`, `n`, `m`, `d`, `f` and `r`). Strings over 7,089 characters are
    refused (`TOO_LONG`): a deliberate deviation from BOLT 11 (module docstring)."""
    # BOLT 11: "MUST parse the address as Bech32 ... (also without the character limit)";
    # "if the checksum is incorrect: MUST fail the payment."
    hrp, words, encoding = bech32.decode(s, max_length=MAX_INVOICE_LENGTH)
    if encoding is not bech32.Encoding.BECH32:
        raise InvoiceError(Reason.INVALID_CHECKSUM, "bech32m, not bech32")
    currency, amount_msat = _parse_hrp(hrp)
    if len(words) < TIMESTAMP_WORDS + SIGNATURE_WORDS:
        raise InvoiceError(Reason.TOO_SHORT, "no room for timestamp and signature")
    body, sig_words = words[:-SIGNATURE_WORDS], words[-SIGNATURE_WORDS:]

    r = _Reading()
    for tag, data in _split_fields(body[TIMESTAMP_WORDS:]):
        r.read(tag, data)

    # BOLT 11: "if a valid `s` field is not provided: MUST fail the payment." A `p` is as
    # indispensable (writer "MUST include exactly one `p` field"; nothing to pay without).
    if r.payment_hash is None:
        raise InvoiceError(Reason.MISSING_PAYMENT_HASH)
    if r.payment_secret is None:
        raise InvoiceError(Reason.MISSING_PAYMENT_SECRET)
    # BOLT 11: "MUST fail the payment if neither a `d` field nor a `h` field is present, or
    # if both are present."
    if r.description is None and r.description_hash is None:
        raise InvoiceError(Reason.MISSING_DESCRIPTION)
    if r.description is not None and r.description_hash is not None:
        raise InvoiceError(Reason.BOTH_DESCRIPTIONS)
    features = r.features if r.features is not None else frozenset()
    check_invoice_features(features)

    sig = words_to_bytes(sig_words)  # 520 bits: r || s || recovery id
    signature, recovery_id = sig[:64], sig[64]
    # Writer: "followed by a trailing 1-byte recovery id in {0,1,2,3}"
    if recovery_id > 3:
        raise InvoiceError(Reason.INVALID_RECOVERY_ID, str(recovery_id))
    digest = signing_digest(hrp, body)
    if r.explicit_payee is not None:
        # BOLT 11: "if a valid `n` field is provided: MUST use the `n` field to validate the
        # signature instead of performing public-key recovery. If the signature is not
        # compliant with the low-S standard rule: MUST fail the payment"
        if _is_high_s(signature):
            raise InvoiceError(Reason.HIGH_S_SIGNATURE)
        if not verify_digest(r.explicit_payee, signature, digest):
            raise InvoiceError(Reason.SIGNATURE_MISMATCH)
        payee = r.explicit_payee
    else:
        # "otherwise: MUST perform ECDSA public-key recovery and accept both high-S and
        # low-S signatures."
        try:
            payee = recover_digest(signature, recovery_id, digest)
        except InvalidKey:
            raise InvoiceError(Reason.SIGNATURE_NOT_RECOVERABLE) from None

    return Invoice(
        currency=currency,
        timestamp=uint(body[:TIMESTAMP_WORDS]),
        payment_hash=r.payment_hash,
        payment_secret=r.payment_secret,
        amount_msat=amount_msat,
        description=r.description,
        description_hash=r.description_hash,
        metadata=r.metadata,
        expiry=DEFAULT_EXPIRY if r.expiry is None else r.expiry,
        min_final_cltv_expiry_delta=(
            DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA
            if r.min_final_cltv_expiry_delta is None
            else r.min_final_cltv_expiry_delta
        ),
        fallbacks=tuple(r.fallbacks),
        route_hints=tuple(r.route_hints),
        features=features,
        explicit_payee=r.explicit_payee,
        unknown_fields=tuple(r.unknown_fields),
        field_order=tuple(r.order),
        payee=payee,
        signature=signature,
        recovery_id=recovery_id,
    )


# ---------------------------------------------------------------------------- encoding


def _amount_hrp(amount_msat: int | None) -> str:
    # Writer: "SHOULD use the shortest representation possible, by using the largest
    # multiplier or omitting the multiplier"; "If the `p` multiplier is used the last
    # decimal of `amount` MUST be `0`" (msat * 10 pico always ends in 0).
    if amount_msat is None:
        return ""
    pico = amount_msat * 10
    for multiplier, unit in _PICO_PER_UNIT.items():
        if pico % unit == 0:
            return f"{pico // unit}{multiplier}"
    raise AssertionError("unreachable: the p unit divides everything")


def canonical_order(fields: InvoiceFields) -> tuple[str, ...]:
    """Field order for a new invoice: p, s, d|h, then the optional fields that differ from
    their defaults (`c` always: a writer "SHOULD include one `c` field")."""
    order = ["p", "s", "d" if fields.description is not None else "h"]
    if fields.metadata is not None:
        order.append("m")
    if fields.explicit_payee is not None:
        order.append("n")
    if fields.expiry != DEFAULT_EXPIRY:
        order.append("x")
    order.append("c")
    order += ["f"] * len(fields.fallbacks) + ["r"] * len(fields.route_hints)
    if fields.features:
        order.append("9")
    return (*order, *[UNKNOWN] * len(fields.unknown_fields))


def _check_order(fields: InvoiceFields, order: tuple[str, ...]) -> None:
    """`order` must name every field `fields` holds, once for single ones."""
    want = Counter(
        {
            "p": 1,
            "s": 1,
            "d": int(fields.description is not None),
            "h": int(fields.description_hash is not None),
            "m": int(fields.metadata is not None),
            "n": int(fields.explicit_payee is not None),
            "f": len(fields.fallbacks),
            "r": len(fields.route_hints),
            UNKNOWN: len(fields.unknown_fields),
        }
    )
    got = Counter(order)
    # x, c and 9 may be written even at their default value (decoded invoices do)
    for tag, is_default in (
        ("x", fields.expiry == DEFAULT_EXPIRY),
        ("c", fields.min_final_cltv_expiry_delta == DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA),
        ("9", not fields.features),
    ):
        want[tag] = min(got[tag], 1) if is_default else 1
    if +got != +want:
        raise InvoiceEncodeError(f"field_order {order!r} does not match the fields given")


def _check_writable(f: InvoiceFields) -> None:
    """The writer MUSTs of BOLT 11 that the caller's values could break."""

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise InvoiceEncodeError(what)

    need(f.currency in CURRENCIES, f"unknown currency {f.currency!r}")
    need(f.amount_msat is None or 0 < f.amount_msat <= MAX_AMOUNT_MSAT, "amount out of range")
    need(0 <= f.timestamp < 2**35, "timestamp must fit 35 bits")
    need(len(f.payment_hash) == 32 and len(f.payment_secret) == 32, "p and s are 32 bytes")
    need(
        (f.description is None) != (f.description_hash is None),
        "exactly one of description and description_hash",
    )
    need(f.description_hash is None or len(f.description_hash) == 32, "h is 32 bytes")
    need(0 <= f.expiry < 2**64 and 0 <= f.min_final_cltv_expiry_delta < 2**64, "x, c: u64")
    try:
        if f.explicit_payee is not None:
            check_pubkey(f.explicit_payee)
        for hint in f.route_hints:
            need(len(hint) > 0, "a route hint needs one or more hops")
            for hop in hint:
                check_pubkey(hop.pubkey)
        check_invoice_features(f.features)
    except (InvalidKey, InvoiceError) as e:
        raise InvoiceEncodeError(str(e)) from e
    for fb in f.fallbacks:
        need(is_known_version(fb.version) and is_valid_program(fb.version, fb.program), "fallback")
    need(all(b >= 0 for b in f.features), "feature bits are non-negative")
    for raw in f.unknown_fields:
        need(len(raw.tag) == 1 and raw.tag in CHARSET, f"bad tag {raw.tag!r}")
        need(all(w < 32 for w in raw.words), "unknown field words are 5-bit")


def _field_words(fields: InvoiceFields, order: tuple[str, ...]) -> bytes:
    fallbacks = iter(fields.fallbacks)
    hints = iter(fields.route_hints)
    unknown = iter(fields.unknown_fields)
    out = bytearray()
    for tag in order:
        if tag == "f":
            words = write_fallback(next(fallbacks))
        elif tag == "r":
            words = write_route_hint(next(hints))
        elif tag == UNKNOWN:
            raw = next(unknown)
            tag, words = raw.tag, raw.words
        else:
            words = SINGLE_FIELDS[tag].write(fields)
        if len(words) > MAX_FIELD_WORDS:
            raise InvoiceEncodeError(f"{tag} field longer than {MAX_FIELD_WORDS} words")
        out += bytes([CHARSET.index(tag), len(words) >> 5, len(words) & 31]) + words
    return bytes(out)


def unsigned_parts(fields: InvoiceFields) -> tuple[str, bytes]:
    """The human-readable part and the data words (timestamp + tagged fields) before the
    signature: what a remote signer receives, recomputing the digest itself. Checks the
    writer rules (`InvoiceEncodeError`)."""
    _check_writable(fields)
    order = canonical_order(fields) if fields.field_order is None else fields.field_order
    _check_order(fields, order)
    hrp = "ln" + fields.currency + _amount_hrp(fields.amount_msat)
    return hrp, uint_words(fields.timestamp, TIMESTAMP_WORDS) + _field_words(fields, order)


def encode(fields: InvoiceFields, sign: Signer) -> str:
    """The BOLT 11 string for `fields`, signed by `sign` (lower case; `.upper()` for QR).

    `sign` gets the 32-byte digest the spec signs and returns (64-byte compact signature,
    recovery id), so the key may live in a remote signer. An `Invoice` re-encodes to the
    string it was decoded from (given a deterministic signer).
    """
    hrp, body = unsigned_parts(fields)
    digest = signing_digest(hrp, body)
    signature, recovery_id = sign(digest)
    if len(signature) != 64 or recovery_id not in (0, 1, 2, 3):
        raise InvoiceEncodeError("signer returned a malformed signature")
    try:
        signer_key = recover_digest(signature, recovery_id, digest)
    except InvalidKey:
        raise InvoiceEncodeError("signer returned an unrecoverable signature") from None
    # Writer: "MUST set `n` to the public key used to create the `signature`"; readers
    # refuse a high-S signature when `n` is present.
    if fields.explicit_payee is not None and (
        signer_key != fields.explicit_payee or _is_high_s(signature)
    ):
        raise InvoiceEncodeError("signature does not verify against the n field")
    data = body + bytes_to_words(signature + bytes([recovery_id]))
    return bech32.encode(hrp, data)
