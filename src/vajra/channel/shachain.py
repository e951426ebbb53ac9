"""BOLT 3 per-commitment secrets: generation from a seed and compact receiver storage.

The sender derives secret I from its per-channel seed with `generate_from_seed`; the first
secret used is index 2^48 - 1 and indices count down. The receiver keeps at most 49
(index, secret) pairs (`ShachainReceiver`) from which every secret it was sent can be
re-derived, and checks each new secret against the ones it holds, because a peer that
sends secrets not from one seed could otherwise hide a revoked state from us.
"""

from __future__ import annotations

from hashlib import sha256 as _sha256

from vajra.errors import DecodeError, ProtocolError

MAX_INDEX = (1 << 48) - 1  # BOLT 3: "The first secret used: MUST be index 281474976710655"


class ShachainError(ProtocolError):
    """A per-commitment secret that does not derive from the same seed as earlier ones,
    arrives out of order, or is asked for before it was received."""


def derive_secret(base: bytes, bits: int, index: int) -> bytes:
    """BOLT 3 `derive_secret`: the secret at `index` from a base whose index shares bits
    `bits`..47 with it."""
    p = bytes(base)
    for b in range(bits - 1, -1, -1):
        if (index >> b) & 1:
            # flip(b), then SHA256 (BOLT 3); one buffer per step, no helper calls.
            q = bytearray(p)
            q[b >> 3] ^= 1 << (b & 7)
            p = _sha256(q).digest()
    return p


_PREFIX_BITS = 16
_PREFIXES: dict[tuple[bytes, int], bytes] = {}
_PREFIXES_KEPT = 4096


def generate_from_seed(seed: bytes, index: int) -> bytes:
    """BOLT 3 `generate_from_seed(seed, I)`: the I'th per-commitment secret.

    Bits 47..16 of I are the same for 65,536 consecutive commitments, so the value after
    them (the shachain node of that subtree, itself `derive_secret(seed, 48, I with bits
    15..0 clear)`) is kept per (seed, prefix) in a small bounded table: a secret costs 16
    SHA-256 steps at most instead of 48. Only the signer holds seeds, so the table lives
    only there."""
    if len(seed) != 32 or not 0 <= index <= MAX_INDEX:
        raise ValueError("seed is 32 bytes and index 0..2^48-1")
    key = (bytes(seed), index >> _PREFIX_BITS)
    node = _PREFIXES.get(key)
    if node is None:
        node = derive_secret(seed, 48, key[1] << _PREFIX_BITS)
        if len(_PREFIXES) >= _PREFIXES_KEPT:
            _PREFIXES.clear()
        _PREFIXES[key] = node
    return derive_secret(node, _PREFIX_BITS, index)


def commitment_index(commitment_number: int) -> int:
    """The BOLT 3 secret index for commitment number n (0, 1, 2, ...): 2^48 - 1 - n."""
    if not 0 <= commitment_number <= MAX_INDEX:
        raise ValueError("commitment number out of range")
    return MAX_INDEX - commitment_number


def where_to_put_secret(index: int) -> int:
    """BOLT 3: the number of trailing zero bits of the index (48 for index 0)."""
    if index == 0:
        return 48
    return (index & -index).bit_length() - 1


class ShachainReceiver:
    """BOLT 3 "Efficient Per-commitment Secret Storage": at most 49 known secrets."""

    __slots__ = ("_known", "_next")

    def __init__(self) -> None:
        self._known: dict[int, tuple[int, bytes]] = {}  # bucket -> (index, secret)
        self._next = MAX_INDEX

    @property
    def next_index(self) -> int:
        """The index the next secret must carry (secrets arrive in descending order)."""
        return self._next

    def insert_secret(self, secret: bytes, index: int) -> None:
        """BOLT 3 `insert_secret`, refusing a secret not derived from the same seed."""
        if len(secret) != 32:
            raise ShachainError("per-commitment secret must be 32 bytes")
        # BOLT 3: "secrets are always received in descending order starting at 0xFFFFFFFFFFFF"
        if index != self._next or index < 0:
            raise ShachainError(f"expected secret {self._next}, got {index}")
        bucket = where_to_put_secret(index)
        # "A double-check, that all previous secrets derive correctly, is needed". The
        # spec's pseudo-code loops `for b in 0 to B` but bucket B itself is the one being
        # replaced: only buckets below B hold secrets derivable from this one.
        for b in range(bucket):
            known = self._known.get(b)
            if known is not None and derive_secret(secret, bucket, known[0]) != known[1]:
                raise ShachainError(f"the secret for {index} is incorrect")
        self._known[bucket] = (index, secret)
        self._next = index - 1

    def derive_old_secret(self, index: int) -> bytes:
        """BOLT 3 `derive_old_secret(I)`: any secret received so far."""
        for b, (known_index, secret) in self._known.items():
            # "Mask off the non-zero prefix of the index."
            mask = ~((1 << b) - 1)
            if (index & mask) == known_index:
                return derive_secret(secret, b, index)
        raise ShachainError(f"index {index} has not been received yet")

    # Persistence: 8-byte next index, then per bucket 1-byte bucket, 8-byte index, secret.

    def to_bytes(self) -> bytes:
        out = bytearray(self._next.to_bytes(8, "big", signed=True))
        for b in sorted(self._known):
            index, secret = self._known[b]
            out += bytes([b]) + index.to_bytes(8, "big") + secret
        return bytes(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> ShachainReceiver:
        if len(data) < 8 or (len(data) - 8) % 41:
            raise DecodeError("shachain: bad length")
        r = cls()
        r._next = int.from_bytes(data[:8], "big", signed=True)
        for off in range(8, len(data), 41):
            b = data[off]
            index = int.from_bytes(data[off + 1 : off + 9], "big")
            if index > MAX_INDEX or b in r._known or where_to_put_secret(index) != b:
                raise DecodeError("shachain: bad bucket")
            r._known[b] = (index, data[off + 9 : off + 41])
        return r
