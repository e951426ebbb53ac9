"""Read a node's sealed state the way a runtime would: lease, signer key, SealedStore."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.e2e.runtime_proc import SEED
from vajra.node import NodeState
from vajra.runtime.local_signer import LocalSigner
from vajra.runtime.node_host import STATE_KEY
from vajra.store import SealedStore, SqliteStore


def read_state(store_path: Path, node_id: bytes, seed: bytes = SEED) -> NodeState:
    store = SqliteStore(store_path)
    try:
        # Like a second runtime: take the node's lease, so the signer sees a fresh epoch.
        lease = store.acquire_lease(node_id, "test-reader", time.time(), 10)
        try:
            signer = LocalSigner.open(seed, str(store_path) + ".signer")
            key = asyncio.run(signer.state_key(node_id, lease.epoch))
            sealed = SealedStore(store)
            sealed.unlock(node_id, key)
            got = sealed.get(node_id, STATE_KEY)
            assert got is not None, "no state written"
            return NodeState.decode(got[1])
        finally:
            store.release_lease(lease)
    finally:
        store.close()
