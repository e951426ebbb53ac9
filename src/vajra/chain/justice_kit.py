"""Justice kits: pre-signed penalty transactions, compact and sealed under the breach txid.

DESIGN.md section 12, "Justice without waking": at each counterparty revocation the
signer signs penalty transactions for the revoked commitment (one at a feerate with
headroom, one at a high feerate); the runtime keeps them in the shared watcher so that if
the revoked commitment ever appears in a block, the watcher broadcasts at once -- no node
wake, no signer round trip. This module is the blob format; `justice.py` is the store.

Sealing (as watchtowers do: BOLT 13 draft, LND's wtclient "breach hint" and "breach
key"): the blob is keyed by the revoked commitment's txid, which the store does not know
until the transaction is mined:

    hint = SHA256("vajra/justice/hint" || txid)[0:16]      the store's lookup key
    key  = SHA256("vajra/justice/key"  || txid)            ChaCha20-Poly1305 key
    blob = n (8 bytes, random) || AEAD(key, nonce n, ad = hint, kit)

so the store at rest (and whoever reads its file) learns neither the channel, the
amounts nor the destination until the breach happens -- and then only the breach. `n` is
random so two nodes watching the same txid (both ends of a channel hosted here) never
share a nonce under one key.

Kit (plaintext), every penalty variant spending the same outputs of the breach txid to
the same destination, differing only in the output amount and the signatures:

    version u8 = 1 | sequence u32 | locktime u32 | destination: u8 len, bytes |
    inputs u16, each: vout u16, tail items u8, each item: u16 len, bytes |
    variants u8, each: amount_sat u64, per input: signature u8 len, bytes

An input's witness is `signature || tail` (the tail ends with the witness script). The
txid of the breach is not in the kit: it is the key. Sans-IO, pure; `decode_kit` and
`open_blob` raise `DecodeError` subclasses only.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from vajra.bitcoin.tx import OutPoint, Tx, TxIn, TxOut
from vajra.crypto.aead import Aead
from vajra.crypto.hashes import sha256
from vajra.errors import DecodeError

KIT_VERSION = 1
HINT_SIZE = 16
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


class JusticeKitError(DecodeError):
    """Bytes that are not a justice kit, or transactions that do not make one."""


@dataclass(frozen=True, slots=True)
class JusticeKit:
    """Penalty variants for one breach txid (see the module doc for the layout)."""

    sequence: int
    locktime: int
    destination: bytes
    vouts: tuple[int, ...]
    tails: tuple[tuple[bytes, ...], ...]
    variants: tuple[tuple[int, tuple[bytes, ...]], ...]
    """(amount_sat, signature per input), in broadcast order (headroom first)."""


def breach_hint(txid: bytes) -> bytes:
    """The 16-byte lookup key of a breach txid (internal byte order)."""
    return sha256(b"vajra/justice/hint" + txid)[:HINT_SIZE]


def _breach_key(txid: bytes) -> bytes:
    return sha256(b"vajra/justice/key" + txid)


def kit_from_txs(breach_txid: bytes, txs: Sequence[Tx]) -> JusticeKit:
    """A kit from signed penalty transactions spending outputs of `breach_txid`, all with
    the same inputs, sequence, locktime and one output to the same script. Raises
    `JusticeKitError` otherwise (the signer's answer was not what was asked for)."""
    if not txs or len(txs) > 255:
        raise JusticeKitError(f"{len(txs)} variants")
    first = txs[0]
    if len(first.outputs) != 1 or not first.inputs or len(first.inputs) > 0xFFFF:
        raise JusticeKitError("a penalty has one output and 1..65535 inputs")
    seqs = {i.sequence for i in first.inputs}
    if len(seqs) != 1:
        raise JusticeKitError("inputs with different nSequence")
    vouts = tuple(i.prevout.vout for i in first.inputs)
    if any(i.prevout.txid != breach_txid or i.prevout.vout > 0xFFFF for i in first.inputs):
        raise JusticeKitError("an input does not spend the breach transaction")
    tails = tuple(tuple(i.witness[1:]) for i in first.inputs)
    variants = []
    for tx in txs:
        if (
            len(tx.outputs) != 1
            or tx.outputs[0].script_pubkey != first.outputs[0].script_pubkey
            or tx.locktime != first.locktime
            or tuple((i.prevout, i.sequence) for i in tx.inputs)
            != tuple((i.prevout, i.sequence) for i in first.inputs)
            or tuple(tuple(i.witness[1:]) for i in tx.inputs) != tails
            or any(not i.witness or len(i.witness[0]) > 255 for i in tx.inputs)
        ):
            raise JusticeKitError("variants differ in more than amount and signatures")
        variants.append((tx.outputs[0].amount_sat, tuple(i.witness[0] for i in tx.inputs)))
    return JusticeKit(
        seqs.pop(), first.locktime, first.outputs[0].script_pubkey, vouts, tails, tuple(variants)
    )


def kit_txs(kit: JusticeKit, breach_txid: bytes) -> list[Tx]:
    """The signed penalty transactions of `kit`, variants in order."""
    out = []
    for amount, sigs in kit.variants:
        ins = tuple(
            TxIn(OutPoint(breach_txid, v), b"", kit.sequence, (sig, *tail))
            for v, tail, sig in zip(kit.vouts, kit.tails, sigs, strict=True)
        )
        out.append(Tx(2, ins, (TxOut(amount, kit.destination),), kit.locktime))
    return out


def encode_kit(kit: JusticeKit) -> bytes:
    parts = [
        bytes((KIT_VERSION,)),
        _U32.pack(kit.sequence),
        _U32.pack(kit.locktime),
        bytes((len(kit.destination),)),
        kit.destination,
        _U16.pack(len(kit.vouts)),
    ]
    for vout, tail in zip(kit.vouts, kit.tails, strict=True):
        parts += (_U16.pack(vout), bytes((len(tail),)))
        for item in tail:
            parts += (_U16.pack(len(item)), item)
    parts.append(bytes((len(kit.variants),)))
    for amount, sigs in kit.variants:
        parts.append(_U64.pack(amount))
        for sig in sigs:
            parts += (bytes((len(sig),)), sig)
    return b"".join(parts)


class _Cursor:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise JusticeKitError("truncated justice kit")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(_U16.unpack(self.take(2))[0])


def decode_kit(data: bytes) -> JusticeKit:
    """`JusticeKitError` on anything but `encode_kit`'s output."""
    c = _Cursor(data)
    if c.u8() != KIT_VERSION:
        raise JusticeKitError("unknown justice kit version")
    sequence = int(_U32.unpack(c.take(4))[0])
    locktime = int(_U32.unpack(c.take(4))[0])
    destination = c.take(c.u8())
    n_in = c.u16()
    vouts, tails = [], []
    for _ in range(n_in):
        vouts.append(c.u16())
        tails.append(tuple(c.take(c.u16()) for _ in range(c.u8())))
    variants = []
    for _ in range(c.u8()):
        amount = int(_U64.unpack(c.take(8))[0])
        variants.append((amount, tuple(c.take(c.u8()) for _ in range(n_in))))
    if c.pos != len(data):
        raise JusticeKitError("trailing bytes after the justice kit")
    if not n_in or not variants:
        raise JusticeKitError("an empty justice kit")
    return JusticeKit(sequence, locktime, destination, tuple(vouts), tuple(tails), tuple(variants))


def seal(kit: bytes, breach_txid: bytes, n: int) -> tuple[bytes, bytes]:
    """(hint, blob) of an encoded kit; `n` a random 64-bit nonce (`secrets.randbits`)."""
    hint = breach_hint(breach_txid)
    body = Aead(_breach_key(breach_txid)).encrypt(n, hint, kit)
    return hint, n.to_bytes(8, "big") + body


def open_blob(blob: bytes, breach_txid: bytes) -> bytes:
    """The encoded kit; `AuthenticationError` (a `DecodeError`) if `blob` was not sealed
    under `breach_txid` (a hint collision) or was altered."""
    if len(blob) < 8 + 16:
        raise JusticeKitError("blob too short")
    n = int.from_bytes(blob[:8], "big")
    return Aead(_breach_key(breach_txid)).decrypt(n, breach_hint(breach_txid), blob[8:])
