"""Arming justice: after an awake node's input, a penalty for each newly revoked
counterparty commitment, signed now and sealed into the shared watcher's justice store.

DESIGN.md section 12, "Justice without waking"; decision 0026. The host runs this after
the node's signer requests are answered (`NodeHost._settle`), while the node is awake
anyway for the `revoke_and_ack` that revoked the commitment:

    for each channel whose `last_revocation` (number, per_commitment_secret) is newer
    than the one armed for it:
        SignPenalty(number, secret, the wallet's close script, FEERATES) -> the signer
        PenaltySigned -> kit (`justice_kit`), sealed under the revoked txid
                      -> `NodeServices.store_justice` (the supervisor's watcher)
        SignerRefused -> logged, not retried for that number (a normal outcome)

The signer keeps a counterparty commitment in its copy until the *next* one is revoked,
so asking right after the revocation always finds it. What was armed is kept per awake
node in memory: after a restart the newest revocation of each channel is armed again at
the node's first input (idempotent: the same hint replaces its blob). A failure to reach
the signer or the supervisor is logged and retried at the next input; it never fails the
node's input -- the channel itself is unaffected.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable

from vajra.bitcoin.tx import Tx
from vajra.chain.justice_kit import encode_kit, kit_from_txs, seal
from vajra.channel import signer_io as io
from vajra.errors import VajraError
from vajra.node import Node
from vajra.runtime.signer_api import SignerClient

log = logging.getLogger("vajra.justice")

FEERATES_PER_KW = (2_500, 25_000)
"""The penalty's two variants: headroom (10 sat/vB) and high (100 sat/vB); the watcher
sends the first at once and replaces it with the second if it does not confirm."""

StoreJustice = Callable[[bytes, int, bytes, bytes, bytes], Awaitable[None]]
"""(node id, channel index, hint, funding outpoint, blob) -> kept in the watcher's
justice store (pruned once the funding output's spend is deep)."""
CloseScript = Callable[[bytes], Awaitable[bytes | None]]


async def arm_justice(
    node: Node,
    signer: SignerClient,
    epoch: int,
    armed: dict[int, int],
    close_script: CloseScript,
    store: StoreJustice,
) -> int:
    """Arm every channel of `node` with a revocation newer than `armed[channel_index]`;
    update `armed`; return how many kits were stored."""
    todo = []
    for e in node.book.channels.values():
        chan = e.chan
        if chan is None or e.channel_index < 0 or chan.last_revocation is None:
            continue
        number, secret = chan.last_revocation
        if armed.get(e.channel_index, -1) < number:
            funding = chan.ledger.channel.funding_outpoint.serialize()
            todo.append((e.channel_index, number, secret, funding))
    if not todo:
        return 0
    stored = 0
    try:
        destination = await close_script(node.node_id)
    except VajraError as err:
        log.warning("event=justice_no_script node=%s error=%s", node.node_id.hex(), err)
        return 0
    if destination is None:
        return 0  # no wallet record yet: armed at a later input
    for index, number, secret, funding in todo:
        request = io.SignPenalty(number, secret, destination, FEERATES_PER_KW)
        try:
            result = await signer.channel_request(node.node_id, epoch, index, request)
        except VajraError as err:  # unreachable or fenced: try again at the next input
            log.warning("event=justice_signer_failed node=%s channel=%d error=%s",
                        node.node_id.hex(), index, err)  # fmt: skip
            continue
        if not isinstance(result, io.PenaltySigned):
            armed[index] = number  # a refusal is an answer: not asked again for it
            log.warning("event=justice_refused node=%s channel=%d number=%d result=%s",
                        node.node_id.hex(), index, number, result)  # fmt: skip
            continue
        try:
            txs = [Tx.parse(t) for t in result.transactions]
            kit = encode_kit(kit_from_txs(result.revoked_txid, txs))
            hint, blob = seal(kit, result.revoked_txid, secrets.randbits(64))
            await store(node.node_id, index, hint, funding, blob)
        except VajraError as err:
            log.warning("event=justice_store_failed node=%s channel=%d error=%s",
                        node.node_id.hex(), index, err)  # fmt: skip
            continue
        armed[index] = number
        stored += 1
    return stored
