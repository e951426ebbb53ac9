"""Bitcoin: chains, transactions, scripts and addresses, blocks, sighashes, BIP 69, PSBT.

Own code rather than a library (decision 0009); every BIP vector is a test.
"""
