"""The live signer: seed, key tree, device registry and rules, audit log, fencing.

Pure cores; the link to the runtime and the `vajra signer` / `vajra device` commands sit
on top of `Policy` (policy.py) and `SignerKeys` (keys.py).
"""
