"""BOLT 11 tagged fields: one reader and one writer per field type, side by side.

Each reader takes a field's 5-bit words and returns the typed value, raising InvoiceError
where BOLT 11 says a reader MUST fail; each writer is its inverse, so `decode(encode(x))`
gives back `x`. Fields that appear once are the `SINGLE_FIELDS` table; `f` and `r`, which
may repeat, have their own pair of functions below it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from vajra.crypto.secp256k1 import InvalidKey, check_pubkey
from vajra.invoice.address import Fallback, is_known_version, is_valid_program
from vajra.invoice.bech32 import bytes_to_words, words_to_bytes
from vajra.invoice.errors import InvoiceError, Reason
from vajra.invoice.features import features_to_int, int_to_features
from vajra.invoice.model import InvoiceFields, RouteHintHop

HOP_BYTES = 33 + 8 + 4 + 4 + 2
"""An `r` entry: pubkey, short_channel_id, fee_base_msat, fee_proportional_millionths,
cltv_expiry_delta."""
MAX_U64 = 2**64 - 1


def uint(words: bytes) -> int:
    """Big-endian unsigned integer of 5-bit words."""
    value = 0
    for w in words:
        value = value << 5 | w
    return value


def uint_words(value: int, width: int | None = None) -> bytes:
    """Big-endian 5-bit words: minimal (no leading zero word) unless `width` is given."""
    words = []
    while value:
        words.append(value & 31)
        value >>= 5
    if width is not None:
        words += [0] * (width - len(words))
    return bytes(reversed(words))


def exact_bytes(words: bytes) -> bytes | None:
    """Bytes of `words` if the words are exactly those bytes zero-padded, else None."""
    data = words_to_bytes(words)
    return data if bytes_to_words(data) == words else None


def byte_field(tag: str, words: bytes) -> bytes:
    """The bytes a byte-valued field (`p`, `s`, `h`, `n`, `m`, `d`, and the payload of `f`
    and `r`) carries: the one pad-bit rule for every field.

    BOLT 11 writer: "MUST pad field data to a multiple of 5 bits, using 0s"; readers get
    no rule. We refuse what that writer rule forbids -- any non-zero pad bit, or a whole
    extra word of padding -- in every such field alike (as LDK does), so a decoded
    invoice always re-encodes to the very same string: nothing of the string is dropped.
    """
    data = exact_bytes(words)
    if data is None:
        raise InvoiceError(Reason.INVALID_PADDING, tag)
    return data


# ------------------------------------------------------------------ fields that appear once


def _fixed(tag: str, words: bytes, length: int) -> bytes:
    # BOLT 11: "MUST fail the payment if any field with fixed `data_length` (`p`, `h`, `s`,
    # `n`) does not have the correct length (52, 52, 52, 53)."
    if len(words) != length:
        raise InvoiceError(
            Reason.INVALID_FIELD_LENGTH, f"{tag} has {len(words)} words, not {length}"
        )
    return byte_field(tag, words)


def _read_hash(tag: str, words: bytes) -> bytes:
    return _fixed(tag, words, 52)


def _read_payee(tag: str, words: bytes) -> bytes:
    # BOLT 11 speaks of "a valid `n` field": one that is no public key is refused.
    try:
        return check_pubkey(_fixed(tag, words, 53))
    except InvalidKey:
        raise InvoiceError(Reason.INVALID_PAYEE_KEY) from None


def _read_description(tag: str, words: bytes) -> str:
    # Writer: "MUST set `d` to a valid UTF-8 string."
    try:
        return byte_field(tag, words).decode("utf-8")
    except UnicodeDecodeError:
        raise InvoiceError(Reason.INVALID_DESCRIPTION) from None


def _read_bytes(tag: str, words: bytes) -> bytes:
    return byte_field(tag, words)


def _read_minimal(tag: str, words: bytes) -> int:
    # BOLT 11: "if a `c`, `x`, or `9` field is provided which has a non-minimal
    # `data_length` (i.e. begins with 0 field elements): SHOULD treat the invoice as invalid."
    if words[:1] == b"\0":
        raise InvoiceError(Reason.NON_MINIMAL_FIELD, f"{tag} starts with a zero word")
    return uint(words)


def _read_u64(tag: str, words: bytes) -> int:
    value = _read_minimal(tag, words)
    if value > MAX_U64:  # not a spec rule: no expiry or CLTV delta is that large
        raise InvoiceError(Reason.FIELD_TOO_LARGE, tag)
    return value


def _read_features(tag: str, words: bytes) -> frozenset[int]:
    return int_to_features(_read_minimal(tag, words))


class SingleField(NamedTuple):
    """A field type that carries one attribute of `InvoiceFields`."""

    attr: str
    read: Callable[[str, bytes], object]
    write: Callable[[InvoiceFields], bytes]


def _hex_writer(attr: str) -> Callable[[InvoiceFields], bytes]:
    return lambda f: bytes_to_words(getattr(f, attr) or b"")


# tag -> codec. A later copy of one of these is kept as an unknown field: BOLT 11 payer
# "SHOULD use the first `p` field", and a writer offering more than one "MUST specify the
# most-preferred field first".
SINGLE_FIELDS: dict[str, SingleField] = {
    "p": SingleField("payment_hash", _read_hash, _hex_writer("payment_hash")),
    "s": SingleField("payment_secret", _read_hash, _hex_writer("payment_secret")),
    "h": SingleField("description_hash", _read_hash, _hex_writer("description_hash")),
    "n": SingleField("explicit_payee", _read_payee, _hex_writer("explicit_payee")),
    "m": SingleField("metadata", _read_bytes, _hex_writer("metadata")),
    "d": SingleField(
        "description", _read_description, lambda f: bytes_to_words((f.description or "").encode())
    ),
    # Writer: x, c and 9 "MUST use the minimum `data_length` possible"
    "x": SingleField("expiry", _read_u64, lambda f: uint_words(f.expiry)),
    "c": SingleField(
        "min_final_cltv_expiry_delta",
        _read_u64,
        lambda f: uint_words(f.min_final_cltv_expiry_delta),
    ),
    "9": SingleField("features", _read_features, lambda f: uint_words(features_to_int(f.features))),
}


# ------------------------------------------------------------------------ repeating fields


def read_fallback(words: bytes) -> Fallback | None:
    """An `f` field of a known version, or None for one a reader must skip."""
    if not words:
        raise InvoiceError(Reason.INVALID_FALLBACK, "empty f field")
    version = words[0]
    if not is_known_version(version):
        return None  # BOLT 11: "MUST skip over `f` fields that use an unknown `version`."
    # Writer: "MUST set an `f` field to a valid witness version and program, OR to `17`
    # followed by a public key hash, OR to `18` followed by a script hash."
    program = byte_field("f", words[1:])
    if not is_valid_program(version, program):
        raise InvoiceError(Reason.INVALID_FALLBACK, f"version {version}")
    return Fallback(version, program)


def write_fallback(fallback: Fallback) -> bytes:
    return bytes([fallback.version]) + bytes_to_words(fallback.program)


def read_route_hint(words: bytes) -> tuple[RouteHintHop, ...]:
    """An `r` field. Writer: "`r` field MUST contain one or more ordered entries"."""
    data = byte_field("r", words)
    if not data or len(data) % HOP_BYTES:
        raise InvoiceError(Reason.INVALID_ROUTE_HINT, f"{len(words)} words")
    hops = []
    for i in range(0, len(data), HOP_BYTES):
        hop = data[i : i + HOP_BYTES]
        try:
            pubkey = check_pubkey(hop[:33])
        except InvalidKey:
            raise InvoiceError(Reason.INVALID_ROUTE_HINT, "bad pubkey") from None
        hops.append(
            RouteHintHop(
                pubkey=pubkey,
                short_channel_id=int.from_bytes(hop[33:41], "big"),
                fee_base_msat=int.from_bytes(hop[41:45], "big"),
                fee_proportional_millionths=int.from_bytes(hop[45:49], "big"),
                cltv_expiry_delta=int.from_bytes(hop[49:51], "big"),
            )
        )
    return tuple(hops)


def write_route_hint(hops: tuple[RouteHintHop, ...]) -> bytes:
    return bytes_to_words(
        b"".join(
            hop.pubkey
            + hop.short_channel_id.to_bytes(8, "big")
            + hop.fee_base_msat.to_bytes(4, "big")
            + hop.fee_proportional_millionths.to_bytes(4, "big")
            + hop.cltv_expiry_delta.to_bytes(2, "big")
            for hop in hops
        )
    )
