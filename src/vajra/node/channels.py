"""A node's channels: routing BOLT 2 messages, signer requests and chain events to each
channel's sans-IO core, and turning their outputs into node effects (sans-IO).

Theory of operation
-------------------
`ChannelBook` owns `channels` (part of the sealed `NodeState`): one `ChannelEntry` per
channel, keyed by the BOLT 2 `temporary_channel_id` until the funding outpoint is known,
then by `channel_id`. An entry holds either an `Establishment` (v1 open, fundee role) or,
from `channel_ready` on, a normal-operation `Channel`.

    open_channel (policy ok) -> entry(keys pending) -> NewChannelKeys request
    keys answered            -> Establishment.fundee, fed the open_channel
    every input              -> pump: messages -> SendTo, core requests ->
                                ChannelSignerCall, events -> entry bookkeeping
    funding outpoint known   -> rekey by channel_id, Watch(FUNDING, funding script)
    funding output at h      -> depth = tip - h + 1; >= minimum_depth: FundingConfirmed,
                                else WakeAt(height = h + minimum_depth - 1)
    channel READY            -> entry.chan = est.channel()
    peer's shutdown, none of ours -> CloseScript request (the wallet's change script);
                                answered: Watch(CHANGE, script), Close command
                                (`vajra.node.closing`)
    operator's close         -> `close_out`: checks, Watch(CHANGE, script), Close command
    MutualCloseReady         -> Broadcast(closing tx); the entry stays, state closing
    funding outpoint spent   -> closing_txid / closing_height; confirmed: state closed,
                                the funding watches dropped (`vajra.node.closing`)

Peer input never raises here: a message for an unknown channel (or one of another peer)
gets an `error` naming it (BOLT 2: "SHOULD send an error"); the cores fail their channel
with an `error` on a broken rule. An establishment that fails before its funding outpoint
is known is forgotten; a funded channel that fails stays listed as failed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from vajra.bitcoin.script import p2wsh
from vajra.bitcoin.tx import OutPoint
from vajra.chain.types import BlockRef, ChainEvent, EventKind, Purpose
from vajra.channel import persist
from vajra.channel import signer_io as io
from vajra.channel.establish import Establishment, FundingConfirmed, LocalKeys, State
from vajra.channel.establish_io import OpenArgs, channel_type_bytes
from vajra.channel.machine import Channel
from vajra.channel.machine import State as ChannelState
from vajra.channel.reestablish import Link
from vajra.channel.scripts import funding_script
from vajra.channel.spec import ChannelParams, Side
from vajra.errors import DecodeError, VajraError
from vajra.node.aliases import scid_alias
from vajra.node.closing import check_close_out, close_command, funding_spent, wants_close_script
from vajra.node.config import MAX_CHANNELS, MAX_PENDING_PER_PEER, NodeConfig
from vajra.node.effects import Broadcast, Effect, SendTo, WakeAt, Watch
from vajra.node.enforce import Enforcer
from vajra.node.funder_book import FunderBook
from vajra.node.funding import OpenRequest
from vajra.node.requests import ChannelSignerCall, CloseScript, NewChannelKeys, NodeRequest
from vajra.onchain.resolution import Resolution
from vajra.wire import (
    ChannelReestablish,
    ErrorMessage,
    FundingSigned,
    Message,
    OpenChannel,
    WarningMessage,
)

ALL_CHANNELS = bytes(32)
ACCEPTED_TYPES = (channel_type_bytes(anchors=False), channel_type_bytes(anchors=True))
"""`channel_type`s we accept: `option_static_remotekey`, with or without anchors."""


@dataclass(slots=True)
class ChannelEntry:
    """One channel of the node, in whatever phase it is."""

    peer: bytes
    """33-byte node id of the counterparty."""
    channel_index: int = -1
    """The signer's index of this channel's key set (-1 until the keys are granted)."""
    open_msg: OpenChannel | None = None
    """The peer's `open_channel`, held while the keys are being fetched."""
    est: Establishment | None = None
    chan: Channel | None = None
    funding_height: int = 0
    """Height of the block holding the funding output (0: not seen confirmed)."""
    failed: str = ""
    """Why the channel failed ("" while it has not)."""
    committed: bool = False
    """We sent our signature of the peer's commitment 0 (`funding_signed`), or as funder
    validated theirs: from then on the funder can broadcast, so the channel exists on
    chain even if it fails."""
    open_args: OpenArgs | None = None
    """Our own open (funder), held while the keys are being fetched."""
    funding_asked: bool = False
    """Funder: `FundChannel` was emitted since the node woke (not persisted: asked again
    at the next wake if the outpoint is still missing)."""
    closing_txid: bytes = b""
    """The transaction spending the funding output: our agreed mutual close once signed,
    then whatever the watcher saw spend it (internal byte order; b"": none yet)."""
    closing_height: int = 0
    """Height of the block holding that spend (0: not confirmed)."""
    resolution: Resolution | None = None
    """Once the funding output is spent: what the node claims on chain (`vajra.node.
    enforce`, BOLT 5)."""
    sweep_script: bytes | None = None
    """The wallet script the sweeps pay (the `CloseScript` answer)."""
    refused: str = ""
    """The signer's last refusal of a force close or a sweep ("" once one succeeds)."""
    force_reason: str = ""
    """Why the node force-closed the channel ("" if it did not)."""

    @property
    def params(self) -> ChannelParams | None:
        if self.chan is not None:
            return self.chan.ledger.channel
        return self.est.params if self.est is not None else None

    @property
    def phase(self) -> str:
        """opening | awaiting_depth | ready | closing | closed | failed (what `vajra node
        ID channels` shows). closing_onchain: the funding output was spent by a
        commitment and the node still has outputs to claim (BOLT 5); closed: the funding
        output's spend is confirmed and nothing is left to claim."""
        if self.resolution is not None and self.resolution.claims_open():
            return "closing_onchain"
        if self.closing_height:
            return "closed"
        if self.resolution is not None:
            return "closing"  # spent by a transaction that owes us nothing: not yet deep
        if self.failed:
            return "failed"
        if self.chan is not None:
            if self.chan.state is ChannelState.CLOSED:
                return "closing"  # agreed and broadcast, not yet confirmed
            sd = self.chan.shutdown
            return "closing" if sd.local_script or sd.remote_script else "ready"
        if self.est is not None and self.est.state in (
            State.AWAIT_DEPTH,
            State.AWAIT_CHANNEL_READY,
        ):
            return "awaiting_depth"
        return "opening"

    def summary(self) -> dict[str, object]:
        """Non-secret facts for the operator's listing (no keys, no signatures)."""
        p = self.params
        out: dict[str, object] = {"peer": self.peer.hex(), "state": self.phase}
        if self.failed:
            out["failed"] = self.failed
        if p is None:
            return out
        out |= {
            "channel_id": p.channel_id.hex(),
            "funding_txid": p.funding_outpoint.txid[::-1].hex(),
            "funding_vout": p.funding_outpoint.vout,
            "capacity_sat": p.capacity_sat,
            "funder": "local" if p.funder is Side.LOCAL else "remote",
            "funding_height": self.funding_height,
        }
        if self.closing_txid:
            out["closing_txid"] = self.closing_txid[::-1].hex()
            out["closing_height"] = self.closing_height
        if self.resolution is not None:
            out["onchain"] = self.resolution.summary()
        if self.refused:
            out["onchain_refused"] = self.refused
        if self.chan is not None:
            spec = self.chan.ledger.local_commit.spec
            out["local_balance_msat"] = spec.balance_msat[Side.LOCAL]
            out["remote_balance_msat"] = spec.balance_msat[Side.REMOTE]
            if self.chan.remote_alias is not None:
                # The alias the peer gave us (BOLT 2 channel_ready): for our route hints.
                out["peer_alias_scid"] = self.chan.remote_alias
        return out


def encode_entry(key: bytes, e: ChannelEntry) -> dict[str, object]:
    """One entry as JSON-able data; its core through `vajra.channel.persist` (raises
    `NotAtRest` if the core waits for the signer)."""
    if e.chan is not None:
        kind, blob = "C", persist.encode_channel(e.chan)
    elif e.est is not None:
        kind, blob = "E", persist.encode_establishment(e.est)
    else:
        raise persist.NotAtRest("channel entry", "awaiting_keys")
    out: dict[str, object] = {
        "id": key.hex(), "peer": e.peer.hex(), "index": e.channel_index, "kind": kind,
        "core": blob.hex(), "height": e.funding_height, "failed": e.failed,
        "committed": e.committed, "closing_txid": e.closing_txid.hex(),
        "closing_height": e.closing_height,
    }  # fmt: skip
    if e.resolution is not None:
        out["resolution"] = e.resolution.to_json()
        out["sweep_to"] = None if e.sweep_script is None else e.sweep_script.hex()
    if e.refused or e.force_reason:
        out["refused"], out["force"] = e.refused, e.force_reason
    return out


def decode_entry(obj: object) -> tuple[bytes, ChannelEntry]:
    """`encode_entry`'s data back. Raises `DecodeError`."""
    if not isinstance(obj, dict):
        raise DecodeError("channel entry: not an object")
    try:
        blob = bytes.fromhex(str(obj["core"]))
        e = ChannelEntry(bytes.fromhex(str(obj["peer"])), int(obj["index"]))
        if obj["kind"] == "C":
            e.chan = persist.decode_channel(blob)
        elif obj["kind"] == "E":
            e.est = persist.decode_establishment(blob)
        else:
            raise DecodeError(f"channel entry: unknown kind {obj['kind']!r}")
        e.funding_height, e.failed = int(obj["height"]), str(obj["failed"])
        e.committed = bool(obj["committed"])
        # Absent in states written before the node followed its closes (decision 0029).
        e.closing_txid = bytes.fromhex(str(obj.get("closing_txid", "")))
        e.closing_height = int(obj.get("closing_height", 0))
        if obj.get("resolution") is not None:
            e.resolution = Resolution.from_json(obj["resolution"])
            to = obj.get("sweep_to")
            e.sweep_script = None if to is None else bytes.fromhex(str(to))
        e.refused, e.force_reason = str(obj.get("refused", "")), str(obj.get("force", ""))
        return bytes.fromhex(str(obj["id"])), e
    except (KeyError, ValueError, TypeError) as err:
        raise DecodeError(f"channel entry: {err}") from None


def funding_output_script(p: ChannelParams) -> bytes:
    """BOLT 3: the funding output is P2WSH of the 2-of-2 of both funding pubkeys."""
    a, b = (bp.funding_pubkey for bp in p.basepoints)
    return p2wsh(funding_script(a, b))


class ChannelBook(FunderBook):
    """Routes inputs to a node's channels (see the module docstring; the funder's
    methods: `vajra.node.funder_book`)."""

    __slots__ = ("_close_asked", "_watched", "channels", "config", "effects", "enforcer",
                 "refusals", "requests")  # fmt: skip

    def __init__(self, channels: dict[bytes, ChannelEntry], config: NodeConfig) -> None:
        self.channels = channels
        self.config = config
        self.effects: list[Effect] = []
        self.requests: deque[NodeRequest] = deque()
        self.refusals: list[tuple[bytes, io.SigningRefused]] = []
        """Commitments the signer refused, by channel key (the node's payer reads them)."""
        self._watched: set[bytes] = set()
        self._close_asked: set[bytes] = set()
        """Channels whose `CloseScript` is outstanding (not persisted: asked again at the
        next input of a channel still owing its shutdown)."""
        self.enforcer = Enforcer(self)
        """On-chain enforcement: force closes and BOLT 5 sweeps (`vajra.node.enforce`)."""

    # -- peer input ---------------------------------------------------------------------

    def open_channel(self, peer: bytes, m: OpenChannel) -> None:
        """BOLT 2 `open_channel`: the operator's policy and our cheap checks first (no
        signer request for an open we would refuse), then ask for the channel's keys."""
        why = self._refusal(peer, m)
        if why is not None:
            self._send(peer, ErrorMessage(m.temporary_channel_id, why.encode()))
            return
        self.channels[m.temporary_channel_id] = ChannelEntry(peer, open_msg=m)
        self.requests.append(NewChannelKeys(peer, m.temporary_channel_id))

    def open_out(self, peer: bytes, req: OpenRequest) -> None:
        """We open to `peer` (funder, `vajra.node.funding`): keys first. Raises
        `OpenRefused` (nothing changed)."""
        args = self.check_open_out(peer, req)
        self.channels[req.temporary_channel_id] = ChannelEntry(peer, open_args=args)
        self.requests.append(NewChannelKeys(peer, req.temporary_channel_id))

    def _refusal(self, peer: bytes, m: OpenChannel) -> str | None:
        if m.chain_hash != self.config.chain_hash:
            return "unknown chain"
        if m.tlvs.channel_type not in ACCEPTED_TYPES:
            return "channel_type required: option_static_remotekey, optionally with anchors"
        if m.temporary_channel_id in self.channels:
            return "temporary_channel_id already in use"
        if len(self.channels) >= MAX_CHANNELS:
            return "too many channels"
        pending = sum(1 for e in self.channels.values() if e.peer == peer and e.chan is None)
        if pending >= MAX_PENDING_PER_PEER:
            return "too many channels being opened"
        return self.config.inbound.refusal(peer, m.funding_satoshis)

    def message(self, peer: bytes, msg: Message, now: float) -> None:
        """A BOLT 2 message naming a channel (`channel_id` / `temporary_channel_id`)."""
        cid = getattr(msg, "channel_id", None)
        if cid is None:
            cid = getattr(msg, "temporary_channel_id", None)
        if not isinstance(cid, bytes):
            return
        if isinstance(msg, ErrorMessage) and cid == ALL_CHANNELS:
            # BOLT 1: "all-zero channel_id": every channel with the sending node fails.
            for key, e in list(self.channels.items()):
                if e.peer == peer:
                    self._feed(key, e, msg, now)
            return
        entry = self.channels.get(cid)
        if entry is None or entry.peer != peer:
            if msg.NAME in ("error", "warning"):
                return  # BOLT 1: an error about no channel of ours is ignored
            # BOLT 2 (channel_reestablish), the same for every channel message:
            # "SHOULD send an error" for an unknown channel_id.
            self._send(peer, ErrorMessage(cid, b"vajra: unknown channel"))
            return
        if msg.NAME == "announcement_signatures":
            return  # we announce no channel (BOLT 7: unannounced channels are private)
        core = entry.chan if entry.chan is not None else entry.est
        if isinstance(msg, ChannelReestablish) and core is not None:
            # The peer reconnected. A sleeping node is not told of disconnections (the
            # runtime answers the peer meanwhile), so its channel may still think the
            # old connection is up: close that one first (BOLT 2 "upon disconnection"),
            # then open the new one (our own channel_reestablish goes out first).
            if core.link is Link.UP:
                core.disconnected(now)
            if core.link is Link.DOWN:
                core.connected(now)
        self._feed(cid, entry, msg, now)

    def peer_connected(self, peer: bytes, now: float) -> None:
        """A new connection from `peer` (after `init`, before any channel message on it):
        BOLT 2 "upon reconnection: MUST transmit channel_reestablish for each channel".
        The old connection is gone: a channel still linked to it learns so first (an
        establishment before `funding_signed` is forgotten)."""
        for key, e in list(self.channels.items()):
            core = e.chan if e.chan is not None else e.est
            if e.peer != peer or core is None:
                continue
            if core.link is not Link.DOWN:
                core.disconnected(now)
            core.connected(now)
            self.pump(key, now)

    def peer_disconnected(self, peer: bytes, now: float) -> None:
        """The connection to `peer` closed while the node was awake (BOLT 2: uncommitted
        updates are forgotten; an establishment before `funding_signed` is abandoned)."""
        for key, e in list(self.channels.items()):
            core = e.chan if e.chan is not None else e.est
            if e.peer == peer and core is not None and core.link is not Link.DOWN:
                core.disconnected(now)
                self.pump(key, now)

    def _feed(self, key: bytes, e: ChannelEntry, msg: Message, now: float) -> None:
        if e.chan is not None:
            e.chan.receive_message(msg, now)
        elif e.est is not None:
            e.est.receive_message(msg, now)
        elif isinstance(msg, ErrorMessage):  # still waiting for keys: forget the open
            del self.channels[key]
            return
        else:
            return  # a second message before our accept_channel: ignore it
        self.pump(key, now)

    # -- signer answers -------------------------------------------------------------------

    def keys_granted(self, req: NewChannelKeys, index: int, keys: LocalKeys, now: float) -> None:
        e = self.channels.get(req.temporary_channel_id)
        if e is not None and e.open_args is not None and e.peer == req.peer:
            e.channel_index = index
            self.funder_keys(req.temporary_channel_id, e, keys, now)
            return
        if e is None or e.open_msg is None or e.peer != req.peer:
            return  # the open was abandoned meanwhile (peer error); the index stays unused
        e.channel_index = index
        cfg = self.config.establish_config(e.open_msg)
        e.est = Establishment.fundee(cfg, keys, alias=scid_alias(index))
        m, e.open_msg = e.open_msg, None
        e.est.receive_message(m, now)
        self.pump(req.temporary_channel_id, now)

    def signer_answer(self, req: ChannelSignerCall, result: io.SignerResult, now: float) -> None:
        key = self._by_index(req.channel_index)
        if key is None:
            return
        e = self.channels[key]
        core = e.chan if e.chan is not None else e.est
        if core is None:
            return
        core.signer_result(result, now)
        self.pump(key, now)

    def request_failed(self, req: NodeRequest, reason: str) -> None:
        """The signer could not be asked (unreachable). Only a key request can fail this
        way and leave the node consistent: the open is refused; the runtime drops the
        awake node without writing for a failed channel request (see `NodeHost`)."""
        if isinstance(req, NewChannelKeys):
            e = self.channels.pop(req.temporary_channel_id, None)
            if e is not None and e.open_args is None:  # our own open: nothing was sent
                text = f"vajra: signer unavailable ({reason}), try again later"
                self._send(e.peer, ErrorMessage(req.temporary_channel_id, text.encode()))

    def close_out(self, channel_id: bytes, script: bytes, now: float) -> None:
        """The operator closes the channel cooperatively, our share to `script` (the
        wallet's, `vajra.node.closing`). Raises `CloseRefused` (nothing changed)."""
        check_close_out(self.channels.get(channel_id), channel_id)
        self._close(channel_id, script, now)

    def close_script(self, channel_id: bytes, script: bytes | None, now: float) -> None:
        """The runtime's answer to `CloseScript`: our `shutdown` pays `script` (None: no
        wallet record yet; asked again at the channel's next input)."""
        self._close_asked.discard(channel_id)
        if self.enforcer.script_known(channel_id, script):
            return
        e = self.channels.get(channel_id)
        if script is None or e is None or e.chan is None or not wants_close_script(e.chan):
            return
        self._close(channel_id, script, now)

    def _close(self, channel_id: bytes, script: bytes, now: float) -> None:
        e = self.channels[channel_id]
        assert e.chan is not None
        cmd = close_command(e.chan, script)
        try:
            e.chan.command(cmd, now)
        except VajraError as err:  # e.g. a script not of a BOLT 2 form: keep waiting
            self._send(e.peer, WarningMessage(channel_id, f"vajra: close: {err}"[:200].encode()))
            return
        if script not in self._watched:
            self._watched.add(script)
            # The watcher credits our share to the node's wallet (change chain).
            self.effects.append(Watch(Purpose.CHANGE, script_pubkey=script))
        self.pump(channel_id, now)

    # -- chain ----------------------------------------------------------------------------

    def chain_events(
        self, tip: BlockRef | None, events: tuple[ChainEvent, ...], now: float
    ) -> None:
        """Funding outputs confirmed (or undone by a reorg), then depth checks; funding
        spends and the claims that follow go to the enforcer."""
        self.enforcer.chain_events(events)
        for ev in events:
            if ev.purpose is not Purpose.FUNDING:
                continue
            key = self._by_outpoint(ev.outpoint)
            if key is None:
                continue
            e = self.channels[key]
            own = ev.txid == ev.outpoint.txid  # the funding output's own event, not a spend
            if ev.kind is EventKind.RECEIVED and ev.height > 0:
                e.funding_height = ev.height
            elif ev.kind is EventKind.UNDONE and own and ev.height == e.funding_height:
                e.funding_height = 0  # a reorg took the confirming block away
            elif e.params is not None:
                self.effects += funding_spent(e, ev, funding_output_script(e.params))
        self.check_depth(tip, now)

    def check_depth(self, tip: BlockRef | None, now: float) -> None:
        """`FundingConfirmed` for every channel deep enough; a `WakeAt` for the next."""
        due: list[int] = []
        depth = self.config.minimum_depth
        for key, e in list(self.channels.items()):
            est = e.est
            if est is None or est.state is not State.AWAIT_DEPTH or not e.funding_height:
                continue
            ready_at = e.funding_height + depth - 1
            if tip is not None and tip.height >= ready_at:
                est.command(FundingConfirmed(), now)
                self.pump(key, now)
            else:
                due.append(ready_at)
        if due:
            self.effects.append(WakeAt(height=min(due)))

    def depth_deadline(self) -> int | None:
        """The height at which the next funding output is deep enough (None: no channel
        waits for depth): what the node's timer must keep besides other deadlines."""
        due = [
            e.funding_height + self.config.minimum_depth - 1
            for e in self.channels.values()
            if e.est is not None and e.est.state is State.AWAIT_DEPTH and e.funding_height
        ]
        return min(due) if due else None

    # -- internals -------------------------------------------------------------------------

    def pump(self, key: bytes, now: float = 0.0) -> None:
        """Move one channel's outputs into node effects and requests."""
        e = self.channels[key]
        core: Establishment | Channel | None = e.chan if e.chan is not None else e.est
        if core is None:
            return
        ch = e.chan
        if ch is not None and ch.state is ChannelState.NORMAL and ch.ledger.can_send_commit():
            # The peer's updates (or ours) wait for a commitment of the peer's: sign it
            # now (BOLT 2 leaves the timing to us; peers expect it promptly).
            ch.command(io.SignCommitment(), now)
        # While a channel waits for its signer, its outbox stays in the core: a refused
        # commitment takes back the adds that were to ride on it, unseen by the peer
        # (`Channel.withdraw_unsent_adds`, decision 0023); the answer pumps them out.
        held = ch is not None and ch.awaiting_signer
        for m in () if held else core.messages_to_send():
            if isinstance(m, FundingSigned):
                e.committed = True
            self._send(e.peer, m)
        while (r := core.next_signer_request()) is not None:
            self.requests.append(ChannelSignerCall(e.channel_index, r))
        while (ev := core.next_event()) is not None:
            if isinstance(ev, io.ChannelFailed):
                e.failed = str(ev.error)[:200]
            elif isinstance(ev, io.SigningRefused):
                self.refusals.append((key, ev))
            elif isinstance(ev, io.MutualCloseReady):
                # BOLT 2: once the fees agree, the closing transaction is final: publish.
                e.closing_txid = ev.tx.txid
                self.effects.append(Broadcast(ev.tx.serialize()))
            elif e.est is not None and e.est.params is not None:
                self.funder_outputs(e.est.params.channel_id, e, ev)
        est = e.est
        if est is not None and est.params is not None and key != est.params.channel_id:
            # BOLT 2: from funding_created on, the channel is named by channel_id.
            del self.channels[key]
            key = est.params.channel_id
            self.channels[key] = e
            self._watch(est.params)
        if est is not None:
            self.ask_funding(key, e)
        if est is not None and est.state is State.READY:
            e.chan, e.est = est.channel(), None
        if ch is not None and key not in self._close_asked and wants_close_script(ch):
            # The peer's shutdown waits for ours (io.ShutdownReceived; re-derived here so
            # a node that slept in between asks again): our wallet's script first.
            self._close_asked.add(key)
            self.requests.append(CloseScript(key))
        if e.failed and not e.committed:
            self.channels.pop(key, None)  # the funder cannot broadcast: nothing to keep

    def _watch(self, p: ChannelParams) -> None:
        script = funding_output_script(p)
        if script not in self._watched:
            self._watched.add(script)
            self.effects.append(Watch(Purpose.FUNDING, script_pubkey=script))

    def _send(self, peer: bytes, m: Message) -> None:
        self.effects.append(SendTo(peer, m))

    def _by_index(self, index: int) -> bytes | None:
        for key, e in self.channels.items():
            if e.channel_index == index:
                return key
        return None

    def _by_outpoint(self, op: OutPoint) -> bytes | None:
        for key, e in self.channels.items():
            p = e.params
            if p is not None and p.funding_outpoint == op:
                return key
        return None

    def awaiting_signer(self) -> bool:
        return any(e.chan is not None and e.chan.state is not ChannelState.NORMAL
                   and e.chan.state is not ChannelState.FAILED for e in self.channels.values())  # fmt: skip
