"""The funding check backed by a `ChainSource` (btcd in the test bed, the runtime's source).

I/O edge: one block fetch per announced channel (cached by height for the announcements of
one block arriving together). BOLT 7: the output must have 6 confirmations ("SHOULD
ignore" otherwise; we accept 5, "close to 6"). A `ChainSource` cannot say whether an
output is unspent: the runtime watches accepted funding outpoints with its one chain
watcher and calls `GossipCore.forget_channel` when one is spent (BOLT 7: after 72 blocks).
"""

from __future__ import annotations

from vajra.bitcoin.block import ScannedTx, scan_block
from vajra.chain.types import ChainSource
from vajra.gossip.core import FundingOutput
from vajra.wire import scid_parts

MIN_CONFIRMATIONS = 5


class ChainSourceLookup:
    """`ChainLookup` over a `ChainSource`. Raises what the source raises (`ChainError`)."""

    def __init__(self, source: ChainSource, *, cache_blocks: int = 4) -> None:
        self._source = source
        self._cache: dict[int, tuple[bytes, list[ScannedTx]]] = {}
        self._cache_blocks = cache_blocks

    def funding_output(self, short_channel_id: int) -> FundingOutput | None:
        height, tx_index, output_index = scid_parts(short_channel_id)
        tip = self._source.tip()
        if tip.height - height + 1 < MIN_CONFIRMATIONS:
            return None
        block_hash = self._source.block_hash(height)
        if block_hash is None:
            return None
        cached = self._cache.get(height)
        if cached is None or cached[0] != block_hash:
            _, txs = scan_block(self._source.block(block_hash))
            if len(self._cache) >= self._cache_blocks:
                self._cache.pop(next(iter(self._cache)))
            cached = self._cache[height] = (block_hash, txs)
        txs = cached[1]
        if tx_index >= len(txs) or output_index >= len(txs[tx_index].outputs):
            return None
        script, value_sat = txs[tx_index].outputs[output_index]
        return FundingOutput(script, value_sat)
