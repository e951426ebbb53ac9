"""Encryption at rest and rollback detection over any `KVStore`.

Every value is sealed with ChaCha20-Poly1305 under the node's 32-byte state key (released
by the signer when the node wakes), with associated data binding it to (node id, key,
version). A blob copied to another node or key, or an older version served in place of a
newer one, fails to open (`IntegrityError`): the backend sees only ciphertext and cannot
swap, forge or roll back values unnoticed. Key names and versions are not secret (they
are the lookup key); callers must not put secrets in key names.

Blob format, version 1 (33 bytes over the plaintext)::

    0x01 || salt (16 random bytes) || ChaCha20-Poly1305(subkey, nonce 0, ad, plaintext)
    subkey = HMAC-SHA256(state_key, "vajra/store/seal/v1" || salt)
    ad     = 0x01 || len(node_id) (1) || node_id || len(key) (2, BE) || key (UTF-8)
             || version (8, BE)

Why a random salt and a fresh subkey per blob, not a nonce derived from the version: the
same (node, key, version) can be sealed twice with different plaintexts (two writers
racing for one version; a backend restored from a backup and written again), and a
repeated (key, nonce) pair under ChaCha20-Poly1305 leaks the XOR of the plaintexts and lets
an attacker forge tags. A random 96-bit nonce under the one state key would be safe only up
to ~2^32 writes per node and `crypto.aead` takes 64-bit counters; a 128-bit random salt
makes every blob's key independent (collision odds ~q^2 / 2^129), at the cost of one HMAC
per seal or open. The leading format byte (also in the AD) lets a later format coexist.

Rollback: the wrapper keeps, per (node, key), the highest version it has seen (read or
written) and whether it was live. The backend serving anything older, or nothing where a
live value was seen, raises `RollbackDetected`. The marks live in memory; `high_water` and
`forget` hand them out so the runtime can persist them elsewhere (the signer, which
checks state versions too) and give them back at `unlock`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from vajra.crypto.aead import Aead, AuthenticationError
from vajra.crypto.hashes import hmac_sha256
from vajra.store.base import KVStore, Lease
from vajra.store.errors import IntegrityError, NodeLocked, RollbackDetected, StoreConflict

FORMAT_V1 = 0x01
STATE_KEY_LEN = 32
SALT_LEN = 16
TAG_LEN = 16
OVERHEAD = 1 + SALT_LEN + TAG_LEN
_LABEL = b"vajra/store/seal/v1"


@dataclass(frozen=True, slots=True)
class Seen:
    """The high-water mark of one key: the newest version seen and whether it held a value."""

    version: int
    """Highest version read or written through this wrapper."""
    live: bool
    """False if that version is a tombstone (the key was deleted)."""


def _ad(node_id: bytes, key: str, version: int) -> bytes:
    k = key.encode()
    if len(node_id) > 0xFF or len(k) > 0xFFFF:
        raise ValueError("node id or key too long to seal")
    return (
        bytes((FORMAT_V1, len(node_id)))
        + node_id
        + len(k).to_bytes(2, "big")
        + k
        + version.to_bytes(8, "big")
    )


def _subkey(state_key: bytes, salt: bytes) -> Aead:
    return Aead(hmac_sha256(state_key, _LABEL + salt))


def seal(state_key: bytes, node_id: bytes, key: str, version: int, plaintext: bytes) -> bytes:
    """Encrypt `plaintext` as the value of (node_id, key) at `version`."""
    salt = os.urandom(SALT_LEN)
    ct = _subkey(state_key, salt).encrypt(0, _ad(node_id, key, version), plaintext)
    return bytes((FORMAT_V1,)) + salt + ct


def unseal(state_key: bytes, node_id: bytes, key: str, version: int, blob: bytes) -> bytes:
    """The plaintext of a sealed blob, or `IntegrityError` if it is not exactly what
    `seal` made for this (state key, node id, key, version)."""
    if len(blob) < OVERHEAD:
        raise IntegrityError(node_id, key, version, "sealed blob too short")
    if blob[0] != FORMAT_V1:
        raise IntegrityError(node_id, key, version, f"unknown sealed format {blob[0]}")
    salt = blob[1 : 1 + SALT_LEN]
    try:
        return _subkey(state_key, salt).decrypt(0, _ad(node_id, key, version), blob[1 + SALT_LEN :])
    except AuthenticationError:
        raise IntegrityError(node_id, key, version, "authentication failed") from None


class SealedStore:
    """A `KVStore` whose values are sealed under per-node state keys; leases pass through."""

    def __init__(self, inner: KVStore) -> None:
        self._inner = inner
        self._keys: dict[bytes, bytes] = {}
        self._seen: dict[bytes, dict[str, Seen]] = {}

    # --- keys and high-water marks -------------------------------------------------------

    def unlock(
        self, node_id: bytes, state_key: bytes, high_water: Mapping[str, Seen] | None = None
    ) -> None:
        """Hold the node's state key (from the signer) and merge persisted high-water marks."""
        if len(state_key) != STATE_KEY_LEN:
            raise ValueError(f"state key must be {STATE_KEY_LEN} bytes")
        self._keys[node_id] = state_key
        for key, seen in (high_water or {}).items():
            self._observe(node_id, key, seen.version, seen.live)

    def lock(self, node_id: bytes) -> None:
        """Drop the node's state key (it sleeps); its high-water marks stay."""
        self._keys.pop(node_id, None)

    def high_water(self, node_id: bytes) -> dict[str, Seen]:
        """A copy of the node's high-water marks, to persist."""
        return dict(self._seen.get(node_id, {}))

    def forget(self, node_id: bytes) -> dict[str, Seen]:
        """Drop the node's key and marks (it leaves this runtime); return the marks."""
        self._keys.pop(node_id, None)
        return self._seen.pop(node_id, {})

    def _key(self, node_id: bytes) -> bytes:
        try:
            return self._keys[node_id]
        except KeyError:
            raise NodeLocked(node_id) from None

    def _observe(self, node_id: bytes, key: str, version: int, live: bool) -> None:
        marks = self._seen.setdefault(node_id, {})
        old = marks.get(key)
        if old is None or version > old.version:
            marks[key] = Seen(version, live)

    def _check_not_older(self, node_id: bytes, key: str, served: int) -> None:
        seen = self._seen.get(node_id, {}).get(key)
        if seen is not None and served < seen.version:
            raise RollbackDetected(node_id, key, seen.version, served)

    # --- KVStore -------------------------------------------------------------------------

    def get(self, node_id: bytes, key: str) -> tuple[int, bytes] | None:
        state_key = self._key(node_id)
        got = self._inner.get(node_id, key)
        if got is None:
            seen = self._seen.get(node_id, {}).get(key)
            if seen is not None and seen.live:
                raise RollbackDetected(node_id, key, seen.version, 0)
            return None
        version, blob = got
        self._check_not_older(node_id, key, version)
        plaintext = unseal(state_key, node_id, key, version, blob)
        self._observe(node_id, key, version, True)
        return version, plaintext

    def put(
        self,
        node_id: bytes,
        key: str,
        blob: bytes,
        expected_version: int,
        *,
        lease_epoch: int | None = None,
    ) -> int:
        new = expected_version + 1
        sealed = seal(self._key(node_id), node_id, key, new, blob)
        try:
            got = self._inner.put(node_id, key, sealed, expected_version, lease_epoch=lease_epoch)
        except StoreConflict as e:
            self._check_not_older(node_id, key, e.actual)
            raise
        if got != new:
            raise IntegrityError(node_id, key, got, f"backend assigned {got}, expected {new}")
        # The backend accepted a write on top of a version older than one we saw: it was
        # rolled back (the write went through, but the runtime must stop and look).
        self._check_not_older(node_id, key, expected_version)
        self._observe(node_id, key, new, True)
        return new

    def delete(
        self,
        node_id: bytes,
        key: str,
        expected_version: int,
        *,
        lease_epoch: int | None = None,
    ) -> int:
        try:
            got = self._inner.delete(node_id, key, expected_version, lease_epoch=lease_epoch)
        except StoreConflict as e:
            self._check_not_older(node_id, key, e.actual)
            raise
        self._check_not_older(node_id, key, expected_version)
        self._observe(node_id, key, got, False)
        return got

    def list_keys(self, node_id: bytes) -> list[str]:
        return self._inner.list_keys(node_id)

    def acquire_lease(self, node_id: bytes, runtime_id: str, now: float, ttl: float) -> Lease:
        return self._inner.acquire_lease(node_id, runtime_id, now, ttl)

    def renew_lease(self, lease: Lease, now: float, ttl: float) -> Lease:
        return self._inner.renew_lease(lease, now, ttl)

    def raise_lease_epoch(self, lease: Lease, epoch: int) -> Lease:
        return self._inner.raise_lease_epoch(lease, epoch)

    def release_lease(self, lease: Lease) -> None:
        self._inner.release_lease(lease)

    def get_lease(self, node_id: bytes) -> Lease | None:
        return self._inner.get_lease(node_id)
