"""The worker's half of `vajra node ID open` (decision 0028): node calls that run a funder
open on the awake node and wait for what the node asks of the wallet.

The supervisor holds the wallet, the worker the awake node, so an open is three node
calls (`runtime/node_calls.py`), the supervisor drafting the funding PSBT in between
(`runtime/open_service.py`):

    "open"          {peer, host, port, funding_sat, push_msat?, feerate_per_kw?, anchors?}
                    dial PEER@HOST:PORT as the node (`outbound.connect`), wake the node,
                    `Node.open_channel_out` (NewChannelKeys from the signer, open_channel)
                    ... the peer's accept_channel ... the node's `FundChannel` effect
                    -> {temporary_channel_id, funding_script, amount_sat, peer}
    "open_funded"   {temporary_channel_id, txid, vout}: `Node.funding_built` (the signer
                    signs the peer's commitment 0; funding_created) ... the peer's
                    funding_signed, validated by the signer ... `BroadcastFunding`
                    -> {channel_id, temporary_channel_id, funding_txid, funding_vout}
    "open_abandon"  {temporary_channel_id, reason}: the wallet could not fund it;
                    `Node.funding_failed` (the peer gets an `error`) -> {}

While a call waits, the node is kept awake and checked four times a second: an `error`
from the peer is `peer_refused` (its text as detail), the session closing is
`peer_disconnected`, the opening gone from the node without either (the signer refused
a signature, the establishment failed a BOLT 2 check) is `open_failed`; no answer in
`OPEN_TIMEOUT` is `peer_timeout`. A `FundChannel` no call waits for (its call timed out
or the runtime restarted) is abandoned at once -- unless its "open" was answered and the
supervisor is drafting it (`Opener.drafting`: the node woke again in between and asked
once more) -- so an opening never lingers half-funded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vajra.bitcoin.tx import OutPoint
from vajra.errors import VajraError
from vajra.node.funding import BroadcastFunding, FundChannel, OpenRefused, OpenRequest
from vajra.peer import ErrorReceived, WarningReceived

if TYPE_CHECKING:
    from vajra.node import Node
    from vajra.runtime.channel_sessions import Reachable
    from vajra.runtime.node_host import NodeHost
    from vajra.runtime.worker import Worker

log = logging.getLogger("vajra.runtime.open_calls")
OPEN_TIMEOUT = 40.0
"""Seconds a call waits for the peer (accept_channel, funding_signed): below the
supervisor's 60 s call timeout, so the answer is ours, not the control channel's."""
POLL = 0.25
DRAFTING_TTL = 60.0
"""Seconds the supervisor has between "open" and "open_funded" (its draft)."""


def _error(code: str, detail: str) -> VajraError:
    """A typed failure of an open call: `NodeCallError` (imported here: `node_calls`
    imports this module for its `CALLS`)."""
    from vajra.runtime.node_calls import NodeCallError

    return NodeCallError(code, detail)


@dataclass(slots=True)
class _Waiting:
    node_id: bytes
    peer: bytes
    want: type
    future: asyncio.Future[FundChannel | BroadcastFunding]
    said: list[str] = field(default_factory=list)
    error: str | None = None


class Opener:
    """A worker's waiting open calls, by (node id, temporary channel id)."""

    def __init__(self, worker: Worker) -> None:
        self.w = worker
        self._waiting: dict[tuple[bytes, bytes], _Waiting] = {}
        self.drafting: dict[tuple[bytes, bytes], float] = {}
        """Openings whose `FundChannel` went to the supervisor ("open" answered), until
        "open_funded"/"open_abandon" or `DRAFTING_TTL`: a repeat of it (the node woke
        again meanwhile) is not abandoned."""

    # --- hooks (NodeHost's funder effects; the sessions' errors and warnings) ------------

    def effect(self, node_id: bytes, effect: FundChannel | BroadcastFunding) -> None:
        wt = self._waiting.get((node_id, effect.temporary_channel_id))
        if wt is not None and isinstance(effect, wt.want) and not wt.future.done():
            wt.future.set_result(effect)
        elif isinstance(effect, FundChannel):
            key = (node_id, effect.temporary_channel_id)
            now = time.monotonic()
            self.drafting = {k: t for k, t in self.drafting.items() if t > now}
            if key in self.drafting:
                return  # the supervisor is drafting it: "open_funded" follows
            # Nobody will fund it: give the peer its answer now (BOLT 2 `error`).
            log.warning("event=funding_unclaimed node=%s", node_id.hex())
            tcid = effect.temporary_channel_id
            self.w.spawn(self._abandon(node_id, tcid, "the open call is gone"))

    def peer_said(self, node_id: bytes, peer: bytes, ev: ErrorReceived | WarningReceived) -> None:
        text = ev.data.decode("utf-8", "replace")[:300]
        for wt in self._waiting.values():
            if wt.node_id == node_id and wt.peer == peer:
                wt.said.append(text)
                if isinstance(ev, ErrorReceived):
                    wt.error = text

    async def _abandon(self, node_id: bytes, tcid: bytes, reason: str) -> None:
        with contextlib.suppress(VajraError):
            await self.w.host.act(node_id, lambda n, _: n.funding_failed(tcid, reason), height=-1)

    # --- waiting ------------------------------------------------------------------------

    async def run_until(
        self, node_id: bytes, peer: bytes, tcid: bytes, want: type, session: Reachable,
        start: Any,
    ) -> Any:  # fmt: skip
        """Run `start(node, now)` on the node, then wait for the effect `want` of opening
        `tcid` (see the module's header for the failures)."""
        host = self.w.host
        loop = asyncio.get_running_loop()
        wt = _Waiting(node_id, peer, want, loop.create_future())
        key = (node_id, tcid)
        self._waiting[key] = wt
        try:
            await host.act(node_id, start, height=-1)
            deadline = time.monotonic() + OPEN_TIMEOUT
            while True:
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(wt.future), POLL)
                if wt.error is not None:
                    raise _error("peer_refused", wt.error)
                conn = getattr(session, "conn", None)
                if conn is None or conn.closed:
                    raise _error("peer_disconnected", "; ".join(wt.said) or
                                        "the peer closed the connection")  # fmt: skip
                if not await host.act(node_id, lambda n, _: _opening(n, tcid), height=-1):
                    raise _error("open_failed", "; ".join(wt.said) or
                                        "the node abandoned the opening (see its log)")  # fmt: skip
                if time.monotonic() > deadline:
                    raise _error("peer_timeout", f"no answer in {OPEN_TIMEOUT:.0f} s")
        finally:
            self._waiting.pop(key, None)


def _opening(node: Node, tcid: bytes) -> bool:
    """Is opening `tcid` still alive in the node (keyed by `channel_id` from
    funding_created on: BOLT 2)?"""
    for key, e in node.state.channels.items():
        est = e.est
        if (key == tcid or (est is not None and est.temporary_channel_id == tcid)) and not e.failed:
            return True
    return False


def _peer_of(body: dict[str, Any]) -> tuple[bytes, str, int]:
    try:
        peer = bytes.fromhex(str(body["peer"]))
        host, port = str(body["host"]), int(body["port"])
    except (KeyError, ValueError, TypeError):
        raise _error("bad_request", "peer (hex), host and port are required") from None
    if len(peer) != 33 or not 0 < port < 65536 or not host:
        raise _error("bad_request", "peer is a 33-byte node id; port 1..65535")
    return peer, host, port


def _int(body: dict[str, Any], name: str, default: int | None = None) -> int:
    v = body.get(name, default)
    if not isinstance(v, int) or isinstance(v, bool):
        raise _error("bad_request", f"{name} must be an integer")
    return v


def _opener(host: NodeHost) -> Opener:
    opener = host.funder
    if not isinstance(opener, Opener):
        raise _error("unavailable", "this worker cannot open channels")
    return opener


async def call_open(
    host: NodeHost, node_id: bytes, body: dict[str, Any], _tip: int
) -> dict[str, Any]:
    """Node call "open": dial, start the open, wait for `FundChannel`."""
    from vajra.runtime.outbound import DialFailed, connect

    opener = _opener(host)
    peer, peer_host, port = _peer_of(body)
    req = OpenRequest(
        os.urandom(32), _int(body, "funding_sat"), _int(body, "push_msat", 0),
        _int(body, "feerate_per_kw", 2_500), bool(body.get("anchors", True)),
    )  # fmt: skip
    w = opener.w
    index = w.waking.get(node_id)
    if index is None:  # the supervisor names the node's index (decision 0006 fabric)
        given = body.get("node_index")
        if isinstance(given, int) and w.keys.node_id(given) == node_id:
            index = w.waking.setdefault(node_id, given)
    if index is None:
        raise _error("node_not_loaded", node_id.hex())
    try:
        session = await connect(w, index, peer, peer_host, port)
    except DialFailed as e:
        raise _error(e.code, e.detail) from None

    def start(node: Node, now: int) -> None:
        node.open_channel_out(peer, req, now)

    try:
        eff = await opener.run_until(node_id, peer, req.temporary_channel_id, FundChannel,
                                     session, start)  # fmt: skip
    except OpenRefused as e:
        raise _error(e.code, e.detail) from None
    assert isinstance(eff, FundChannel)
    opener.drafting[(node_id, req.temporary_channel_id)] = time.monotonic() + DRAFTING_TTL
    return {"temporary_channel_id": eff.temporary_channel_id.hex(), "peer": peer.hex(),
            "funding_script": eff.script_pubkey.hex(), "amount_sat": eff.amount_sat}  # fmt: skip


async def call_open_funded(
    host: NodeHost, node_id: bytes, body: dict[str, Any], _tip: int
) -> dict[str, Any]:
    """Node call "open_funded": the draft's outpoint to the node, wait for
    `BroadcastFunding` (the peer's funding_signed validated)."""
    opener = _opener(host)
    try:
        tcid = bytes.fromhex(str(body["temporary_channel_id"]))
        txid = bytes.fromhex(str(body["txid"]))[::-1]  # display order -> internal
        outpoint = OutPoint(txid, _int(body, "vout"))
        peer = bytes.fromhex(str(body["peer"]))
    except (KeyError, ValueError):
        raise _error("bad_request", "temporary_channel_id, peer, txid, vout") from None
    route = opener.w.routes.session(node_id, peer)
    if route is None:
        raise _error("peer_disconnected", "no session with the peer any more")

    opener.drafting.pop((node_id, tcid), None)

    def start(node: Node, now: int) -> None:
        if not node.funding_built(tcid, outpoint, now):
            raise _error("open_failed", "the opening no longer waits for funding")

    eff = await opener.run_until(node_id, peer, tcid, BroadcastFunding, route, start)
    assert isinstance(eff, BroadcastFunding)
    return {"channel_id": eff.channel_id.hex(), "temporary_channel_id": tcid.hex(),
            "funding_txid": eff.outpoint.txid[::-1].hex(), "funding_vout": eff.outpoint.vout}  # fmt: skip


async def call_open_abandon(
    host: NodeHost, node_id: bytes, body: dict[str, Any], _tip: int
) -> dict[str, Any]:
    """Node call "open_abandon": the wallet could not fund the opening."""
    try:
        tcid = bytes.fromhex(str(body["temporary_channel_id"]))
    except (KeyError, ValueError):
        raise _error("bad_request", "temporary_channel_id") from None
    reason = str(body.get("reason", "funding failed"))[:200]
    if isinstance(host.funder, Opener):
        host.funder.drafting.pop((node_id, tcid), None)
    await host.act(node_id, lambda n, _: n.funding_failed(tcid, reason), height=-1)
    return {}
