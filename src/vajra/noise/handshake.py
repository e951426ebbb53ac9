"""BOLT 8 handshake: Noise_XK_secp256k1_ChaChaPoly_SHA256, both roles, sans-IO.

Theory of operation
-------------------
A connection starts with three fixed-size acts and then carries framed messages:

    initiator                                    responder
    Initiator(local, remote_pubkey)              Responder(local)
    act_one()            -- 50 bytes -->         read_act_one(act)
    read_act_two(act)    <-- 50 bytes --         (returns act two)
    (returns act three)  -- 66 bytes -->         read_act_three(act)
    -> (act3, Transport)                         -> (remote static pubkey, Transport)

Each object runs one handshake and never does I/O: the caller reads *exactly*
`ACT_ONE_SIZE` / `ACT_TWO_SIZE` / `ACT_THREE_SIZE` bytes from the connection, hands them
over and writes back what it gets. Bytes that arrive after act three (the initiator may
send its first message in the same segment) belong to `Transport.receive_data`.

Any rule of the spec's "Handshake Exchange" that the peer breaks raises a subclass of
`HandshakeError` whose `code` is the Appendix A name (`ACT1_BAD_VERSION`, `ACT1_BAD_PUBKEY`,
`ACT3_BAD_CIPHERTEXT`, ...); the caller MUST then close the connection without sending
anything more. A failed or finished handshake object refuses further calls.

Keys: `StaticKey` holds a node's identity secret and precomputes what every handshake
answering to that key shares (the responder's initial `h`), so one object serves every
connection to that node. The ephemeral key is drawn from the OS unless a test injects it
(BOLT 8 Appendix A fixes it; the spec otherwise requires fresh randomness).

Speed: the responder does three ECDHs and one key generation per handshake, which is
almost all of its cost. Around them it parses each remote key once (reused for the second
ECDH on it), uses the received compressed bytes for `h` instead of re-serialising, derives
the responder's ephemeral key only after act one's MAC checked (a stranger's act one costs
one ECDH), and reuses the act-two cipher object for act three.
"""

from __future__ import annotations

from typing import NoReturn

from vajra.crypto.aead import Aead, AuthenticationError
from vajra.crypto.hashes import hkdf_two_keys, sha256
from vajra.crypto.secp256k1 import (
    InvalidKey,
    Point,
    check_secret,
    ecdh_point,
    generate_secret,
    parse_point,
    pubkey_create,
)
from vajra.noise.errors import (
    HandshakeCiphertextError,
    HandshakeError,
    HandshakeKeyError,
    HandshakeMacError,
    HandshakeReadError,
    HandshakeStateError,
    HandshakeVersionError,
)
from vajra.noise.transport import Transport

PROTOCOL_NAME = b"Noise_XK_secp256k1_ChaChaPoly_SHA256"
PROLOGUE = b"lightning"
HANDSHAKE_VERSION = 0
ACT_ONE_SIZE = 50  # version || e.pub (33) || tag (16)
ACT_TWO_SIZE = 50
ACT_THREE_SIZE = 66  # version || encrypted s.pub (33 + 16) || tag (16)

# BOLT 8 "Handshake State Initialization": h = SHA-256(protocolName); ck = h;
# h = SHA-256(h || prologue). Both are the same for every handshake.
_CK0 = sha256(PROTOCOL_NAME)
_H_PROLOGUE = sha256(_CK0 + PROLOGUE)
_VERSION = bytes([HANDSHAKE_VERSION])
_EMPTY = b""

_AWAIT_ACT_ONE = "await_act_one"
_SEND_ACT_ONE = "send_act_one"
_AWAIT_ACT_TWO = "await_act_two"
_AWAIT_ACT_THREE = "await_act_three"
_DONE = "done"
_FAILED = "failed"


class StaticKey:
    """A node's static (identity) key: secret, compressed pubkey, responder's initial `h`."""

    __slots__ = ("_h0", "pubkey", "secret")

    def __init__(self, secret: bytes) -> None:
        self.secret = check_secret(secret)
        self.pubkey = pubkey_create(secret)
        # "The responding node mixes in their local static public key":
        # h = SHA-256(h || ls.pub.serializeCompressed())
        self._h0 = sha256(_H_PROLOGUE + self.pubkey)

    @classmethod
    def with_pubkey(cls, secret: bytes, pubkey: bytes) -> StaticKey:
        """A key whose public half the caller already knows (a host of many nodes keeps
        them in a table): skips the ~18 us derivation; costs one SHA-256.

        The caller vouches that `pubkey` belongs to `secret`; a wrong one makes every
        handshake fail at act one (the initiator's `es` will not match), never succeed.
        """
        self = cls.__new__(cls)
        self.secret = secret
        self.pubkey = pubkey
        self._h0 = sha256(_H_PROLOGUE + pubkey)
        return self

    def __repr__(self) -> str:  # never print the secret
        return f"StaticKey(pubkey={self.pubkey.hex()})"


def _ephemeral(secret: bytes | None) -> tuple[bytes, bytes]:
    # BOLT 8: "a node MUST generate a new ephemeral key with strong cryptographic
    # randomness"; only test vectors inject one.
    e = generate_secret() if secret is None else check_secret(secret)
    return e, pubkey_create(e)


class _Handshake:
    """State shared by both roles: `h`, `ck`, the ephemeral secret and the role's state."""

    __slots__ = ("_ck", "_e", "_h", "_k2", "_state")

    _state: str
    _k2: Aead | None  # the responder keeps `temp_k2` from act two for act three

    def _expect(self, state: str, act: int) -> None:
        if self._state is not state:
            raise HandshakeStateError(act, f"called in state {self._state}", state=self._state)

    def _fail(self, cls: type[HandshakeError], act: int, detail: str) -> NoReturn:
        state = self._state
        self._state = _FAILED
        self._e = self._ck = _EMPTY  # forget the secrets of a dead handshake
        self._k2 = None
        raise cls(act, detail, state=state) from None

    def _parse_act(self, act: int, data: bytes, size: int) -> None:
        # "Read _exactly_ N bytes"; "If `v` is an unrecognized handshake version, then
        # the responder MUST abort the connection attempt."
        if len(data) != size:
            self._fail(HandshakeReadError, act, f"act is {len(data)} bytes, expected {size}")
        if data[0] != HANDSHAKE_VERSION:
            self._fail(HandshakeVersionError, act, f"version {data[0]}")

    def _parse_key(self, act: int, key: bytes) -> Point:
        try:
            return parse_point(key)
        except InvalidKey as exc:
            self._fail(HandshakeKeyError, act, str(exc))

    def _finish(self, ck: bytes, send_key: bytes, recv_key: bytes) -> Transport:
        self._state = _DONE
        self._e = self._ck = self._h = _EMPTY
        self._k2 = None
        # BOLT 8: "rn = 0, sn = 0"; "rck = sck = ck".
        return Transport(send_key, recv_key, ck)

    @property
    def state(self) -> str:
        """Where the handshake is: await_act_one, ..., done or failed."""
        return self._state


class Initiator(_Handshake):
    """The connecting side: knows the responder's static key in advance (`<- s`)."""

    __slots__ = ("_local", "_rs")

    def __init__(
        self, local: StaticKey, remote_pubkey: bytes, *, ephemeral: bytes | None = None
    ) -> None:
        self._local = local
        self._rs = parse_point(remote_pubkey)  # InvalidKey: the caller's bad node id
        self._e = ephemeral if ephemeral is not None else _EMPTY
        self._ck = _CK0
        self._k2 = None
        # "The initiating node mixes in the responding node's static public key".
        self._h = sha256(_H_PROLOGUE + self._rs.compressed)
        self._state = _SEND_ACT_ONE

    def act_one(self) -> bytes:
        """Act one `-> e, es`: 50 bytes to send."""
        self._expect(_SEND_ACT_ONE, 1)
        e, e_pub = _ephemeral(self._e or None)
        self._e = e
        h = sha256(self._h + e_pub)
        ck, temp_k1 = hkdf_two_keys(self._ck, ecdh_point(e, self._rs))
        c = Aead(temp_k1).encrypt(0, h, _EMPTY)
        self._h = sha256(h + c)
        self._ck = ck
        self._state = _AWAIT_ACT_TWO
        return _VERSION + e_pub + c

    def read_act_two(self, act: bytes) -> tuple[bytes, Transport]:
        """Check act two `<- e, ee`; return act three `-> s, se` (66 bytes) and the session."""
        self._expect(_AWAIT_ACT_TWO, 2)
        self._parse_act(2, act, ACT_TWO_SIZE)
        re_bytes, c = act[1:34], act[34:]
        re = self._parse_key(2, re_bytes)
        h = sha256(self._h + re_bytes)
        ck, temp_k2 = hkdf_two_keys(self._ck, ecdh_point(self._e, re))
        aead = Aead(temp_k2)
        try:
            aead.decrypt(0, h, c)
        except AuthenticationError:
            self._fail(HandshakeMacError, 2, "act two MAC check failed")
        h = sha256(h + c)
        # Act three, sender actions 1-9.
        c = aead.encrypt(1, h, self._local.pubkey)
        h = sha256(h + c)
        ck, temp_k3 = hkdf_two_keys(ck, ecdh_point(self._local.secret, re))
        t = Aead(temp_k3).encrypt(0, h, _EMPTY)
        sk, rk = hkdf_two_keys(ck, _EMPTY)  # "sk, rk = HKDF(ck, zero)"
        return _VERSION + c + t, self._finish(ck, sk, rk)


class Responder(_Handshake):
    """The accepting side: proves it holds `local` and learns the initiator's static key."""

    __slots__ = ("_local",)

    def __init__(self, local: StaticKey, *, ephemeral: bytes | None = None) -> None:
        self._local = local
        self._e = ephemeral if ephemeral is not None else _EMPTY
        self._ck = _CK0
        self._h = local._h0
        self._k2 = None
        self._state = _AWAIT_ACT_ONE

    def read_act_one(self, act: bytes) -> bytes:
        """Check act one `-> e, es`; return act two `<- e, ee` (50 bytes)."""
        self._expect(_AWAIT_ACT_ONE, 1)
        self._parse_act(1, act, ACT_ONE_SIZE)
        re_bytes, c = act[1:34], act[34:]
        re = self._parse_key(1, re_bytes)
        h = sha256(self._h + re_bytes)
        ck, temp_k1 = hkdf_two_keys(_CK0, ecdh_point(self._local.secret, re))
        try:
            Aead(temp_k1).decrypt(0, h, c)
        except AuthenticationError:
            # "the initiator does _not_ know the responder's static public key ... MUST
            # terminate the connection without any further messages."
            self._fail(HandshakeMacError, 1, "act one MAC check failed")
        h = sha256(h + c)
        # Act two, sender actions 1-7; the ephemeral key only now that act one checked.
        e, e_pub = _ephemeral(self._e or None)
        self._e = e
        h = sha256(h + e_pub)
        ck, temp_k2 = hkdf_two_keys(ck, ecdh_point(e, re))
        aead = Aead(temp_k2)
        c = aead.encrypt(0, h, _EMPTY)
        self._h = sha256(h + c)
        self._ck = ck
        self._k2 = aead
        self._state = _AWAIT_ACT_THREE
        return _VERSION + e_pub + c

    def read_act_three(self, act: bytes) -> tuple[bytes, Transport]:
        """Check act three `-> s, se`; return the initiator's static pubkey and the session."""
        self._expect(_AWAIT_ACT_THREE, 3)
        self._parse_act(3, act, ACT_THREE_SIZE)
        c, t = act[1:50], act[50:]
        h, k2 = self._h, self._k2
        if k2 is None:  # unreachable: set whenever the state is await_act_three
            raise HandshakeStateError(3, "no act two key", state=self._state)
        try:
            rs_bytes = k2.decrypt(1, h, c)  # "rs = decryptWithAD(temp_k2, 1, h, c)"
        except AuthenticationError:
            self._fail(HandshakeCiphertextError, 3, "encrypted static key MAC check failed")
        rs = self._parse_key(3, rs_bytes)
        h = sha256(h + c)
        ck, temp_k3 = hkdf_two_keys(self._ck, ecdh_point(self._e, rs))
        try:
            Aead(temp_k3).decrypt(0, h, t)
        except AuthenticationError:
            self._fail(HandshakeMacError, 3, "act three MAC check failed")
        rk, sk = hkdf_two_keys(ck, _EMPTY)  # "rk, sk = HKDF(ck, zero)"
        return rs_bytes, self._finish(ck, sk, rk)
