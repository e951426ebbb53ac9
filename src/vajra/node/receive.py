"""Receiving payments: incoming HTLCs from the peer's `update_add_htlc` to `update_fulfill_htlc`
or a BOLT 4 failure (sans-IO; decision 0022).

Theory of operation
-------------------
A hosted node is the final hop of every HTLC it accepts (it never forwards). Per HTLC
`key = (channel_id, htlc_id)`, in the sealed state (`ReceiveState`):

    update_add_htlc       -> onions[key] = the packet (the channel core keeps only the
                             ledger; the node keeps the onion until it decides)
    irrevocably committed -> (BOLT 2: in both current commitments, the previous ones
                             revoked: `Ledger.settleable`) with the chain tip known and
                             the invoice looked up (`LookupInvoice`, answered by the
                             runtime from the store): `final_hop.receive_htlc` ->
        Malformed / Fail  -> resolutions[key] = malformed / fail (the encrypted packet)
        Accept            -> the MPP collector (parts kept in `parts`, rebuilt at load):
          Pending         -> held; `WakeAt(unix_time=first part + timeout)`
          Complete        -> resolutions[every part] = fulfil (preimage re-derived from
                             the invoice's payment secret, or the keysend preimage)
          Failed          -> resolutions[every part] = fail (mpp_timeout, total mismatch)
    resolutions[key]      -> the channel command (`FulfillHtlc`, `FailHtlc`,
                             `FailMalformedHtlc`) whenever the channel is NORMAL and UP
                             and the HTLC is still settleable; then `SignCommitment`
                             (the book's pump). A resolution stays until the HTLC has left
                             both commitments, so an update erased by a disconnection
                             (BOLT 2) is proposed again on the next pass.

Every decision is a payment record (`vajra.node.payments`) for hashes of our invoices
and keysends: pending with the first part, then succeeded (with preimage, amount and
parts) or failed (reason). HTLCs for unknown hashes are failed without a record (a
probe must not grow the state).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from vajra.channel import signer_io as io
from vajra.channel.machine import Channel, ChannelBusy, ChannelOffline, State
from vajra.channel.reestablish import Link
from vajra.channel.spec import Side
from vajra.channel.updates import UpdateRuleBroken
from vajra.crypto.hashes import sha256
from vajra.errors import DecodeError, ProtocolError
from vajra.invoice import Invoice
from vajra.node import received as pay
from vajra.node.channels import ChannelBook
from vajra.node.invoices import ReceiveKeys
from vajra.onion import (
    Accept,
    Complete,
    Fail,
    Failed,
    HopPayload,
    IncomingHtlc,
    InvoiceTerms,
    Malformed,
    MppCollector,
    Pending,
    build_failure_packet,
    receive_htlc,
)
from vajra.wire import UpdateAddHtlc

MPP_TIMEOUT_S = 90.0
"""BOLT 4: "SHOULD wait for at least 60 seconds after the initial HTLC"."""
MAX_HELD_ONIONS = 2 * 483 * 64
"""Bound on kept onions (483 HTLCs each way per channel, 64 channels)."""

Key = tuple[bytes, int]


def _k(key: Key) -> str:
    return f"{key[0].hex()}:{key[1]}"


def _unk(s: str) -> Key:
    cid, _, i = s.partition(":")
    return bytes.fromhex(cid), int(i)


def _hex(b: bytes | None) -> str:
    return "" if b is None else b.hex()


def _unhex(s: object) -> bytes | None:
    return bytes.fromhex(str(s)) if s else None


def encode_accept(a: Accept) -> dict[str, object]:
    return {"h": a.payment_hash.hex(), "a": a.amount_msat, "t": a.total_msat,
            "s": _hex(a.payment_secret), "p": _hex(a.preimage), "ss": a.shared_secret.hex(),
            "pl": a.payload.encode().hex()}  # fmt: skip


def decode_accept(o: dict[str, object]) -> Accept:
    return Accept(bytes.fromhex(str(o["h"])), int(str(o["a"])), int(str(o["t"])),
                  _unhex(o["s"]), _unhex(o["p"]), bytes.fromhex(str(o["ss"])),
                  HopPayload.decode(bytes.fromhex(str(o["pl"]))))  # fmt: skip


@dataclass(slots=True)
class ReceiveState:
    """The receive side of the sealed node state (see the module docstring)."""

    onions: dict[str, dict[str, object]] = field(default_factory=dict)
    """"cid:id" -> the HTLC's payment_hash, amount, cltv, onion and path_key (hex)."""
    parts: list[dict[str, object]] = field(default_factory=list)
    """Accepted MPP parts not yet complete: key, arrival time, the `Accept`."""
    resolutions: dict[str, dict[str, object]] = field(default_factory=dict)
    """"cid:id" -> how the HTLC is settled: {"f": "fulfill", "d": preimage} |
    {"f": "fail", "d": reason packet} | {"f": "malformed", "d": sha256_of_onion, "c": code}."""
    deadline: int = 0
    """The MPP timeout last asked of the runtime as a `WakeAt` (unix seconds; 0: none)."""

    def to_json(self) -> dict[str, object]:
        return {"onions": self.onions, "parts": self.parts, "resolutions": self.resolutions,
                "deadline": self.deadline}  # fmt: skip

    @classmethod
    def from_json(cls, obj: object) -> ReceiveState:
        if obj is None:
            return cls()
        if not isinstance(obj, dict):
            raise DecodeError("receive state: not an object")
        return cls(dict(obj["onions"]), list(obj["parts"]), dict(obj["resolutions"]),
                   int(obj.get("deadline", 0)))  # fmt: skip


class Receiver:
    """The node's receive path over its `ChannelBook` (built per wake, state in `rs`)."""

    __slots__ = ("book", "changed", "collector", "invoices", "keys", "payments", "rs", "wanted")

    def __init__(
        self,
        book: ChannelBook,
        rs: ReceiveState,
        payments: list[pay.ReceivedPayment],
        keys: ReceiveKeys | None,
    ) -> None:
        self.book = book
        self.rs = rs
        self.payments = payments
        self.keys = keys
        self.invoices: dict[bytes, Invoice | None] = {}
        """Invoices looked up this wake (None: no invoice for that hash)."""
        self.wanted: set[bytes] = set()
        """Hashes asked of the runtime and not answered yet."""
        self.changed = False
        """The pass changed the state (the node must be written)."""
        self.collector = MppCollector(MPP_TIMEOUT_S)
        for p in sorted(rs.parts, key=lambda p: float(str(p["t"]))):
            a = decode_accept(p["a"])  # type: ignore[arg-type]
            self.collector.add(_unk(str(p["k"])), a, now=float(str(p["t"])), height=0)

    # -- inputs ---------------------------------------------------------------------------

    def htlc_added(self, m: UpdateAddHtlc) -> None:
        """Keep the onion of an `update_add_htlc` the channel accepted (or re-accepted
        after a reconnection, under the same id)."""
        entry = self.book.channels.get(m.channel_id)
        ch = entry.chan if entry is not None else None
        if ch is None:
            return
        if not ch.awaiting_signer and ch.ledger.next_htlc_id[Side.REMOTE] != m.id + 1:
            return  # refused by the channel (it failed): nothing to keep (a message held
            # while the signer works is replayed later: keep its onion meanwhile)
        if len(self.rs.onions) >= MAX_HELD_ONIONS:
            return  # unreachable with honest limits; the HTLC then times out at the peer
        path_key = m.tlvs.blinded_path
        self.rs.onions[_k((m.channel_id, m.id))] = {
            "h": m.payment_hash.hex(), "a": m.amount_msat, "c": m.cltv_expiry,
            "o": m.onion_routing_packet.hex(), "p": _hex(path_key),
        }  # fmt: skip

    def invoice_found(self, payment_hash: bytes, invoice: Invoice | None) -> None:
        self.wanted.discard(payment_hash)
        if invoice is not None and (
            self.keys is None
            or invoice.payment_hash != payment_hash
            or sha256(self.keys.preimage(invoice.payment_secret)) != payment_hash
        ):
            invoice = None  # not an invoice we issued: its preimage is not ours to derive
        self.invoices[payment_hash] = invoice

    # -- the pass -------------------------------------------------------------------------

    def run(self, height: int, now: int) -> list[bytes]:
        """Decide every settleable HTLC we can, expire MPP sets, carry out resolutions.
        Returns the payment hashes to look up (the runtime answers `invoice_found`)."""
        for key, ch in self._settleable():
            ks = _k(key)
            if ks in self.rs.resolutions or self._held(ks):
                continue
            htlc = self.rs.onions.get(ks)
            if htlc is None or self.keys is None or height <= 0:
                continue  # no onion (cannot happen for HTLCs added since) / no tip yet
            payment_hash = bytes.fromhex(str(htlc["h"]))
            if payment_hash not in self.invoices:
                if payment_hash not in self.wanted:
                    self.wanted.add(payment_hash)
                continue
            del self.rs.onions[ks]
            self.changed = True
            self._decide(key, htlc, ch, height, now)
        for failed in self.collector.expire(now):
            self.changed = True
            self._failed(failed, now)
        self._prune()
        self._apply(now)
        return sorted(self.wanted)

    def next_deadline(self) -> int | None:
        """Unix time of the next MPP timeout (a `WakeAt`), None with no set pending."""
        d = self.collector.next_deadline()
        return None if d is None else math.ceil(d)

    # -- decisions ------------------------------------------------------------------------

    def _decide(
        self, key: Key, htlc: dict[str, object], ch: Channel, height: int, now: int
    ) -> None:
        assert self.keys is not None
        payment_hash = bytes.fromhex(str(htlc["h"]))
        led = ch.ledger.local_commit.spec.find(Side.REMOTE, key[1])
        if led is None or led.payment_hash != payment_hash:
            return  # the onion is of an HTLC the channel no longer has under that id
        incoming = IncomingHtlc(payment_hash, led.amount_msat, led.cltv_expiry,
                                bytes.fromhex(str(htlc["o"])), _unhex(htlc["p"]))  # fmt: skip
        invoice = self.invoices.get(payment_hash)
        record = pay.find(self.payments, pay.INCOMING, payment_hash)
        settled = record is not None and record.state == pay.SUCCEEDED

        def terms(h: bytes) -> InvoiceTerms | None:
            return None if invoice is None else InvoiceTerms.from_invoice(invoice, settled=settled)

        out = receive_htlc(incoming, self.keys.ecdh, terms, height=height, now=now)
        ks = _k(key)
        if isinstance(out, Malformed):
            self.rs.resolutions[ks] = {"f": "malformed", "d": out.sha256_of_onion.hex(),
                                       "c": out.failure_code}  # fmt: skip
        elif isinstance(out, Fail):
            self.rs.resolutions[ks] = {"f": "fail", "d": out.packet().hex()}
            if invoice is not None and not settled and not self._held(None, payment_hash):
                rec = self._record(payment_hash, now)
                rec.state, rec.reason, rec.settled_at = pay.FAILED, out.reason, now
        else:
            self._accepted(key, out, height, now)

    def _accepted(self, key: Key, a: Accept, height: int, now: int) -> None:
        rec = self._record(a.payment_hash, now, reopen=True)
        rec.parts += 1
        rec.amount_msat += a.amount_msat
        got = self.collector.add(key, a, now=now, height=height)
        if isinstance(got, Pending):
            self.rs.parts.append({"k": _k(key), "t": now, "a": encode_accept(a)})
            return
        self.rs.parts = [p for p in self.rs.parts if p["a"]["h"] != a.payment_hash.hex()]  # type: ignore[index]
        if isinstance(got, Failed):
            self._failed(got, now)
            return
        self._complete(got, now)

    def _complete(self, c: Complete, now: int) -> None:
        first = c.parts[0][1]
        preimage = first.preimage  # keysend
        if preimage is None:
            inv = self.invoices.get(c.payment_hash)
            assert inv is not None and self.keys is not None  # Accept needs our invoice
            preimage = self.keys.preimage(inv.payment_secret)
        rec = self._record(c.payment_hash, now)
        rec.state, rec.amount_msat, rec.reason = pay.SUCCEEDED, c.received_msat, ""
        rec.preimage, rec.settled_at, rec.parts = preimage.hex(), now, len(c.parts)
        for key, _ in c.parts:
            self.rs.resolutions[_k(key)] = {"f": "fulfill", "d": preimage.hex()}  # type: ignore[arg-type]

    def _failed(self, f: Failed, now: int) -> None:
        self.rs.parts = [p for p in self.rs.parts if p["a"]["h"] != f.payment_hash.hex()]  # type: ignore[index]
        for key, a, failure in f.parts:
            packet = build_failure_packet(a.shared_secret, failure)
            self.rs.resolutions[_k(key)] = {"f": "fail", "d": packet.hex()}  # type: ignore[arg-type]
        rec = self._record(f.payment_hash, now)
        rec.state, rec.reason, rec.settled_at = pay.FAILED, f.reason, now

    def _record(
        self, payment_hash: bytes, now: int, *, reopen: bool = False
    ) -> pay.ReceivedPayment:
        """The received payment's record, created if new; `reopen`: a new part after a
        failed attempt makes it pending again (one record per payment hash)."""
        rec = pay.find(self.payments, pay.INCOMING, payment_hash)
        if rec is None:
            rec = pay.ReceivedPayment(pay.INCOMING, payment_hash.hex(), 0, created_at=now)
            pay.add(self.payments, rec)
        elif reopen and rec.state == pay.FAILED:
            rec.state, rec.reason, rec.settled_at = pay.PENDING, "", 0
            rec.parts = rec.amount_msat = 0
        return rec

    # -- carrying out ------------------------------------------------------------------------

    def _apply(self, now: int) -> None:
        touched: set[bytes] = set()
        for key, ch in self._settleable():
            r = self.rs.resolutions.get(_k(key))
            if r is None:
                continue
            kind, data = str(r["f"]), bytes.fromhex(str(r["d"]))
            cmd: io.Command
            if kind == "fulfill":
                cmd = io.FulfillHtlc(key[1], data)
            elif kind == "fail":
                cmd = io.FailHtlc(key[1], data)
            else:
                cmd = io.FailMalformedHtlc(key[1], data, int(str(r["c"])))
            try:
                ch.command(cmd, now)
            except (ChannelBusy, ChannelOffline, UpdateRuleBroken, ProtocolError):
                continue  # busy or offline: the next pass retries; broken: kept for a look
            touched.add(key[0])
        for cid in touched:  # one commitment_signed for all the channel's settlements
            self.changed = True
            self.book.pump(cid, now)

    def _settleable(self) -> Iterator[tuple[Key, Channel]]:
        for cid, e in list(self.book.channels.items()):
            ch = e.chan
            if ch is None or ch.state is not State.NORMAL or ch.link is not Link.UP:
                continue
            for h in ch.ledger.settleable(Side.LOCAL):
                yield (cid, h.id), ch

    def _held(self, ks: str | None, payment_hash: bytes | None = None) -> bool:
        if payment_hash is not None:
            return any(p["a"]["h"] == payment_hash.hex() for p in self.rs.parts)  # type: ignore[index]
        return any(p["k"] == ks for p in self.rs.parts)

    def _prune(self) -> None:
        """Forget onions of HTLCs a disconnection erased and resolutions of HTLCs that
        left both commitments (or whose channel is gone)."""
        for ks in list(self.rs.onions):
            cid, i = _unk(ks)
            e = self.book.channels.get(cid)
            if e is not None and e.chan is not None and e.chan.awaiting_signer:
                continue  # its add may still be waiting to be replayed
            if e is None or e.chan is None or i >= e.chan.ledger.next_htlc_id[Side.REMOTE]:
                del self.rs.onions[ks]
                self.changed = True
        for ks in list(self.rs.resolutions):
            cid, i = _unk(ks)
            e = self.book.channels.get(cid)
            led = e.chan.ledger if e is not None and e.chan is not None else None
            if led is None or (
                led.local_commit.spec.find(Side.REMOTE, i) is None
                and led.remote_commit.spec.find(Side.REMOTE, i) is None
            ):
                del self.rs.resolutions[ks]
                self.changed = True
