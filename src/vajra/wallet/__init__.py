"""Node wallets: on-chain funds of each hosted node, keys on its live signer (decision 0011)."""
