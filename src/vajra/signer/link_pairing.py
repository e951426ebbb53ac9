"""Pairing a signer with a runtime through a one-time code, sans-IO (decision 0007).

Theory of operation. The runtime shows a code: 16 base32 characters (80 random bits),
written in groups of four, valid for a few minutes and for one attempt. Both sides
derive from it (1) a *pairing static key*, a secp256k1 key pair that exists only for
this code, and (2) a MAC key. The signer opens an ordinary BOLT 8 (Noise_XK) session to
the pairing key's public half, with its own long-term link key as the initiator's
static key:

- Noise XK authenticates the responder's static key: only a runtime that knows the code
  holds the pairing secret, so only it can read act one and answer act two;
- the initiator's static key (the signer's link key) arrives encrypted in act three.

Inside that session the signer sends PAIR_REQUEST with HMAC(code, "signer" || signer
key || pairing key), the runtime checks it and answers PAIR_ACCEPT with its long-term
link key, the signer id it assigned and HMAC(code, "runtime" || signer key || runtime
key). Both MACs bind the keys each side is about to pin to the code, explicitly. Then
both pin: the runtime pins the signer's link key; the signer pins the runtime's
long-term key and from then on dials it directly; unpinned keys are refused.

Guessing: nothing on the wire is a cheap test of a guessed code. A passive observer sees
act one, which can be checked against a guess only by an ECDH per guess; an active
attacker posing as the runtime has one attempt per connection and 2^80 codes to try.
The runtime consumes a code at the first handshake that matches it, whatever follows,
so a replayed or second attempt with the same code is refused.
"""

from __future__ import annotations

import base64
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass

from vajra.crypto.hashes import hmac_sha256, sha256
from vajra.crypto.secp256k1 import CURVE_ORDER
from vajra.errors import VajraError
from vajra.noise import HandshakeMacError, Responder, StaticKey

CODE_BYTES = 10  # 80 bits -> 16 base32 characters
CODE_TTL = 600
_KEY_TAG = b"vajra/link-pairing-key/v1"
_MAC_TAG = b"vajra/link-pairing-mac/v1"
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


class PairingError(VajraError):
    """Pairing failed: `reason` is a stable code (bad_code, expired, bad_mac, ...)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


def new_code(rng: Callable[[int], bytes] = os.urandom) -> str:
    """A fresh code, e.g. "K7QX-2M9D-ABCD-EFGH"."""
    raw = base64.b32encode(rng(CODE_BYTES)).decode()
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def normalize_code(code: str) -> str:
    """Upper case without separators; PairingError("bad_code") if it is not a code."""
    c = "".join(code.split()).replace("-", "").upper()
    if len(c) != 16 or not set(c) <= _ALPHABET:
        raise PairingError("bad_code", "a pairing code is 16 base32 characters")
    return c


def pairing_key(code: str) -> StaticKey:
    """The Noise static key that exists only for this code."""
    c = normalize_code(code).encode()
    for i in range(256):  # a hash >= n has probability ~2^-128: loop for totality only
        secret = sha256(_KEY_TAG + bytes([i]) + c)
        if 0 < int.from_bytes(secret, "big") < CURVE_ORDER:
            return StaticKey(secret)
    raise PairingError("bad_code")  # unreachable in practice


def pairing_mac(code: str, role: bytes, signer_key: bytes, other_key: bytes) -> bytes:
    """HMAC-SHA256 under a key derived from the code, over role || both static keys."""
    k = sha256(_MAC_TAG + normalize_code(code).encode())
    return hmac_sha256(k, role + signer_key + other_key)


def signer_mac(code: str, signer_key: bytes, pairing_pubkey: bytes) -> bytes:
    return pairing_mac(code, b"signer", signer_key, pairing_pubkey)


def runtime_mac(code: str, signer_key: bytes, runtime_key: bytes) -> bytes:
    return pairing_mac(code, b"runtime", signer_key, runtime_key)


def macs_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


@dataclass(frozen=True, slots=True)
class PendingCode:
    code: str
    key: StaticKey
    expires: float


class PairingCodes:
    """The runtime's outstanding codes: issued, matched once against act one, expired."""

    def __init__(self, ttl: float = CODE_TTL) -> None:
        self.ttl = ttl
        self._pending: list[PendingCode] = []

    def issue(self, now: float, rng: Callable[[int], bytes] = os.urandom) -> PendingCode:
        code = new_code(rng)
        p = PendingCode(code, pairing_key(code), now + self.ttl)
        self._pending.append(p)
        return p

    def candidates(self, now: float) -> list[PendingCode]:
        """Unexpired codes, oldest first (expired ones are dropped here)."""
        self._pending = [p for p in self._pending if p.expires > now]
        return list(self._pending)

    def consume(self, p: PendingCode) -> None:
        """A handshake matched `p`: it can never be used again."""
        self._pending = [q for q in self._pending if q is not p]

    def __len__(self) -> int:
        return len(self._pending)


def accept_act_one(
    own: StaticKey, codes: PairingCodes, act_one: bytes, now: float
) -> tuple[Responder, bytes, PendingCode | None]:
    """The runtime's answer to a BOLT 8 act one: our own key first, then each outstanding
    pairing key (one ECDH each). Returns the responder, act two and the matched code
    (None: our own key), consuming the code. Raises HandshakeError if no key matches
    (the caller closes without a word, as BOLT 8 requires)."""
    hs = Responder(own)
    try:
        return hs, hs.read_act_one(act_one), None
    except HandshakeMacError:
        pass
    for p in codes.candidates(now):
        hs = Responder(p.key)
        try:
            act_two = hs.read_act_one(act_one)
        except HandshakeMacError:
            continue
        codes.consume(p)  # one attempt per code, whatever follows
        return hs, act_two, p
    raise HandshakeMacError(1, "act one matches neither our key nor a pairing code")
