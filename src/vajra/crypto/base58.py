"""Base58Check (legacy addresses, BIP 32 extended keys, WIF)."""

from __future__ import annotations

from vajra.crypto.hashes import double_sha256
from vajra.errors import DecodeError

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}


class Base58Error(DecodeError):
    """A string that is not Base58Check: bad character or checksum."""


def base58check_encode(payload: bytes) -> str:
    """Base58 of `payload` with its 4-byte double-SHA256 checksum appended."""
    data = payload + double_sha256(payload)[:4]
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = ALPHABET[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def base58check_decode(s: str, max_length: int = 120) -> bytes:
    """The payload of a Base58Check string (checksum verified and removed)."""
    if not s or len(s) > max_length:
        raise Base58Error("empty or too long for Base58Check")
    n = 0
    for c in s:
        v = _VALUE.get(c)
        if v is None:
            raise Base58Error(f"{c!r} is not base58")
        n = n * 58 + v
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    data = b"\0" * (len(s) - len(s.lstrip("1"))) + body
    if len(data) < 5 or double_sha256(data[:-4])[:4] != data[-4:]:
        raise Base58Error("bad Base58Check checksum")
    return data[:-4]
