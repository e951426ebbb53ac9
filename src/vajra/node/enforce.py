"""The node's side of on-chain enforcement (sans-IO; BOLT 5, decision 0025).

Theory of operation
-------------------
A channel's funding output is watched from the start (`Purpose.FUNDING`); its spend
wakes the node. The `Enforcer` turns chain events and the tip into signer requests and
effects, keeping everything durable in the channel's entry (`ChannelEntry.resolution`,
`vajra.onchain.resolution`), so a wake after any crash resumes where it stopped:

    funding SPENT by txid         -> classify (`classify_txid`: ours, theirs current /
                                     next); claims; Watch(SWEEP, outpoint) each; the
                                     core stops (no more updates on this channel)
    funding SPENT at height h     -> the commitment confirmed: claims start maturing
    SWEEP outpoint SPENT          -> ours (done, or our HTLC tx: its second stage) or
                                     theirs (lost the race)
    UNDONE                        -> the same facts taken back (reorg, eviction)
    READY HTLC-timeout/success    -> SignHtlcTransaction -> Broadcast (no anchors)
    any input with READY claims   -> CloseScript (the wallet script, once), then
                                     SignSweep(claims, script, feerate) -> SweepSigned:
                                     on_broadcast, Broadcast(tx)
    `force_close(channel)`        -> SignHolderCommitment(latest) -> HolderCommitment-
                                     Signed: the resolution starts from that tx,
                                     Broadcast(tx), `error` to the peer (BOLT 2 "fail
                                     the channel")
    an HTLC we offered past its   -> force_close (BOLT 2: the offering node "MUST fail
    cltv_expiry + HTLC_GRACE         the channel"; BOLT 5 then times it out on chain)
    the timer                     -> `next_height`: the earliest maturity or HTLC
                                     deadline, in the node's one WakeAt (`Node.
                                     take_effects`, kept as `NodeState.enforce_at`)

A refused sweep or commitment is recorded (`refused`) and asked again at the next wake;
a claim already broadcast is never put in a second transaction (the resolution's
BROADCAST state). Our HTLC-timeout/success transactions are asked one by one
(`SignHtlcTransaction`, the peer's stored signature with ours) once READY (a timeout at
its `cltv_expiry`); their outputs become SECOND_STAGE claims swept after
`to_self_delay`. Not done here: those transactions under anchors (zero-fee: they need a
fee input), anchor CPFP, fee estimation (sweeps pay the commitment's feerate, at least
the relay floor).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from vajra.bitcoin.tx import OutPoint
from vajra.chain.types import ChainEvent, EventKind, Purpose
from vajra.channel import signer_io as io
from vajra.channel.machine import State as ChannelState
from vajra.channel.spec import Side
from vajra.channel.sweep import FEERATE_PER_KW_FLOOR
from vajra.crypto.hashes import sha256
from vajra.node.effects import Broadcast, SendTo, Watch
from vajra.node.requests import ChannelSignerCall, CloseScript
from vajra.onchain.claims import SWEPT_BY_SWEEP, ClaimKind
from vajra.onchain.classify import Classified, CloseKind, classify, classify_txid
from vajra.onchain.resolution import Resolution, begin
from vajra.onchain.view import view_of
from vajra.wire import ErrorMessage

if TYPE_CHECKING:
    from vajra.node.channels import ChannelBook, ChannelEntry

_HTLC_TXS = (ClaimKind.HTLC_TIMEOUT_TX, ClaimKind.HTLC_SUCCESS_TX)
HTLC_GRACE = 2
"""BOLT 2 `G`: blocks after an offered HTLC's `cltv_expiry` before the channel fails
("1 or 2 blocks is reasonable")."""


class Enforcer:
    """See the module docstring. Works on the book's entries, effects and requests."""

    __slots__ = ("_asked", "_asked_htlc", "_refused", "book")

    def __init__(self, book: ChannelBook) -> None:
        self.book = book
        self._asked: set[bytes] = set()
        """Channels with a sweep or commitment request outstanding in this wake."""
        self._asked_htlc: set[OutPoint] = set()
        """HTLC outputs whose HTLC-timeout/success transaction is being signed."""
        self._refused: set[bytes] = set()
        """Channels whose request the signer refused in this wake: asked again at the
        next wake, not in a loop now."""

    # -- chain ---------------------------------------------------------------------------

    def chain_events(self, events: tuple[ChainEvent, ...]) -> None:
        for ev in events:
            if ev.purpose is Purpose.FUNDING and ev.kind is EventKind.SPENT:
                self._funding_spent(ev)
            elif ev.purpose is Purpose.FUNDING and ev.kind is EventKind.UNDONE:
                for _, e in self._entries():
                    r = e.resolution
                    if r is not None and r.closing_txid == ev.txid and ev.height > 0:
                        r.on_unconfirmed(ev.txid)
            elif ev.purpose is Purpose.SWEEP:
                for _, e in self._entries():
                    r, p = e.resolution, e.params
                    if r is None or p is None:
                        continue
                    if ev.kind is EventKind.SPENT:
                        r.on_spent(ev.outpoint, ev.txid, ev.height, p)
                    elif ev.kind is EventKind.UNDONE and ev.height > 0:
                        r.on_spent(ev.outpoint, ev.txid, 0, p)  # back in the mempool
                    elif ev.kind is EventKind.UNDONE:
                        r.on_unspent(ev.outpoint)

    def _funding_spent(self, ev: ChainEvent) -> None:
        for key, e in self._entries():
            p = e.params
            if p is None or p.funding_outpoint != ev.outpoint or e.chan is None:
                continue
            if e.resolution is None or e.resolution.closing_txid != ev.txid:
                # UNKNOWN: a mutual close, a breach (the penalty's) or a commitment newer
                # than ours; nothing to claim here
                c = classify_txid(view_of(e.chan), ev.txid)
                if c.kind is CloseKind.UNKNOWN and e.chan.state is ChannelState.CLOSED:
                    c = Classified(CloseKind.MUTUAL, ev.txid)  # the close we negotiated
                self._start(key, e, begin(view_of(e.chan), c))
            if ev.height > 0 and e.resolution is not None:
                e.resolution.on_confirmed(ev.txid, ev.height)

    def _start(self, key: bytes, e: ChannelEntry, r: Resolution) -> None:
        e.resolution = r
        for t in r.claims:
            self.book.effects.append(Watch(Purpose.SWEEP, outpoint=t.claim.outpoint))

    # -- commands ------------------------------------------------------------------------

    def force_close(self, key: bytes, why: str) -> bool:
        """Ask the signer for our latest commitment, to broadcast it. False if the
        channel is unknown, not open, or already closing on chain."""
        e = self.book.channels.get(key)
        if e is None or e.chan is None or e.resolution is not None:
            return False
        if key in self._asked or key in self._refused:
            return False
        self._asked.add(key)
        e.force_reason = why[:200]
        number = e.chan.ledger.local_commit.number
        self.book.requests.append(
            ChannelSignerCall(e.channel_index, io.SignHolderCommitment(number))
        )
        return True

    def answer(self, req: ChannelSignerCall, result: io.SignerResult) -> None:
        key = self._key(req.channel_index)
        if key is None:
            return
        if isinstance(req.request, io.SignHtlcTransaction):
            self._asked_htlc.discard(req.request.outpoint)
        else:
            self._asked.discard(key)
        e = self.book.channels[key]
        if isinstance(result, io.SignerRefused):
            e.refused = f"{result.reason} {result.detail}"[:200]
            self._refused.add(key)
            return
        e.refused = ""
        if isinstance(result, io.HolderCommitmentSigned) and e.chan is not None:
            c = classify(view_of(e.chan), result.tx)
            if e.resolution is None:
                self._start(key, e, begin(view_of(e.chan), c))
            self.book.effects.append(Broadcast(result.tx.serialize()))
            text = f"vajra: force close ({e.force_reason or 'requested'})"
            self.book.effects.append(SendTo(e.peer, ErrorMessage(key, text.encode())))
        elif isinstance(result, io.SweepSigned | io.HtlcTransactionSigned) and e.resolution:
            tx = result.tx
            e.resolution.on_broadcast(tx.txid, [i.prevout for i in tx.inputs])
            self.book.effects.append(Broadcast(tx.serialize()))

    def script_known(self, key: bytes, script: bytes | None) -> bool:
        """The wallet script for a closing channel's sweeps (`CloseScript`'s answer).
        False if the channel is not closing on chain (the cooperative path takes it)."""
        e = self.book.channels.get(key)
        if e is None or e.resolution is None:
            return False
        self._asked.discard(key)
        if script is not None:
            e.sweep_script = script
            self.book.effects.append(Watch(Purpose.CHANGE, script_pubkey=script))
        return True

    # -- every input ---------------------------------------------------------------------

    def run(self, tip: int, preimages: Mapping[bytes, bytes]) -> None:
        """Sweeps due, HTLC deadlines passed, and the timer (module docstring)."""
        for key, e in self._entries():
            r = e.resolution
            if r is None:
                if e.chan is not None and e.chan.state is not ChannelState.CLOSED:
                    deadline = self._htlc_deadline(e)
                    if deadline is not None and tip >= deadline and not e.failed:
                        self.force_close(key, f"offered HTLC past its deadline {deadline}")
                continue
            if key in self._refused:
                continue
            due = r.ready(tip, preimages)
            if e.params is not None and not e.params.anchors:
                # our HTLC transactions, one by one (under anchors they need a fee input)
                for c in due:
                    if c.kind in _HTLC_TXS and c.outpoint not in self._asked_htlc:
                        self._asked_htlc.add(c.outpoint)
                        pre = preimages.get(c.payment_hash or b"")
                        call = io.SignHtlcTransaction(c.number, c.outpoint, pre)
                        self.book.requests.append(ChannelSignerCall(e.channel_index, call))
            ready = [c for c in due if c.kind in SWEPT_BY_SWEEP]
            if not ready or key in self._asked:
                continue
            if e.sweep_script is None:
                self._asked.add(key)
                self.book.requests.append(CloseScript(key))
                continue
            feerate = FEERATE_PER_KW_FLOOR
            if e.chan is not None:
                feerate = max(feerate, e.chan.ledger.local_commit.spec.feerate_per_kw)
            claims = tuple(
                io.SweepClaim(
                    c.owner,
                    c.number,
                    c.outpoint,
                    c.value_sat,
                    c.kind.value,
                    preimages.get(c.payment_hash or b"")
                    if c.kind is ClaimKind.HTLC_PREIMAGE
                    else None,
                )
                for c in ready
            )
            self._asked.add(key)
            request = io.SignSweep(claims, e.sweep_script, feerate)
            self.book.requests.append(ChannelSignerCall(e.channel_index, request))

    def next_height(self, tip: int, preimages: Mapping[bytes, bytes]) -> int | None:
        """The earliest height at which a claim matures or an HTLC deadline passes."""
        heights: list[int] = []
        for _, e in self._entries():
            if e.resolution is not None:
                h = e.resolution.next_height(tip, preimages)
            elif e.chan is not None and e.chan.state is not ChannelState.CLOSED:
                h = self._htlc_deadline(e)
            else:
                h = None
            if h is not None and h > tip:
                heights.append(h)
        return min(heights, default=None)

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _htlc_deadline(e: ChannelEntry) -> int | None:
        """BOLT 2: an HTLC we offered, in either side's current commitment, must not
        stay off chain past `cltv_expiry + G`."""
        assert e.chan is not None
        led = e.chan.ledger
        expiries = [
            h.cltv_expiry
            for spec in (led.local_commit.spec, led.remote_commit.spec)
            for h in spec.offered_by(Side.LOCAL)
        ]
        return min(expiries) + HTLC_GRACE if expiries else None

    def _entries(self) -> list[tuple[bytes, ChannelEntry]]:
        return list(self.book.channels.items())

    def _key(self, index: int) -> bytes | None:
        for key, e in self.book.channels.items():
            if e.channel_index == index:
                return key
        return None


def known_preimages(payments: Mapping[bytes, object], received: list[object]) -> dict[bytes, bytes]:
    """Preimages the node holds (its received payments' and its own paid ones'), by hash."""
    out: dict[bytes, bytes] = {}
    for p in received:
        pre = getattr(p, "preimage", "")
        if isinstance(pre, str) and pre:
            b = bytes.fromhex(pre)
            out[sha256(b)] = b
    for pay in payments.values():
        pre2 = getattr(pay, "preimage", None)
        if isinstance(pre2, bytes):
            out[sha256(pre2)] = pre2
    return out
