"""The supervisor's half of `vajra node ID open` (decision 0028): the node's worker runs
the BOLT 2 open (node calls, `runtime/open_calls.py`), the supervisor's wallet builds
and signs the funding transaction.

    open(node, peer, host, port, funding_sat, push_msat)
        node call "open"          -> the 2-of-2's script (after the peer's accept_channel)
        WalletService.draft       -> the unsigned funding PSBT and its outpoint (coins
                                     reserved); insufficient funds: "open_abandon"
        node call "open_funded"   -> funding_created ... funding_signed validated by the
                                     signer: BOLT 2 lets the funder broadcast now
        -> the opening awaiting the device: {channel_id, funding_script, amount_sat,
           fee_sat, funding_txid, ...}, its draft kept here
    fund(node, channel_id, authorisation, confirmation)
        WalletService.sign_draft  -> the signer signs under the device's on-chain
                                     authorisation (it also checks the outpoint and
                                     capacity are its channel's, decision 0017) and the
                                     broadcaster sends it; the node's FUNDING watch
                                     (emitted at funding_created) sees it confirm
        -> the channel's view from the node's summary

Two requests because the device authorises exactly the funding output (sha256 of its
script, the amount, a maximum fee: decision 0011) and the script exists only once the
peer's `funding_pubkey` is known. A refused authorisation leaves the draft here for
another try (e.g. with an owner's confirmation) until `DRAFT_TTL`; a draft nobody funds
is dropped then (its coins free again; the peer forgets the channel, BOLT 2's 2016
blocks). Drafts live in memory: a runtime restart loses them (decision 0024).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from vajra.errors import VajraError
from vajra.runtime.node_calls import NodeCallError
from vajra.runtime.node_host import CHANNELS_KEY
from vajra.store import KVStore
from vajra.wallet.service import Draft, WalletError, WalletService

DRAFT_TTL = 600.0
"""Seconds an opening waits for its device's authorisation."""

NodeCallFn = Callable[[bytes, str, dict[str, Any]], Awaitable[dict[str, Any]]]


def supervisor_calls(call: NodeCallFn) -> NodeCallFn:
    """`Supervisor.call` with its `NodeCallError`s as `OpenError`s (same codes)."""

    async def run(node_id: bytes, method: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return dict(await call(node_id, method, body))
        except NodeCallError as e:
            raise OpenError(e.code, e.detail) from None

    return run


class OpenError(VajraError):
    """A typed failure of an open (`code` stable: admin API and CLI; `extra`: more JSON
    fields for the answer, e.g. the signer's decision)."""

    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        self.code, self.detail, self.extra = code, detail, extra
        super().__init__(f"{code}: {detail}")


@dataclass(slots=True)
class _Opening:
    node_id: bytes
    draft: Draft
    view: dict[str, Any]
    expires: float


class OpenService:
    """Openings waiting for their device, by channel id."""

    def __init__(
        self, call: NodeCallFn, wallet: Callable[[], WalletService | None], plain: KVStore,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        """`call(node, method, body)`: a node call on the node's worker (raises
        `OpenError` with the worker's code); `wallet()`: the node wallets (None without
        a chain); `plain`: the store holding the nodes' channel summaries."""
        self._call = call
        self._wallet = wallet
        self._plain = plain
        self._clock = clock
        self._openings: dict[bytes, _Opening] = {}

    def _expire(self) -> None:
        now = self._clock()
        for cid, o in list(self._openings.items()):
            if o.expires <= now:
                del self._openings[cid]
                wallet = self._wallet()
                if wallet is not None:
                    wallet.drop_draft(o.draft)

    def _wallet_or_fail(self) -> WalletService:
        wallet = self._wallet()
        if wallet is None:
            raise OpenError("no_chain", "this runtime runs without a chain source (--chain)")
        return wallet

    async def open(
        self, node_id: bytes, peer: bytes, host: str, port: int, funding_sat: int,
        push_msat: int = 0, anchors: bool = True,
    ) -> dict[str, Any]:  # fmt: skip
        """Run the open up to the validated `funding_signed`; the opening's view with
        `state` "awaiting_authorisation". Raises `OpenError` (dial, peer, signer and
        wallet failures with their codes)."""
        self._expire()
        wallet = self._wallet_or_fail()
        body = {"peer": peer.hex(), "host": host, "port": port, "funding_sat": funding_sat,
                "push_msat": push_msat, "anchors": anchors}  # fmt: skip
        first = await self._call(node_id, "open", body)
        tcid = str(first["temporary_channel_id"])
        script = bytes.fromhex(str(first["funding_script"]))
        try:
            draft = await wallet.draft(node_id, script, int(first["amount_sat"]))
        except WalletError as e:
            await self._call(node_id, "open_abandon", {"temporary_channel_id": tcid,
                                                       "reason": e.code})  # fmt: skip
            raise OpenError(e.code, e.detail, **e.extra) from None
        op = draft.outpoint
        try:
            funded = await self._call(node_id, "open_funded", {
                "temporary_channel_id": tcid, "peer": peer.hex(),
                "txid": op.txid[::-1].hex(), "vout": op.vout})  # fmt: skip
        except BaseException:
            wallet.drop_draft(draft)
            raise
        view = {"node_id": node_id.hex(), "peer": peer.hex(), "temporary_channel_id": tcid,
                "channel_id": funded["channel_id"], "funding_txid": funded["funding_txid"],
                "funding_vout": funded["funding_vout"], "funding_script": script.hex(),
                "amount_sat": draft.amount_sat, "fee_sat": draft.spend.fee_sat,
                "push_msat": push_msat, "state": "awaiting_authorisation"}  # fmt: skip
        cid = bytes.fromhex(str(funded["channel_id"]))
        self._openings[cid] = _Opening(node_id, draft, view, self._clock() + DRAFT_TTL)
        return view

    async def fund(
        self, node_id: bytes, channel_id: bytes, authorisation: bytes, confirmation: bytes = b""
    ) -> dict[str, Any]:
        """Have the opening's funding transaction signed under the device's
        `authorisation` and broadcast; the channel's view. Raises `OpenError`
        (`no_such_opening`, `refused` with the signer's decision, ...); after a
        refusal the opening stays for another try."""
        self._expire()
        wallet = self._wallet_or_fail()
        o = self._openings.get(channel_id)
        if o is None or o.node_id != node_id:
            raise OpenError("no_such_opening", f"no opening {channel_id.hex()} awaits funding "
                                               "(expired, funded, or the runtime restarted)")  # fmt: skip
        try:
            sent = await wallet.sign_draft(node_id, o.draft, authorisation, confirmation)
        except WalletError as e:
            if e.code not in ("refused", "signer_unavailable"):
                self._openings.pop(channel_id, None)
            code = "signer_refused" if e.code == "refused" else e.code
            raise OpenError(code, e.detail, **e.extra) from None
        self._openings.pop(channel_id, None)
        summary = await self._summary(node_id, channel_id.hex())
        return o.view | summary | {
            "state": summary.get("state", "awaiting_depth"), "txid": sent["txid"],
            "fee_sat": sent["fee_sat"], "broadcast_rejection": sent.get("broadcast_rejection"),
            "decision": sent.get("decision"),
        }  # fmt: skip

    async def _summary(self, node_id: bytes, channel_id: str) -> dict[str, Any]:
        got = await asyncio.to_thread(self._plain.get, node_id, CHANNELS_KEY)
        try:
            for c in json.loads(got[1]) if got is not None else []:
                if c.get("channel_id") == channel_id:
                    return dict(c)
        except ValueError:
            pass
        return {}
