"""The keys of a `vajra runtime --dev` node, derived from the dev seed the way the node's
signer derives them (`vajra.signer.keys`), for the lnprototest Runner's `get_keyset`,
`get_node_privkey` and `get_node_bitcoinkey`.

lnprototest predicts the node's basepoints, per-commitment points and signatures from
these secrets, so the scenarios check what the node really sends: nothing is forced
into the node. Test bed only: the dev seed is a test's throwaway seed, and the secrets
go to the Runner over a pipe, never to a file.

Run with Vajra's Python (the Runner lives in lnprototest's own virtualenv, which has
no Vajra dependencies):

    VAJRA_DEV_SEED=hex python -m vajra_keys NODE_INDEX CHANNEL_INDEX [NETWORK]

prints one JSON object: `node` (identity secret), `funding`, `revocation_base`,
`payment_base`, `delayed_payment_base`, `htlc_base`, `shachain_seed` (hex).
"""

from __future__ import annotations

import json
import os
import sys

from vajra.signer.keys import SignerKeys


def derive(seed: bytes, node_index: int, channel_index: int, network: str) -> dict[str, str]:
    node = SignerKeys(seed, network).node(node_index)
    ch = node.channel(channel_index)
    return {
        "node": node.identity.secret.hex(),
        "funding": ch.funding.hex(),
        "revocation_base": ch.revocation_base.hex(),
        "payment_base": ch.payment_base.hex(),
        "delayed_payment_base": ch.delayed_payment_base.hex(),
        "htlc_base": ch.htlc_base.hex(),
        "shachain_seed": ch.per_commitment_seed.hex(),
    }


def main(argv: list[str]) -> int:
    seed = bytes.fromhex(os.environ["VAJRA_DEV_SEED"])
    network = argv[2] if len(argv) > 2 else "regtest"
    print(json.dumps(derive(seed, int(argv[0]), int(argv[1]), network)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
