"""The live signer: seed, key tree, device registry and rules, audit log, fencing.

Pure cores, bottom up: `seed` (BIP 39, sealed at rest), `keys` (the BIP 32 tree),
`devices` and `messages` (device keys and what they sign), `audit`, `state` (the
persistence Protocol), `policy` (every decision) and `core` (the runtime's requests).
The link and the `vajra signer` / `vajra device` commands sit on `SignerCore` and `Policy`.
"""
