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

Constant work (issue 13 item 4). Before act one the signer sends a *pairing prelude*:
the byte 0x56 ('V', never a BOLT 8 act one, whose version byte is 0), the byte 0x50
('P') and a 16-byte *locator*, SHA-256(tag || pairing public key)[:16]. The runtime
finds the code by the locator in a dict and does at most one ECDH for it; an ordinary
act one (first byte 0) is tried against the runtime's own key only. So a connection
costs one ECDH whatever the number of outstanding codes, and those are capped
(`MAX_OUTSTANDING`). The locator tells an observer no more than act one already does:
testing a guessed code against it costs a scalar multiplication, as against act one.

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
MAX_OUTSTANDING = 64
PRELUDE_MAGIC = b"VP"
LOCATOR_SIZE = 16
PRELUDE_SIZE = len(PRELUDE_MAGIC) + LOCATOR_SIZE
_KEY_TAG = b"vajra/link-pairing-key/v1"
_LOCATOR_TAG = b"vajra/link-pairing-locator/v1"
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


def locator(pairing_pubkey: bytes) -> bytes:
    """The 16 bytes that let the runtime find a code without trying every one."""
    return sha256(_LOCATOR_TAG + pairing_pubkey)[:LOCATOR_SIZE]


def prelude(pairing_pubkey: bytes) -> bytes:
    """What a pairing signer sends before act one."""
    return PRELUDE_MAGIC + locator(pairing_pubkey)


@dataclass(frozen=True, slots=True)
class PendingCode:
    code: str
    key: StaticKey
    expires: float


class PairingCodes:
    """The runtime's outstanding codes, by locator: issued (at most `cap` at once),
    found once by the locator of a prelude, expired."""

    def __init__(self, ttl: float = CODE_TTL, cap: int = MAX_OUTSTANDING) -> None:
        self.ttl = ttl
        self.cap = cap
        self._pending: dict[bytes, PendingCode] = {}

    def _expire(self, now: float) -> None:
        for loc in [k for k, p in self._pending.items() if p.expires <= now]:
            del self._pending[loc]

    def issue(self, now: float, rng: Callable[[int], bytes] = os.urandom) -> PendingCode:
        """A new code; PairingError("too_many_codes") while `cap` are outstanding."""
        self._expire(now)
        if len(self._pending) >= self.cap:
            raise PairingError("too_many_codes", f"{self.cap} codes are outstanding; use "
                               "one or wait for them to expire")  # fmt: skip
        code = new_code(rng)
        p = PendingCode(code, pairing_key(code), now + self.ttl)
        self._pending[locator(p.key.pubkey)] = p
        return p

    def candidates(self, now: float) -> list[PendingCode]:
        """Unexpired codes, oldest first (expired ones are dropped here)."""
        self._expire(now)
        return sorted(self._pending.values(), key=lambda p: p.expires)

    def find(self, loc: bytes, now: float) -> PendingCode | None:
        """The unexpired code with this locator (a dict look-up: constant work)."""
        p = self._pending.get(loc)
        if p is None or p.expires <= now:
            return None
        return p

    def consume(self, p: PendingCode) -> None:
        """A handshake matched `p`: it can never be used again."""
        self._pending.pop(locator(p.key.pubkey), None)

    def __len__(self) -> int:
        return len(self._pending)


def accept_act_one(
    own: StaticKey, codes: PairingCodes, act_one: bytes, now: float, loc: bytes | None = None
) -> tuple[Responder, bytes, PendingCode | None]:
    """The runtime's answer to a BOLT 8 act one: without a prelude (`loc` None) against
    our own key only; after a prelude against the code its locator names only. One ECDH
    either way. Returns the responder, act two and the matched code (None: our own key),
    consuming the code. Raises HandshakeError if the key does not match (the caller
    closes without a word, as BOLT 8 requires)."""
    if loc is None:
        hs = Responder(own)
        return hs, hs.read_act_one(act_one), None
    p = codes.find(loc, now)
    if p is None:
        raise HandshakeMacError(1, "the prelude names no outstanding pairing code")
    hs = Responder(p.key)
    act_two = hs.read_act_one(act_one)
    codes.consume(p)  # one attempt per code, whatever follows
    return hs, act_two, p
