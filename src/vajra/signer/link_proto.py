"""The signer link's frames: typed, id-tagged requests and responses, sans-IO.

One frame is one BOLT 8 message on the link (`vajra.noise.Transport` encrypts and
authenticates it; at most 65535 bytes). Layout (version 3), integers big-endian:

    0   1   version = 3
    1   1   kind (below)
    2   8   request id: chosen by the requester, echoed in the response; 0 for the
            one-way frames (HELLO) and the pairing frames
    10  *   body, fixed per kind (fields in the order of the dataclass below)

Field encodings: u8/u32/u64 fixed; `node` 33 bytes (a compressed key, checked on the
curve); `b32` 32 bytes; `sig` 64 bytes; `bytes` u16 length + data; `str` u8 length +
ASCII; `list[X]` u16 count + items. A frame decodes only if it is exactly one value
(trailing bytes are refused), so re-encoding gives the input back; the decoder raises
`LinkDecodeError` and nothing else (fuzzed: tests/fuzz/targets/link_frame.py).

Who sends what. The runtime asks, the signer answers: requests 0x10.. go runtime ->
signer, and every request is answered by exactly one response with the same id: the
kind's result (request kind | 0x80) or ERROR (a stable reason code, as `PolicyViolation`
carries). The signer sends HELLO once after the handshake. Pairing (decision 0007) is
PAIR_REQUEST (signer -> runtime) answered by PAIR_ACCEPT or ERROR, both with id 0.

Versions: 2 added the anchor and backups (decision 0012); 3 adds the channel requests
(NEW_CHANNEL, CHANNEL_REQUEST, AUTHORISE_HTLC and their answers, decision 0017). A peer of another
version is refused at its first frame, so a signer that cannot serve channels never
links to a runtime that has them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

from vajra.crypto.secp256k1 import InvalidKey, check_pubkey
from vajra.errors import DecodeError

VERSION = 3
HEADER = struct.Struct(">BBQ")
MAX_FRAME = 65535
MAX_HELLO_NODES = 1900  # 1900 * 33 bytes + header < 65535
MAX_NODES = 1000  # the core's MAX_NODES_PER_REQUEST; also keeps a frame under 65535 bytes
MAX_CHANNEL_REQUEST = MAX_FRAME - 10 - 33 - 8 - 4 - 2
"""The largest channel request one CHANNEL_REQUEST frame carries (header, node, epoch,
channel index, length): about 480 HTLCs with their signatures."""


class LinkDecodeError(DecodeError):
    """Bytes that are not one canonical link frame of this version."""


class Kind(IntEnum):
    HELLO = 0x01
    PAIR_REQUEST = 0x02
    PAIR_ACCEPT = 0x03
    AUDIT_HEAD = 0x04
    BACKUP = 0x05
    PING = 0x10
    CREATE_NODES = 0x11
    IDENTITY_SECRETS = 0x12
    STATE_KEY = 0x13
    ECDH = 0x14
    SIGN_NODE_ANNOUNCEMENT = 0x15
    SIGN_CHANNEL_UPDATE = 0x16
    SIGN_INVOICE = 0x17
    AUTHORISE_PAYMENT = 0x18
    DEVICE_COMMAND = 0x19
    ACCOUNT_XPUB = 0x1A
    SIGN_ONCHAIN = 0x1B
    NEW_CHANNEL = 0x1C
    CHANNEL_REQUEST = 0x1D
    AUTHORISE_HTLC = 0x1E
    PONG = 0x90
    NODES_CREATED = 0x91
    SECRETS = 0x92
    SECRET = 0x93  # answers STATE_KEY and ECDH
    SIGNATURE = 0x95  # answers both gossip signing requests
    INVOICE_SIGNED = 0x97
    DECISION = 0x98  # answers AUTHORISE_PAYMENT and DEVICE_COMMAND
    XPUB = 0x9A
    ONCHAIN_SIGNED = 0x9B
    CHANNEL_KEYS = 0x9C
    CHANNEL_RESULT = 0x9D
    ERROR = 0xFF


# --- field codecs ---------------------------------------------------------------------------


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise LinkDecodeError("truncated frame")
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def u64(self) -> int:
        return int.from_bytes(self.take(8), "big")

    def node(self) -> bytes:
        raw = self.take(33)
        try:
            return check_pubkey(raw)
        except InvalidKey:
            raise LinkDecodeError("not a compressed secp256k1 point") from None

    def var(self) -> bytes:
        return self.take(self.u16())

    def text(self) -> str:
        raw = self.take(self.u8())
        if not raw.isascii():
            raise LinkDecodeError("text is not ASCII")
        return raw.decode()

    def count(self, limit: int) -> int:
        n = self.u16()
        if n > limit:
            raise LinkDecodeError(f"list of {n} exceeds {limit}")
        return n


def _var(b: bytes) -> bytes:
    if len(b) > 0xFFFF:
        raise ValueError("field longer than 65535 bytes")
    return len(b).to_bytes(2, "big") + b


def _text(s: str) -> bytes:
    b = s.encode("ascii")
    if len(b) > 255:
        raise ValueError("text longer than 255 bytes")
    return bytes([len(b)]) + b


def _ascii(s: str) -> str:
    """Error text made safe to send: ASCII, at most 255 bytes."""
    return s.encode("ascii", "replace").decode()[:255]


def _u64(v: int) -> bytes:
    return v.to_bytes(8, "big")


def _fixed(b: bytes, n: int, what: str) -> bytes:
    if len(b) != n:
        raise ValueError(f"{what} must be {n} bytes")
    return b


# --- frames ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    """Base of every frame: `id` tags a request and its response."""

    id: int
    KIND: ClassVar[Kind]

    def body(self) -> bytes:
        return b""

    def encode(self) -> bytes:
        out = HEADER.pack(VERSION, self.KIND, self.id) + self.body()
        if len(out) > MAX_FRAME:
            raise ValueError("frame exceeds 65535 bytes")
        return out

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid)


@dataclass(frozen=True, slots=True)
class Hello(Frame):
    """Signer -> runtime after every handshake: the nodes it serves, in one or more HELLO
    frames of at most MAX_HELLO_NODES each (one frame holds at most 65535 bytes)."""

    node_ids: tuple[bytes, ...]
    KIND: ClassVar[Kind] = Kind.HELLO

    def body(self) -> bytes:
        return len(self.node_ids).to_bytes(2, "big") + b"".join(
            _fixed(n, 33, "node id") for n in self.node_ids
        )

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, tuple(r.node() for _ in range(r.count(MAX_HELLO_NODES))))


@dataclass(frozen=True, slots=True)
class AuditHead(Frame):
    """The anchor (decision 0012), id 0, both ways. Runtime -> signer right after the
    handshake: the newest head of the signer's audit log the runtime has seen (length 0
    and 32 zero bytes: none). Signer -> runtime: its own head, before HELLO and after
    every response that appended to the log. `length` is the number of entries, `hash`
    the hash of the last one."""

    length: int
    hash: bytes
    KIND: ClassVar[Kind] = Kind.AUDIT_HEAD

    def body(self) -> bytes:
        return _u64(self.length) + _fixed(self.hash, 32, "head hash")

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, r.u64(), r.take(32))


@dataclass(frozen=True, slots=True)
class Backup(Frame):
    """The signer's sealed state backup (`vajra.signer.backup`), id 0. Signer -> runtime
    after every decision that changed nodes, devices or spends and on every connection;
    runtime -> signer after PAIR_ACCEPT (with AUDIT_HEAD) when it holds one, so a signer
    restored from its words gets its state back. `length`: the audit length it was taken
    at (the runtime keeps the newest)."""

    length: int
    blob: bytes
    KIND: ClassVar[Kind] = Kind.BACKUP

    def body(self) -> bytes:
        return _u64(self.length) + _var(self.blob)

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, r.u64(), r.var())


@dataclass(frozen=True, slots=True)
class PairRequest(Frame):
    """Signer -> runtime, first frame of a pairing session: proof that it holds the code."""

    mac: bytes
    KIND: ClassVar[Kind] = Kind.PAIR_REQUEST

    def body(self) -> bytes:
        return _fixed(self.mac, 32, "mac")

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, r.take(32))


@dataclass(frozen=True, slots=True)
class PairAccept(Frame):
    """Runtime -> signer: its long-term link key, the signer's id, and its own proof."""

    runtime_pubkey: bytes
    signer_id: int
    mac: bytes
    KIND: ClassVar[Kind] = Kind.PAIR_ACCEPT

    def body(self) -> bytes:
        return (
            _fixed(self.runtime_pubkey, 33, "runtime pubkey")
            + self.signer_id.to_bytes(4, "big")
            + _fixed(self.mac, 32, "mac")
        )

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, r.node(), r.u32(), r.take(32))


@dataclass(frozen=True, slots=True)
class Ping(Frame):
    """Liveness and round-trip measurement; answered by PONG."""

    KIND: ClassVar[Kind] = Kind.PING


@dataclass(frozen=True, slots=True)
class CreateNodes(Frame):
    count: int
    KIND: ClassVar[Kind] = Kind.CREATE_NODES

    def body(self) -> bytes:
        return self.count.to_bytes(2, "big")

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, r.u16())


@dataclass(frozen=True, slots=True)
class IdentitySecrets(Frame):
    epoch: int
    node_ids: tuple[bytes, ...]
    KIND: ClassVar[Kind] = Kind.IDENTITY_SECRETS

    def body(self) -> bytes:
        return (
            _u64(self.epoch)
            + len(self.node_ids).to_bytes(2, "big")
            + b"".join(_fixed(n, 33, "node id") for n in self.node_ids)
        )

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        epoch = r.u64()
        return cls(fid, epoch, tuple(r.node() for _ in range(r.count(MAX_NODES))))


@dataclass(frozen=True, slots=True)
class NodeRequest(Frame):
    """A request about one node, under the runtime's lease epoch for it: node id (33) |
    epoch (u64). A kind that carries more appends it to `head()` and reads it after."""

    node_id: bytes
    epoch: int

    def head(self) -> bytes:
        return _fixed(self.node_id, 33, "node id") + _u64(self.epoch)

    def body(self) -> bytes:
        return self.head()

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, r.node(), r.u64())


@dataclass(frozen=True, slots=True)
class StateKey(NodeRequest):
    KIND: ClassVar[Kind] = Kind.STATE_KEY


@dataclass(frozen=True, slots=True)
class Ecdh(NodeRequest):
    point: bytes
    KIND: ClassVar[Kind] = Kind.ECDH

    def body(self) -> bytes:
        return self.head() + _fixed(self.point, 33, "point")

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, r.node(), r.u64(), r.node())


@dataclass(frozen=True, slots=True)
class SignNodeAnnouncement(NodeRequest):
    """`message`: the whole BOLT 7 node_announcement (type included); its signature
    field is ignored and replaced by the answer."""

    message: bytes
    KIND: ClassVar[Kind] = Kind.SIGN_NODE_ANNOUNCEMENT

    def body(self) -> bytes:
        return self.head() + _var(self.message)

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, r.node(), r.u64(), r.var())


@dataclass(frozen=True, slots=True)
class SignChannelUpdate(SignNodeAnnouncement):
    KIND: ClassVar[Kind] = Kind.SIGN_CHANNEL_UPDATE


@dataclass(frozen=True, slots=True)
class SignInvoice(NodeRequest):
    """The unsigned BOLT 11 invoice: human-readable part and data part as 5-bit words
    (timestamp and tagged fields, no signature). The signer recomputes the digest."""

    hrp: str
    words: bytes
    KIND: ClassVar[Kind] = Kind.SIGN_INVOICE

    def body(self) -> bytes:
        return self.head() + _text(self.hrp) + _var(self.words)

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, r.node(), r.u64(), r.text(), r.var())


@dataclass(frozen=True, slots=True)
class AuthorisePayment(NodeRequest):
    """A device-signed payment authorisation (and an owner confirmation, or empty)."""

    authorisation: bytes
    confirmation: bytes = b""
    KIND: ClassVar[Kind] = Kind.AUTHORISE_PAYMENT

    def body(self) -> bytes:
        return self.head() + _var(self.authorisation) + _var(self.confirmation)

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, r.node(), r.u64(), r.var(), r.var())


@dataclass(frozen=True, slots=True)
class DeviceCommandReq(Frame):
    """An owner-signed registry command, relayed from a device (`vajra.signer.messages`)."""

    command: bytes
    KIND: ClassVar[Kind] = Kind.DEVICE_COMMAND

    def body(self) -> bytes:
        return _var(self.command)

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, r.var())


@dataclass(frozen=True, slots=True)
class Pong(Frame):
    KIND: ClassVar[Kind] = Kind.PONG


@dataclass(frozen=True, slots=True)
class NodesCreated(Frame):
    """(node id, identity secret) per created node, for the runtime's memory only."""

    nodes: tuple[tuple[bytes, bytes], ...]
    KIND: ClassVar[Kind] = Kind.NODES_CREATED

    def body(self) -> bytes:
        return len(self.nodes).to_bytes(2, "big") + b"".join(
            _fixed(n, 33, "node id") + _fixed(s, 32, "secret") for n, s in self.nodes
        )

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, tuple((r.node(), r.take(32)) for _ in range(r.count(MAX_NODES))))


@dataclass(frozen=True, slots=True)
class Secrets(Frame):
    secrets: tuple[bytes, ...]
    KIND: ClassVar[Kind] = Kind.SECRETS

    def body(self) -> bytes:
        return len(self.secrets).to_bytes(2, "big") + b"".join(
            _fixed(s, 32, "secret") for s in self.secrets
        )

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, tuple(r.take(32) for _ in range(r.count(MAX_NODES))))


@dataclass(frozen=True, slots=True)
class Secret(Frame):
    secret: bytes
    KIND: ClassVar[Kind] = Kind.SECRET

    def body(self) -> bytes:
        return _fixed(self.secret, 32, "secret")

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, r.take(32))


@dataclass(frozen=True, slots=True)
class Signature(Frame):
    """A 64-byte compact ECDSA signature (r || s, low-s)."""

    signature: bytes
    KIND: ClassVar[Kind] = Kind.SIGNATURE

    def body(self) -> bytes:
        return _fixed(self.signature, 64, "signature")

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, r.take(64))


@dataclass(frozen=True, slots=True)
class InvoiceSigned(Frame):
    """The complete BOLT 11 string, signed by the node and decoded by the signer."""

    invoice: str
    KIND: ClassVar[Kind] = Kind.INVOICE_SIGNED

    def body(self) -> bytes:
        return _var(self.invoice.encode("ascii"))

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        raw = r.var()
        if not raw.isascii():
            raise LinkDecodeError("invoice is not ASCII")
        return cls(fid, raw.decode())


@dataclass(frozen=True, slots=True)
class DecisionFrame(Frame):
    """A `vajra.signer.policy.Decision` on the wire; `device_id` empty when None.

    Signed (version 2): `audit_time`, `prev_hash` and `signature` are the decision's
    audit entry, so a device that knows the subject it signed (its authorisation or
    command bytes) rebuilds the entry and checks the signer's audit-key signature over
    it (`vajra.signer.anchor.verify_decision`): the decision names the request, cannot
    be made up by whoever relays it, and tells the device the signer's head."""

    outcome: str
    reason: str
    decision_kind: str
    subject_id: bytes
    device_id: bytes
    audit_seq: int
    audit_time: int = 0
    prev_hash: bytes = bytes(32)
    signature: bytes = bytes(64)
    KIND: ClassVar[Kind] = Kind.DECISION

    def body(self) -> bytes:
        if self.device_id and len(self.device_id) != 32:
            raise ValueError("device id must be 32 bytes or empty")
        return (
            _text(self.outcome)
            + _text(self.reason)
            + _text(self.decision_kind)
            + _fixed(self.subject_id, 32, "subject id")
            + bytes([len(self.device_id)])
            + self.device_id
            + _u64(self.audit_seq)
            + _u64(self.audit_time)
            + _fixed(self.prev_hash, 32, "prev hash")
            + _fixed(self.signature, 64, "signature")
        )

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        outcome, reason, kind, subject = r.text(), r.text(), r.text(), r.take(32)
        n = r.u8()
        if n not in (0, 32):
            raise LinkDecodeError("device id must be 32 bytes or empty")
        device, seq, t = r.take(n), r.u64(), r.u64()
        return cls(fid, outcome, reason, kind, subject, device, seq, t, r.take(32), r.take(64))


@dataclass(frozen=True, slots=True)
class AccountXpub(NodeRequest):
    """The node's BIP 84 account public key (public data: decision 0011)."""

    KIND: ClassVar[Kind] = Kind.ACCOUNT_XPUB


@dataclass(frozen=True, slots=True)
class SignOnchain(NodeRequest):
    """An on-chain spend: the device's on-chain authorisation, an owner confirmation (or
    empty) and the unsigned PSBT (BIP 174) the runtime built."""

    authorisation: bytes
    confirmation: bytes
    psbt: bytes
    KIND: ClassVar[Kind] = Kind.SIGN_ONCHAIN

    def body(self) -> bytes:
        return self.head() + _var(self.authorisation) + _var(self.confirmation) + _var(self.psbt)

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, r.node(), r.u64(), r.var(), r.var(), r.var())


@dataclass(frozen=True, slots=True)
class Xpub(Frame):
    """A BIP 32 extended public key, 78-byte serialisation (`vajra.crypto.bip32`), and
    the 4-byte fingerprint of the master key it descends from (PSBT key origins name it)."""

    xpub: bytes
    master_fingerprint: bytes
    KIND: ClassVar[Kind] = Kind.XPUB

    def body(self) -> bytes:
        return _fixed(self.xpub, 78, "xpub") + _fixed(self.master_fingerprint, 4, "fingerprint")

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, r.take(78), r.take(4))


@dataclass(frozen=True, slots=True)
class OnchainSigned(DecisionFrame):
    """The decision on a SIGN_ONCHAIN, and the PSBT with the node's partial signatures
    when (and only when) it is approved; empty otherwise."""

    psbt: bytes = b""
    KIND: ClassVar[Kind] = Kind.ONCHAIN_SIGNED

    def body(self) -> bytes:
        return DecisionFrame.body(self) + _var(self.psbt)

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        d = DecisionFrame.read(fid, r)
        assert isinstance(d, DecisionFrame)
        return cls.carrying(d, r.var())

    @classmethod
    def carrying(cls, d: DecisionFrame, psbt: bytes) -> OnchainSigned:
        """`d` (with its signed audit entry) and the PSBT it decided."""
        return cls(d.id, d.outcome, d.reason, d.decision_kind, d.subject_id, d.device_id,
                   d.audit_seq, d.audit_time, d.prev_hash, d.signature, psbt)  # fmt: skip


@dataclass(frozen=True, slots=True)
class NewChannel(NodeRequest):
    """Allocate the node's next channel key set (decision 0017); answered CHANNEL_KEYS."""

    KIND: ClassVar[Kind] = Kind.NEW_CHANNEL


@dataclass(frozen=True, slots=True)
class ChannelRequestFrame(NodeRequest):
    """One channel core request for the node's channel `channel_index` (u32): `request`
    is `vajra.channel.signer_codec.encode_request`'s bytes, opaque here (the signer
    decodes it; the runtime's supervisor forwards it unchanged). Answered CHANNEL_RESULT,
    or ERROR for fencing and link-level refusals."""

    channel_index: int
    request: bytes
    KIND: ClassVar[Kind] = Kind.CHANNEL_REQUEST

    def body(self) -> bytes:
        return self.head() + self.channel_index.to_bytes(4, "big") + _var(self.request)

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, r.node(), r.u64(), r.u32(), r.var())


@dataclass(frozen=True, slots=True)
class AuthoriseHtlc(NodeRequest):
    """A device-signed payment authorisation (and an owner confirmation, or empty) for
    one outgoing HTLC on the node's channel `channel_index` (u32): decided like
    AUTHORISE_PAYMENT and, if approved, recorded in the signer's copy of that channel
    (decision 0017). Answered by DECISION."""

    channel_index: int
    authorisation: bytes
    confirmation: bytes = b""
    KIND: ClassVar[Kind] = Kind.AUTHORISE_HTLC

    def body(self) -> bytes:
        return (
            self.head()
            + self.channel_index.to_bytes(4, "big")
            + _var(self.authorisation)
            + _var(self.confirmation)
        )

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, r.node(), r.u64(), r.u32(), r.var(), r.var())


@dataclass(frozen=True, slots=True)
class ChannelKeys(Frame):
    """The new channel's index (u32) and its public keys: `signer_codec.
    encode_local_keys` bytes (basepoints and the second per-commitment point)."""

    channel_index: int
    keys: bytes
    KIND: ClassVar[Kind] = Kind.CHANNEL_KEYS

    def body(self) -> bytes:
        return self.channel_index.to_bytes(4, "big") + _var(self.keys)

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, r.u32(), r.var())


@dataclass(frozen=True, slots=True)
class ChannelResult(Frame):
    """The answer to a CHANNEL_REQUEST: `signer_codec.encode_result` bytes, a policy
    refusal (`SignerRefused`) included: that is an ordinary result of the channel."""

    result: bytes
    KIND: ClassVar[Kind] = Kind.CHANNEL_RESULT

    def body(self) -> bytes:
        return _var(self.result)

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, r.var())


@dataclass(frozen=True, slots=True)
class Error(Frame):
    """A refused or failed request: `reason` is a stable code (`PolicyViolation.reason`,
    or bad_request / unsupported / internal), `detail` a human hint with no secret."""

    reason: str
    detail: str = ""
    KIND: ClassVar[Kind] = Kind.ERROR

    def body(self) -> bytes:
        return _text(_ascii(self.reason)) + _text(_ascii(self.detail))

    @classmethod
    def read(cls, fid: int, r: _Reader) -> Frame:
        return cls(fid, r.text(), r.text())


FRAMES: dict[int, type[Frame]] = {
    c.KIND: c
    for c in (
        Hello,
        AuditHead,
        Backup,
        PairRequest,
        PairAccept,
        Ping,
        CreateNodes,
        IdentitySecrets,
        StateKey,
        Ecdh,
        SignNodeAnnouncement,
        SignChannelUpdate,
        SignInvoice,
        AuthorisePayment,
        DeviceCommandReq,
        Pong,
        NodesCreated,
        Secrets,
        Secret,
        Signature,
        InvoiceSigned,
        DecisionFrame,
        AccountXpub,
        SignOnchain,
        Xpub,
        OnchainSigned,
        NewChannel,
        ChannelRequestFrame,
        AuthoriseHtlc,
        ChannelKeys,
        ChannelResult,
        Error,
    )
}
REQUEST_KINDS = frozenset(k for k in Kind if 0x10 <= k < 0x80)


def decode(data: bytes) -> Frame:
    """Parse one frame; LinkDecodeError on anything that is not exactly one frame of this version."""
    if len(data) < HEADER.size:
        raise LinkDecodeError("frame shorter than its header")
    if len(data) > MAX_FRAME:
        raise LinkDecodeError("frame exceeds 65535 bytes")
    version, kind, fid = HEADER.unpack_from(data)
    if version != VERSION:
        raise LinkDecodeError(f"link frame version {version} is not supported")
    cls = FRAMES.get(kind)
    if cls is None:
        raise LinkDecodeError(f"unknown frame kind 0x{kind:02x}")
    r = _Reader(bytes(data), HEADER.size)
    frame = cls.read(fid, r)
    if r.pos != len(data):
        raise LinkDecodeError(f"{len(data) - r.pos} trailing bytes after {cls.__name__}")
    return frame
