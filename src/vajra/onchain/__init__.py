"""BOLT 5 on-chain resolution of a channel, sans-IO: which transaction spent the funding
output (`classify`), what the node is owed from it and when (`claims`), and the per-claim
state as the chain moves (`resolution`)."""
