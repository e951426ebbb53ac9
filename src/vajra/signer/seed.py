"""The signer's seed: BIP 39 mnemonic in, BIP 39 seed sealed at rest.

The 64-byte BIP 39 seed (mnemonic + optional passphrase, PBKDF2 per BIP 39) is the root
of every key (`vajra.signer.keys`). It is stored only sealed under a password:
Argon2id (RFC 9106, memory-hard) turns the password into a key, ChaCha20-Poly1305
(RFC 8439) encrypts the seed. The mnemonic itself is never stored: it is shown once and
is the user's backup.

Sealed file format, version 1 (all integers big-endian):

    offset len  field
    0      8    magic  b"VAJRASD\\x00"
    8      1    version = 1
    9      1    kdf id = 1 (Argon2id, version 0x13)
    10     4    memory_kib      Argon2 m (KiB)
    14     4    iterations      Argon2 t
    18     1    lanes           Argon2 p
    19     1    salt length S (16..64)
    20     S    salt (fresh for every seal, so every file has its own key)
    20+S   L+16 ChaCha20-Poly1305(key, nonce 0, ad=bytes 0..20+S, seed) (L = 16..64)

The key is used for exactly one encryption (the salt is fresh each time), so the fixed
nonce 0 is safe. The whole header is the AEAD's associated data, so a tampered parameter
fails like a wrong password. Parameters live in the file so they can be raised later (`needs_reseal`)
without breaking old files. Decoding bounds every parameter: a hostile file cannot make
the signer allocate gigabytes.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from mnemonic import Mnemonic

from vajra.crypto.aead import AuthenticationError, decrypt, encrypt
from vajra.errors import DecodeError, VajraError, WrongPassword

MAGIC = b"VAJRASD\x00"
VERSION = 1
KDF_ARGON2ID = 1
_MAX_MEMORY_KIB = 4 * 1024 * 1024  # 4 GiB: above that a file is hostile, not strong

_BIP39 = Mnemonic("english")


class InvalidMnemonic(VajraError):
    """Words that are not a BIP 39 English mnemonic with a valid checksum."""


@dataclass(frozen=True, slots=True)
class KdfParams:
    """Argon2id cost parameters (RFC 9106 section 4)."""

    memory_kib: int
    iterations: int
    lanes: int

    def __post_init__(self) -> None:
        if not 1 <= self.lanes <= 255:
            raise ValueError("Argon2 lanes 1..255")
        if not 8 * self.lanes <= self.memory_kib <= _MAX_MEMORY_KIB:
            raise ValueError("Argon2 memory must be 8*lanes KiB .. 4 GiB")
        if not 1 <= self.iterations <= 1000:
            raise ValueError("Argon2 iterations 1..1000")


# RFC 9106 section 4, second recommended option (t=3, p=4, m=64 MiB): fits a Raspberry Pi.
DEFAULT_PARAMS = KdfParams(memory_kib=64 * 1024, iterations=3, lanes=4)


# --- BIP 39 ---------------------------------------------------------------------------------


def new_mnemonic(strength: int = 256, entropy: bytes | None = None) -> str:
    """A fresh BIP 39 mnemonic (24 words for 256 bits); `entropy` only for tests."""
    if entropy is None:
        entropy = os.urandom(strength // 8)
    return _BIP39.to_mnemonic(entropy)


def normalize_mnemonic(words: str) -> str:
    """Lower-case, single-spaced, checksum-checked; InvalidMnemonic otherwise."""
    normalized = " ".join(unicodedata.normalize("NFKD", words).lower().split())
    try:
        ok = _BIP39.check(normalized)
    except (ValueError, LookupError):
        ok = False
    if not ok:
        raise InvalidMnemonic("not a valid BIP 39 English mnemonic (word or checksum)")
    return normalized


def mnemonic_to_seed(words: str, passphrase: str = "") -> bytes:
    """BIP 39: PBKDF2-HMAC-SHA512(mnemonic, "mnemonic" + passphrase, 2048) -> 64 bytes.

    A different passphrase gives a different, equally valid wallet (BIP 39 "plausible
    deniability"), so a typo in it is not detectable here.
    """
    return Mnemonic.to_seed(normalize_mnemonic(words), passphrase)


# --- sealing --------------------------------------------------------------------------------


def _password_bytes(password: str | bytes) -> bytes:
    if isinstance(password, str):
        password = unicodedata.normalize("NFC", password).encode()
    return password


def _kdf(password: bytes, salt: bytes, p: KdfParams) -> bytes:
    return Argon2id(
        salt=salt, length=32, iterations=p.iterations, lanes=p.lanes, memory_cost=p.memory_kib
    ).derive(password)


def _header(p: KdfParams, salt: bytes) -> bytes:
    return (
        MAGIC
        + bytes([VERSION, KDF_ARGON2ID])
        + p.memory_kib.to_bytes(4, "big")
        + p.iterations.to_bytes(4, "big")
        + bytes([p.lanes, len(salt)])
        + salt
    )


def seal_seed(
    seed: bytes,
    password: str | bytes,
    params: KdfParams = DEFAULT_PARAMS,
    rng: Callable[[int], bytes] = os.urandom,
) -> bytes:
    """Encrypt `seed` under `password` into the version-1 file format above."""
    if not 16 <= len(seed) <= 64:
        raise ValueError("seed must be 16..64 bytes")
    salt = rng(16)
    header = _header(params, salt)
    key = _kdf(_password_bytes(password), salt, params)
    return header + encrypt(key, 0, header, seed)


@dataclass(frozen=True, slots=True)
class _Sealed:
    params: KdfParams
    salt: bytes
    header: bytes
    ciphertext: bytes


def _parse(blob: bytes) -> _Sealed:
    if len(blob) < 20 or blob[:8] != MAGIC:
        raise DecodeError("not a Vajra sealed seed file")
    if blob[8] != VERSION:
        raise DecodeError(f"sealed seed version {blob[8]} is not supported")
    if blob[9] != KDF_ARGON2ID:
        raise DecodeError(f"unknown KDF id {blob[9]}")
    salt_len = blob[19]
    if not 16 <= salt_len <= 64:
        raise DecodeError("bad salt length")
    end = 20 + salt_len
    ct_len = len(blob) - end
    if not 16 + 16 <= ct_len <= 64 + 16:
        raise DecodeError("bad ciphertext length")
    try:
        params = KdfParams(
            memory_kib=int.from_bytes(blob[10:14], "big"),
            iterations=int.from_bytes(blob[14:18], "big"),
            lanes=blob[18],
        )
    except ValueError as e:
        raise DecodeError(f"KDF parameters out of range: {e}") from None
    return _Sealed(params, blob[20:end], blob[:end], blob[end:])


def open_seed(blob: bytes, password: str | bytes) -> bytes:
    """Decrypt a sealed seed; WrongPassword if the password (or the file) is wrong."""
    s = _parse(blob)
    key = _kdf(_password_bytes(password), s.salt, s.params)
    try:
        return decrypt(key, 0, s.header, s.ciphertext)
    except AuthenticationError:
        raise WrongPassword("wrong password, or the seed file was altered") from None


def sealed_params(blob: bytes) -> KdfParams:
    return _parse(blob).params


def needs_reseal(blob: bytes, wanted: KdfParams = DEFAULT_PARAMS) -> bool:
    """True if the file's KDF costs are below `wanted` in any dimension."""
    p = sealed_params(blob)
    return p.memory_kib < wanted.memory_kib or p.iterations < wanted.iterations
