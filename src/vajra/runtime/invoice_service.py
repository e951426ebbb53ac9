"""Issuing a hosted node's BOLT 11 invoices from the supervisor, without waking the node
(decision 0022; the admin API's `POST /v1/nodes/ID/invoice`).

    identity secret (key table) -> ReceiveKeys -> payment secret, hash (derived preimage)
    channel summary (store, clear) -> route hints: peers' scid aliases of ready channels,
        or the scid and policy of the peer's own `channel_update` (decision 0027)
    signer.sign_invoice(node, fields, epoch) -> the BOLT 11 string (the signer checks it)
    store put  invoice:<hash> = {bolt11, created_at}   (version 0: never overwritten)

The signer request carries the node's lease epoch like every request: the service takes
the node's lease for the call (a fresh epoch) or, when a worker holds it, uses the
holder's epoch (as the node wallet does).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Protocol

from vajra.invoice import InvoiceEncodeError, InvoiceFields, unsigned_parts
from vajra.node.invoices import MIN_FINAL_CLTV_EXPIRY_DELTA as MIN_FINAL_CLTV
from vajra.node.invoices import (
    HintChannel,
    ReceiveKeys,
    encode_record,
    invoice_fields,
    invoice_key,
)
from vajra.runtime.node_host import CHANNELS_KEY
from vajra.signer.link_server import CURRENCY
from vajra.store import Lease, LeaseHeld
from vajra.store.sqlite import SqliteStore

LEASE_TTL = 30.0

PeerPolicy = Callable[[bytes, bytes, int | None, int, int], tuple[int, int, int, int] | None]
"""(node, peer, alias scid or None, funding height, funding vout) -> (scid, fee_base_msat,
fee_proportional_millionths, cltv_expiry_delta) of the peer's newest `channel_update` for
that channel, or None."""


class InvoiceSigner(Protocol):
    async def sign_invoice(self, node_id: bytes, fields: InvoiceFields, epoch: int) -> str: ...


class InvoiceError(Exception):
    """Why an invoice could not be issued: `code` (unknown_node, node_not_loaded,
    bad_request, signer_unavailable) and a one-line `detail`."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}")


class InvoiceService:
    def __init__(
        self,
        store: SqliteStore,
        network: str,
        identity: Callable[[bytes], bytes | None],
        signer_for: Callable[[bytes], InvoiceSigner],
        runtime_id: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.currency = CURRENCY[network]
        self.identity = identity
        self.signer_for = signer_for
        self.runtime_id = runtime_id
        self.clock = clock
        self.peer_policy: PeerPolicy | None = None
        """The peers' `channel_update`s for hosted nodes' private channels (the graph
        service's, decision 0027): a hint's scid and fees when the peer gave no alias."""

    async def create(
        self, node_id: bytes, amount_msat: int | None, description: str, expiry_s: int
    ) -> dict[str, object]:
        """Issue and record one invoice; its BOLT 11 string, hash and terms. Raises
        `InvoiceError`, `PolicyViolation` (the signer refused), `SignerUnavailable`."""
        if await asyncio.to_thread(self.store.get_node, node_id) is None:
            raise InvoiceError("unknown_node", node_id.hex())
        secret = self.identity(node_id)
        if secret is None:
            raise InvoiceError("node_not_loaded", "the node's signer has not connected yet")
        try:
            signer = self.signer_for(node_id)
        except (KeyError, ValueError) as e:
            raise InvoiceError("signer_unavailable", str(e)) from None
        now = int(self.clock())
        try:
            fields = invoice_fields(
                keys=ReceiveKeys(secret), currency=self.currency, amount_msat=amount_msat,
                description=description, now=now, expiry_s=expiry_s,
                hints=await asyncio.to_thread(self._hints, node_id),
            )  # fmt: skip
            unsigned_parts(fields)  # the BOLT 11 writer rules, before the signer's round trip
        except (ValueError, InvoiceEncodeError) as e:
            raise InvoiceError("bad_request", str(e)) from None
        epoch, lease = await asyncio.to_thread(self._epoch, node_id)
        try:
            bolt11 = await signer.sign_invoice(node_id, fields, epoch)
        finally:
            if lease is not None:
                await asyncio.to_thread(self.store.release_lease, lease)
        key = invoice_key(fields.payment_hash)
        await asyncio.to_thread(self.store.put, node_id, key, encode_record(bolt11, now), 0)
        return {
            "bolt11": bolt11,
            "payment_hash": fields.payment_hash.hex(),
            "amount_msat": amount_msat,
            "description": description,
            "created_at": now,
            "expires_at": now + expiry_s,
            "min_final_cltv_expiry_delta": MIN_FINAL_CLTV,
            "route_hints": len(fields.route_hints),
        }

    def _hints(self, node_id: bytes) -> tuple[HintChannel, ...]:
        """One hint per ready channel whose peer gave us an scid alias (BOLT 2: "MAY use
        any of the alias it received, in BOLT 11 r fields") or sent us its
        `channel_update` for the channel (its real scid, BOLT 7), with the peer's fees
        and delta when it sent them."""
        got = self.store.get(node_id, CHANNELS_KEY)
        if got is None:
            return ()
        try:
            channels = json.loads(got[1])
        except ValueError:
            return ()
        out: list[HintChannel] = []
        for c in channels:
            if not isinstance(c, dict) or c.get("state") != "ready":
                continue
            try:
                peer = bytes.fromhex(c["peer"])
                alias = int(c["peer_alias_scid"]) if c.get("peer_alias_scid") else None
                height = int(c.get("funding_height") or 0)
                vout = int(c.get("funding_vout") or 0)
            except (KeyError, TypeError, ValueError):
                continue
            pol = (
                self.peer_policy(node_id, peer, alias, height, vout)
                if self.peer_policy is not None
                else None
            )
            if pol is not None:
                out.append(HintChannel(peer, *pol))
            elif alias is not None:
                out.append(HintChannel(peer, alias))
        return tuple(out)

    def _epoch(self, node_id: bytes) -> tuple[int, Lease | None]:
        try:
            lease = self.store.acquire_lease(node_id, self.runtime_id, self.clock(), LEASE_TTL)
        except LeaseHeld as e:
            return e.epoch, None
        return lease.epoch, lease
