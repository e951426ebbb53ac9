"""`InvoiceService` on the real store with the dev signer (a real `SignerCore`): the
invoice is signed by the node's key after the signer's own checks, carries our terms and
route hints, is recorded for the node, and its preimage is derivable only with the
node's identity secret (never stored)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import pubkey_create
from vajra.invoice import decode
from vajra.node.invoices import INVOICE_FEATURES, ReceiveKeys, decode_record, invoice_key
from vajra.runtime.invoice_service import InvoiceError, InvoiceService
from vajra.runtime.local_signer import LocalSigner
from vajra.runtime.node_host import CHANNELS_KEY
from vajra.store import NodeRow, SqliteStore

PEER = pubkey_create(sha256(b"lsp"))


@pytest.fixture
def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = SqliteStore(tmp_path / "s.db")
    signer = LocalSigner.open(bytes(range(32)))
    (grant,) = asyncio.run(signer.create_nodes(1))
    store.register_nodes([NodeRow(grant.node_id, "127.0.0.2", 9735, 0)])
    secrets = {grant.node_id: grant.identity_secret}
    now = int(time.time())  # the dev signer checks expiry against its own clock
    svc = InvoiceService(store, "regtest", secrets.get, lambda _: signer, "test", lambda: now)
    yield store, svc, grant, now
    store.close()


def test_invoice_signed_recorded_and_its_preimage_derived(env) -> None:  # type: ignore[no-untyped-def]
    store, svc, grant, now = env
    summary = [{"peer": PEER.hex(), "state": "ready", "peer_alias_scid": 0x800001000001},
               {"peer": PEER.hex(), "state": "opening"}]  # fmt: skip
    store.put(grant.node_id, CHANNELS_KEY, json.dumps(summary).encode(), 0)
    out = asyncio.run(svc.create(grant.node_id, 50_000, "coffee", 600))
    inv = decode(str(out["bolt11"]))
    assert inv.payee == grant.node_id and inv.amount_msat == 50_000
    assert inv.description == "coffee" and inv.expiry == 600 and inv.timestamp == now
    assert inv.min_final_cltv_expiry_delta == 80
    assert inv.features >= INVOICE_FEATURES
    (hint,) = inv.route_hints
    assert hint[0].pubkey == PEER and hint[0].short_channel_id == 0x800001000001
    # Recorded for the node under its hash; the preimage is derived, not stored.
    got = store.get(grant.node_id, invoice_key(inv.payment_hash))
    assert got is not None and decode_record(got[1], grant.node_id) == inv
    preimage = ReceiveKeys(grant.identity_secret).preimage(inv.payment_secret)
    assert sha256(preimage) == inv.payment_hash
    assert preimage.hex() not in got[1].decode()
    assert ReceiveKeys(sha256(b"other node")).preimage(inv.payment_secret) != preimage
    # Each invoice has its own secret and hash.
    again = decode(str(asyncio.run(svc.create(grant.node_id, None, "tip", 60))["bolt11"]))
    assert again.payment_hash != inv.payment_hash and again.amount_msat is None


def test_invoice_refusals(env) -> None:  # type: ignore[no-untyped-def]
    store, svc, grant, _ = env
    with pytest.raises(InvoiceError, match="unknown_node"):
        asyncio.run(svc.create(bytes([2]) + sha256(b"x"), 1, "d", 60))
    with pytest.raises(InvoiceError, match="bad_request"):
        asyncio.run(svc.create(grant.node_id, 1, "d" * 700, 60))
    svc.identity = lambda _: None
    with pytest.raises(InvoiceError, match="node_not_loaded"):
        asyncio.run(svc.create(grant.node_id, 1, "d", 60))
    assert [k for k in store.list_keys(grant.node_id) if k.startswith("invoice:")] == []
