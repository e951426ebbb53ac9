"""An in-memory chain source for unit tests of the follower: real serialized blocks
(bitcoin.block), a best chain that can be cut and re-mined (reorg), and an off switch."""

from __future__ import annotations

from vajra.bitcoin.block import BlockHeader, merkle_root, serialize_block
from vajra.bitcoin.tx import OutPoint, Tx, TxIn, TxOut
from vajra.chain.types import BlockRef, ChainUnavailable
from vajra.crypto.hashes import double_sha256


class MemoryChain:
    name = "memory"

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.hashes: list[bytes] = []
        self.down = False
        self.fetches = 0
        self.mempool: dict[bytes, bytes] = {}
        self.mine([], tag=b"genesis")

    def _check(self) -> None:
        if self.down:
            raise ChainUnavailable("memory chain is down")

    def mine(self, txs: list[Tx], tag: bytes = b"") -> bytes:
        height = len(self.raw)
        coinbase = Tx(
            2,
            (TxIn(OutPoint(b"\x00" * 32, 0xFFFFFFFF), height.to_bytes(4, "little") + tag),),
            (TxOut(0, b"\x6a"),),
        )
        all_txs = [coinbase, *txs]
        prev = self.hashes[-1] if self.hashes else b"\x00" * 32
        hdr = BlockHeader(
            1, prev, merkle_root([t.txid for t in all_txs]), height, 0x207FFFFF, 0, b""
        )
        raw = serialize_block(hdr, all_txs)
        self.raw.append(raw)
        self.hashes.append(double_sha256(raw[:80]))
        return self.hashes[-1]

    def cut(self, height: int) -> None:
        """Forget blocks above `height` (the next `mine` starts a competing branch)."""
        del self.raw[height + 1 :], self.hashes[height + 1 :]

    def tip(self) -> BlockRef:
        self._check()
        return BlockRef(len(self.raw) - 1, self.hashes[-1])

    def block_hash(self, height: int) -> bytes | None:
        self._check()
        return self.hashes[height] if 0 <= height < len(self.hashes) else None

    def block(self, block_hash: bytes) -> bytes:
        self._check()
        self.fetches += 1
        return self.raw[self.hashes.index(block_hash)]

    def block_hashes(self, heights: list[int]) -> list[bytes | None]:
        return [self.block_hash(h) for h in heights]

    def blocks(self, block_hashes: list[bytes]) -> list[bytes]:
        return [self.block(h) for h in block_hashes]

    def mempool_txids(self) -> list[bytes]:
        self._check()
        return list(self.mempool)

    def raw_transaction(self, txid: bytes) -> bytes | None:
        self._check()
        return self.mempool.get(txid)

    def raw_transactions(self, txids: list[bytes]) -> list[bytes | None]:
        return [self.raw_transaction(t) for t in txids]

    def broadcast(self, raw_tx: bytes) -> None:
        self._check()
        self.mempool[Tx.parse(raw_tx).txid] = raw_tx

    def mine_mempool(self, tag: bytes = b"") -> bytes:
        """Mine every mempool transaction into the next block."""
        txs = [Tx.parse(r) for r in self.mempool.values()]
        self.mempool.clear()
        return self.mine(txs, tag)

    def estimate_fee(self, target_blocks: int) -> int | None:
        self._check()
        return None
