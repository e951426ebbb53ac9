"""`vajra bench enforcement`: the justice store at a million revoked states.

Figures:

- justice_bytes_per_revoked_state: bytes on disk per stored kit -- (the store file's
  pages after `--items` kits - before) / items, after a WAL checkpoint: SQLite's row,
  its hint index entry, the 16-byte hint, node and channel index and the sealed blob. Every
  kit is the real thing: the penalty of a revoked anchors commitment with `to_local`,
  `to_remote` and no HTLC (a channel at rest), signed at 2,500 and 25,000 sat/kw, packed
  (`justice_kit`) and sealed under its commitment's txid. `--distinct` of them are
  built and signed one by one; the rest are those kits' bytes sealed under other txids
  (same size; building a million commitments would only time secp256k1).
- justice_sealed_bytes_by_htlcs: hint + blob of one kit, for 0, 1, 2, 5 and 10 HTLCs in
  the revoked commitment (each HTLC adds its script and two signatures).
- justice_index_bytes_per_item: the watcher's in-memory index (arrays + prefilter).
- breach_to_broadcast_ms_p50 / _p99: a serialized block of `--block-txs` transactions,
  one of them a revoked commitment whose kit is among the million, is parsed
  (`scan_block`) and connected (`Watcher.connect_block`: the scan for every node, the
  justice hint test of every txid, the kit opened, the penalty queued in the block's own
  store transaction with fsync) until the penalty is handed to the broadcaster
  (`Watcher.on_send`): wall clock, `--runs` times (disconnected, untimed, between runs).
  The broadcaster's RPC to the chain source is not in the figure (a loopback call, ~1 ms).
"""

from __future__ import annotations

import os
import random
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from vajra.bitcoin.tx import Tx

TARGETS = {"justice_bytes_per_revoked_state": "<= 512", "breach_to_broadcast_ms_p50": "<= 1000"}
FEERATES = (2_500, 25_000)


def real_kit(rng: random.Random, htlcs: int = 0) -> tuple[Tx, bytes]:
    """(revoked commitment, encoded kit) of a freshly keyed, really signed penalty."""
    from vajra.bitcoin.script import p2wpkh
    from vajra.bitcoin.tx import OutPoint
    from vajra.chain.justice_kit import encode_kit, kit_from_txs
    from vajra.channel.commitment import CommitmentKeys, Htlc, build_commitment
    from vajra.channel.keys import Basepoints, derive_revocation_privkey
    from vajra.channel.penalty import build_penalty, commitment_penalty, sign_penalty
    from vajra.crypto.secp256k1 import pubkey_from_secret

    def key() -> bytes:
        return rng.randbytes(32)

    def bp() -> tuple[Basepoints, bytes]:
        revocation = key()
        pubs = [pubkey_from_secret(key()) for _ in range(4)]
        return Basepoints(
            pubs[0], pubkey_from_secret(revocation), pubs[1], pubs[2], pubs[3], pubs[0]
        ), revocation

    (cheater, _), (victim, victim_revocation) = bp(), bp()
    secret = key()
    keys = CommitmentKeys.derive(pubkey_from_secret(secret), cheater, victim)
    commitment = build_commitment(
        funding_outpoint=OutPoint(rng.randbytes(32), 0),
        keys=keys,
        to_self_delay=144,
        dust_limit_sat=354,
        feerate_per_kw=2_500,
        to_local_msat=600_000_000 - htlcs * 10_000_000,
        to_remote_msat=400_000_000,
        owner_is_opener=True,
        htlcs=[Htlc(i % 2 == 0, 10_000_000, rng.randbytes(32), 800_000 + i) for i in range(htlcs)],
        commitment_number=rng.randrange(1 << 40),
        obscuring_factor=rng.randrange(1 << 48),
        anchors=True,
    )
    plan = commitment_penalty(commitment, keys.revocation_pubkey)
    privkey = derive_revocation_privkey(victim_revocation, secret)
    wallet = p2wpkh(pubkey_from_secret(key()))
    txs = [sign_penalty(plan, build_penalty(plan, wallet, f), privkey) for f in FEERATES]
    return commitment.tx, encode_kit(kit_from_txs(commitment.tx.txid, txs))


def _block(prev: bytes, n_txs: int, breach: Tx | None, rng: random.Random) -> bytes:
    from vajra.bitcoin.block import BlockHeader, merkle_root, serialize_block
    from vajra.bitcoin.tx import OutPoint, TxIn, TxOut

    coinbase = Tx(
        2, (TxIn(OutPoint(bytes(32), 0xFFFFFFFF), b"\x03\x02\x00\x00"),), (TxOut(0, b"\x6a"),)
    )
    txs = [coinbase]
    for i in range(n_txs - 1):
        if i == n_txs // 2 and breach is not None:
            txs.append(breach)
            continue
        outs = tuple(TxOut(rng.randrange(1, 10**8), b"\x00\x14" + rng.randbytes(20)) for _ in "ab")
        wit = (rng.randbytes(71), b"\x02" + rng.randbytes(32))
        txs.append(Tx(2, (TxIn(OutPoint(rng.randbytes(32), 0), witness=wit),), outs))
    hdr = BlockHeader(1, prev, merkle_root([t.txid for t in txs]), 0, 0x207FFFFF, 0, b"")
    return serialize_block(hdr, txs)


def _db_bytes(db: Any) -> int:
    """The store file's size once its WAL is folded in."""
    with db.lock:
        db.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (pages,) = db.db.execute("PRAGMA page_count").fetchone()
        (size,) = db.db.execute("PRAGMA page_size").fetchone()
    return int(pages) * int(size)


def run(items: int, distinct: int, block_txs: int, runs: int) -> dict[str, Any]:
    from vajra.bitcoin.block import scan_block
    from vajra.chain.db import ChainDb
    from vajra.chain.justice_kit import seal
    from vajra.chain.watcher import Watcher

    rng = random.Random(11)
    out: dict[str, Any] = {}
    sizes = {}
    for n in (0, 1, 2, 5, 10):
        tx, kit = real_kit(rng, n)
        hint, blob = seal(kit, tx.txid, secrets.randbits(64))
        sizes[str(n)] = len(hint) + len(blob)
    out["justice_sealed_bytes_by_htlcs"] = sizes
    t = time.perf_counter()
    kits = [real_kit(rng) for _ in range(max(1, distinct))]
    out["kit_build_sign_ms_each"] = round((time.perf_counter() - t) * 1000 / len(kits), 2)
    with tempfile.TemporaryDirectory(prefix="vajra-bench-enforcement-") as tmp:
        db = ChainDb(Path(tmp) / "store.sqlite")
        w = Watcher(db)
        before = _db_bytes(db)
        t = time.perf_counter()
        batch: list[tuple[int, int, bytes, bytes]] = []
        for i in range(items):
            tx, kit = kits[i % len(kits)]
            txid = tx.txid if i < len(kits) else rng.randbytes(32)
            hint, blob = seal(kit, txid, secrets.randbits(64))
            batch.append((i, rng.randrange(1 << 16), hint, blob))
            if len(batch) == 50_000:
                w.justice.add_many(batch)
                batch = []
        w.justice.add_many(batch)
        out["populate_s"] = round(time.perf_counter() - t, 1)
        after = _db_bytes(db)
        out["justice_items"] = len(w.justice)
        out["justice_bytes_per_revoked_state"] = round((after - before) / max(1, items), 1)
        out["justice_index_bytes_per_item"] = round(
            w.justice.index.memory_bytes() / max(1, items), 1
        )
        db.close()
        # A restart: the watcher rebuilds its justice index from the store.
        db = ChainDb(Path(tmp) / "store.sqlite")
        t = time.perf_counter()
        w = Watcher(db)
        out["watcher_load_s"] = round(time.perf_counter() - t, 2)
        sent: list[float] = []
        w.on_send(lambda raw: sent.append(time.perf_counter()))
        breach = kits[len(kits) // 2][0]  # a revoked commitment whose kit is stored
        hdr, txs = scan_block(_block(bytes(32), 1, None, rng))
        w.connect_block(1, hdr.block_hash, hdr.prev_block, txs)
        raw = _block(hdr.block_hash, block_txs, breach, rng)
        times = []
        for _ in range(runs):
            sent.clear()
            t = time.perf_counter()
            bh, btxs = scan_block(raw)
            w.connect_block(2, bh.block_hash, bh.prev_block, btxs)
            if len(sent) != 1:
                raise RuntimeError(f"the breach sent {len(sent)} penalties, not 1")
            times.append((sent[0] - t) * 1000)
            w.disconnect_tip()
        db.close()
    times.sort()
    out["block_txs"] = block_txs
    out["breach_to_broadcast_ms_p50"] = round(statistics.median(times), 1)
    out["breach_to_broadcast_ms_p99"] = round(times[min(len(times) - 1, int(len(times) * 0.99))], 1)
    out["loadavg_1m"] = round(os.getloadavg()[0], 2)
    out["targets"] = TARGETS
    out["meets_targets"] = {
        "justice_bytes_per_revoked_state": out["justice_bytes_per_revoked_state"] <= 512,
        "breach_to_broadcast_ms_p50": out["breach_to_broadcast_ms_p50"] <= 1000,
    }
    return out
