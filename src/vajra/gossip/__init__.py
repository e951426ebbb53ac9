"""BOLT 7 gossip: the one network graph of a runtime (sans-IO core, SQLite store).

`graph.Graph` is the compact view (parallel arrays), `core.GossipCore` applies
`channel_announcement` / `channel_update` / `node_announcement` with every receiver rule,
`store.GossipStore` persists what was accepted, `chain_lookup` backs the funding check
with a `vajra.chain.types.ChainSource`.
"""
