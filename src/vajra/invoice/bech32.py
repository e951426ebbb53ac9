"""Bech32 (BIP 173) and bech32m (BIP 350): checksums, 5-bit/8-bit regrouping, addresses.

BOLT 11 invoices are bech32 with no 90-character limit; segwit fallback addresses are
bech32 for witness version 0 and bech32m for version 1 and above (BIP 350). Words are the
5-bit values 0..31, carried as `bytes` so they are immutable and hashable.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from vajra.invoice.errors import InvoiceError, Reason

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHAR_VALUE = {c: i for i, c in enumerate(CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
CHECKSUM_LENGTH = 6
BIP173_MAX_LENGTH = 90


class Encoding(IntEnum):
    """The constant the checksum polymod must equal."""

    BECH32 = 1
    BECH32M = 0x2BC830A3


def _polymod(values: Iterable[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GENERATOR[i]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _checksum(hrp: str, words: bytes, encoding: Encoding) -> bytes:
    mod = _polymod([*_hrp_expand(hrp), *words, 0, 0, 0, 0, 0, 0]) ^ encoding
    return bytes((mod >> 5 * (5 - i)) & 31 for i in range(CHECKSUM_LENGTH))


def encode(hrp: str, words: bytes, encoding: Encoding = Encoding.BECH32) -> str:
    """Lower-case bech32 string for `hrp` and 5-bit `words` (no length limit)."""
    if not hrp or hrp != hrp.lower() or any(not 33 <= ord(c) <= 126 for c in hrp):
        raise ValueError(f"invalid bech32 human-readable part {hrp!r}")
    if any(w > 31 for w in words):
        raise ValueError("bech32 words must be 5-bit values")
    return hrp + "1" + "".join(CHARSET[w] for w in words + _checksum(hrp, words, encoding))


def decode(s: str, max_length: int | None = BIP173_MAX_LENGTH) -> tuple[str, bytes, Encoding]:
    """Split and check a bech32/bech32m string: (lower-case hrp, words, which checksum).

    BIP 173: characters 33..126 only, all upper or all lower case, the last '1' separates a
    non-empty hrp from at least six data characters. `max_length=None` lifts the 90-character
    limit, as BOLT 11 readers must.
    """
    if max_length is not None and len(s) > max_length:
        raise InvoiceError(Reason.TOO_LONG, f"{len(s)} > {max_length} characters")
    if any(not 33 <= ord(c) <= 126 for c in s):
        raise InvoiceError(Reason.INVALID_CHARACTER, "outside printable US-ASCII")
    if s.lower() != s and s.upper() != s:
        raise InvoiceError(Reason.MIXED_CASE)
    s = s.lower()
    sep = s.rfind("1")
    if sep < 1:
        raise InvoiceError(Reason.NO_SEPARATOR)
    hrp, data = s[:sep], s[sep + 1 :]
    if len(data) < CHECKSUM_LENGTH:
        raise InvoiceError(Reason.TOO_SHORT, "shorter than a checksum")
    try:
        words = bytes(_CHAR_VALUE[c] for c in data)
    except KeyError as e:
        raise InvoiceError(Reason.INVALID_CHARACTER, f"{e.args[0]!r} is not bech32") from None
    mod = _polymod([*_hrp_expand(hrp), *words])
    try:
        encoding = Encoding(mod)
    except ValueError:
        raise InvoiceError(Reason.INVALID_CHECKSUM) from None
    return hrp, words[:-CHECKSUM_LENGTH], encoding


def convertbits(data: Iterable[int], frombits: int, tobits: int, *, pad: bool) -> bytes:
    """Regroup big-endian bit groups (BIP 173 `convertbits`).

    With `pad`, the tail is zero-filled to a whole output group. Without it, a tail shorter
    than `frombits` is dropped if it is all zeros, as BIP 173 addresses require; anything
    else raises ValueError.
    """
    acc = 0
    bits = 0
    out = bytearray()
    maxv = (1 << tobits) - 1
    for value in data:
        if value >> frombits:
            raise ValueError(f"value {value} does not fit in {frombits} bits")
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
        acc &= (1 << bits) - 1
    if pad:
        if bits:
            out.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or acc:
        raise ValueError("non-zero or over-long padding")
    return bytes(out)


def words_to_bytes(words: bytes) -> bytes:
    """The whole bytes in a run of 5-bit words; trailing pad bits (< 8) are ignored.

    Does not look at the pad: BOLT 11 field readers go through `tagged.byte_field`, which
    refuses non-zero pad bits; the 520-bit signature has none.
    """
    nbytes = len(words) * 5 // 8
    acc = 0
    for w in words:
        acc = acc << 5 | w
    return (acc >> (len(words) * 5 - nbytes * 8)).to_bytes(nbytes, "big")


def bytes_to_words(data: bytes) -> bytes:
    """`data` as 5-bit words, zero-padded at the end."""
    return convertbits(data, 8, 5, pad=True)


def encode_segwit_address(hrp: str, version: int, program: bytes) -> str:
    """BIP 173/350 address: bech32 for witness version 0, bech32m for 1..16."""
    if not 0 <= version <= 16 or not 2 <= len(program) <= 40:
        raise ValueError("invalid witness version or program length")
    if version == 0 and len(program) not in (20, 32):
        raise ValueError("witness v0 program must be 20 or 32 bytes")
    encoding = Encoding.BECH32 if version == 0 else Encoding.BECH32M
    return encode(hrp, bytes([version]) + bytes_to_words(program), encoding)
