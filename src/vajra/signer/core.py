"""The signer's request handlers, sans-IO: what the runtime may ask for a hosted node.

The link (next) decodes a frame, calls one method here with the request's lease epoch
and the signer clock, and sends back the result or the `PolicyViolation` reason. Every
method goes through `Policy.authorise_request`, so fencing comes first, any allocation
happens in the same transaction as the decision, and every answer is in the audit log.

What each request hands out, and why that is acceptable (DESIGN.md section 4):
- `create_nodes`: node ids, for nodes derived at the next free indices of the key tree.
- `identity_secret`: the node's BOLT 8 static secret, so the runtime can finish
  handshakes and answer pings while the node sleeps. It lets the operator impersonate
  the node on the network and read onions sent to it; it cannot move funds.
- `ecdh`: the same capability without handing the secret out (strict mode).
- `state_key`: the node's state-encryption key, released at wake.
- `new_channel`: public basepoints of a fresh channel key set (secrets never leave).
- `channel_request`: one request of a channel core against the signer's own copy of
  that channel (`vajra.signer.channel_store`, decision 0017): signatures, validation,
  revocation secrets of *old* commitments (public by then), never a key.
Funds keys (channel basepoint secrets, on-chain keys) are never returned by anything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from vajra.bitcoin.tx import Tx
from vajra.channel import signer_io as io
from vajra.channel.establish_io import LocalKeys
from vajra.crypto.secp256k1 import check_pubkey
from vajra.errors import PolicyViolation
from vajra.signer.channel_requests import authorise_htlc, channel_request, holder_commitment_tx
from vajra.signer.channels import ChannelSigner
from vajra.signer.keys import MAX_INDEX, NodeKeys, SignerKeys
from vajra.signer.policy import Decision, Policy
from vajra.signer.state import HostedNode, SignerState, StateTxn

MAX_NODES_PER_REQUEST = 1000
DEFAULT_NODE_QUOTA = 10
"""The node quota of a signer whose owner never set one (`vajra signer quota`)."""


class SignerCore:
    """One signer: its key tree, its state and its policy."""

    def __init__(
        self,
        keys: SignerKeys,
        state: SignerState,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        """`monotonic`: bounds the signer clock's forward steps (`Policy`)."""
        self.keys = keys
        self.state = state
        self.policy = Policy(state, keys.audit_key(), monotonic)
        self.wallet_scripts: dict[int, frozenset[bytes]] = {}
        """Per node index, its BIP 84 scripts a mutual close may pay (a cache)."""
        self.channel_records: dict[tuple[bytes, int], tuple[bytes, ChannelSigner]] = {}
        """(node id, channel index) -> the record bytes last written and their decoded
        form (`vajra.signer.channel_requests`: used only while the stored row is exactly
        those bytes)."""

    def _decide(
        self,
        kind: str,
        node_id: bytes,
        epoch: int,
        now: int,
        check: Callable[[StateTxn], bytes | None],
        subject: bytes = b"",
        fenced: bool = True,
        context: bytes = b"",
    ) -> None:
        d = self.policy.authorise_request(
            kind, node_id=node_id, epoch=epoch, subject=subject, now=now, check=check,
            fenced=fenced, context=context,
        )  # fmt: skip
        if not d.approved:
            detail = f"{kind} refused"
            if d.reason == "stale_epoch":
                # The runtime's way back from an epoch pushed by another holder of its
                # link key: it takes newest + 1 (`runtime/node_host.py`, issue 13 item 2).
                with self.state.transaction() as txn:
                    newest = txn.epoch(node_id)
                detail = f"{kind} refused: epoch {epoch} < newest {newest}"
            raise PolicyViolation(d.reason, detail)

    def _hosted(self, txn: StateTxn, node_id: bytes) -> HostedNode:
        node = txn.node(node_id)
        if node is None:
            raise PolicyViolation("unknown_node", node_id.hex())
        return node

    def _node_keys(
        self, node_id: bytes, kind: str, epoch: int, now: int, subject: bytes = b""
    ) -> NodeKeys:
        found: list[HostedNode] = []
        self._decide(
            kind, node_id, epoch, now, lambda txn: found.append(self._hosted(txn, node_id)), subject
        )
        return self.keys.node(found[0].index)

    # --- requests ---------------------------------------------------------------------------

    def create_nodes(self, count: int, *, now: int, quota: int | None = None) -> list[bytes]:
        """Derive `count` new nodes at the next free key-tree indices; their node ids.

        `quota`: the most nodes this signer may host, set by its owner on the signer's
        box (issue 13 item 2: a runtime, or a rogue holding its link key, cannot create
        nodes past it). A request that would pass it is an audited refusal `node_quota`;
        the whole request is refused before any node is created."""
        if not 1 <= count <= MAX_NODES_PER_REQUEST:
            raise PolicyViolation("bad_request", f"count must be 1..{MAX_NODES_PER_REQUEST}")
        if quota is not None:
            with self.state.transaction() as txn:
                hosted = txn.next_node_index()
            if hosted + count > quota:

                def refuse(txn: StateTxn) -> None:
                    raise PolicyViolation("node_quota", f"{hosted} + {count} > {quota}")

                # An audited refusal: the owner sees in the log that a runtime asked.
                self._decide("create_nodes", bytes(33), 0, now, refuse, fenced=False)
        created: list[bytes] = []
        while len(created) < count:
            # Derive outside the transaction; the check claims the index only if it is
            # still the next free one (another signer object may have taken it: retry).
            with self.state.transaction() as txn:
                index = txn.next_node_index()
            if index > MAX_INDEX:
                raise PolicyViolation("key_tree_full")
            node_id = self.keys.node(index).node_id

            def claim(txn: StateTxn, index: int = index, node_id: bytes = node_id) -> None:
                if txn.next_node_index() != index:
                    raise PolicyViolation("index_taken")
                if quota is not None and index >= quota:
                    raise PolicyViolation("node_quota", f"this signer's owner allows {quota} "
                                          "nodes (vajra signer quota)")  # fmt: skip
                txn.put_node(HostedNode(index, node_id, now))

            try:
                # Epoch 0: a new node has no lease yet; any lease epoch passes the fence.
                self._decide("create_node", node_id, 0, now, claim)
            except PolicyViolation as v:
                if v.reason != "index_taken":
                    raise
                continue
            created.append(node_id)
        return created

    def node_quota(self) -> int:
        """The owner's node quota, read from the sealed state (its MAC and the audit log
        cover it; issue 13 item 2): DEFAULT_NODE_QUOTA until the owner sets one with
        `Policy.set_node_quota`. `vajra signer run` reads it at each CREATE_NODES."""
        with self.state.transaction() as txn:
            quota = txn.node_quota()
        return DEFAULT_NODE_QUOTA if quota is None else quota

    def nodes(self) -> list[HostedNode]:
        with self.state.transaction() as txn:
            return txn.nodes()

    def identity_secret(self, node_id: bytes, *, epoch: int, now: int) -> bytes:
        """The node's BOLT 8 static secret, for the runtime's memory (never its disk).

        Not fenced per node tenure (decision 0008): a restarting runtime does not know
        the epochs of released leases, and the identity key serves hibernation (every
        worker's handshakes), not one lease holder. Identity release is fenced per
        runtime: only the runtime whose link key is pinned can ask. `epoch` is audited
        context only and does not move the node's newest epoch."""
        found: list[HostedNode] = []
        self._decide(
            "identity_secret", node_id, epoch, now,
            lambda txn: found.append(self._hosted(txn, node_id)), fenced=False,
        )  # fmt: skip
        return self.keys.node(found[0].index).identity.secret

    def identity_secrets(self, node_ids: Sequence[bytes], *, epoch: int, now: int) -> list[bytes]:
        """Several nodes' identity secrets (a runtime restarting) in one audited decision
        (kind `identity_secrets`, subject: the node ids in order): one state transaction
        and one audit entry per batch instead of per node. Fenced like `identity_secret`
        (per runtime, not per node tenure). One unknown node refuses the whole batch."""
        if not node_ids:
            return []
        if len(node_ids) > MAX_NODES_PER_REQUEST:
            raise PolicyViolation("bad_request", f"at most {MAX_NODES_PER_REQUEST} nodes")
        found: list[HostedNode] = []

        def check(txn: StateTxn) -> None:
            found.clear()
            found.extend(self._hosted(txn, n) for n in node_ids)

        self._decide("identity_secrets", node_ids[0], epoch, now, check,
                     subject=b"".join(node_ids), fenced=False)  # fmt: skip
        return [self.keys.node(h.index).identity.secret for h in found]

    def state_key(self, node_id: bytes, *, epoch: int, now: int) -> bytes:
        """The node's state-encryption key: the wake path."""
        return self._node_keys(node_id, "state_key", epoch, now).state_key()

    def ecdh(self, node_id: bytes, point: bytes, *, epoch: int, now: int) -> bytes:
        """BOLT 8 ECDH with the node's identity key (strict mode: the secret stays here)."""
        check_pubkey(point)
        return self._node_keys(node_id, "ecdh", epoch, now, point).identity.ecdh(point)

    def new_channel(self, node_id: bytes, *, epoch: int, now: int) -> tuple[int, LocalKeys]:
        """Allocate the node's next channel key set: its index, public basepoints and
        second per-commitment point (BOLT 2 `channel_ready`). Fenced and audited
        (`new_channel`); nothing is kept about the channel until its `SetupChannel`."""
        found: list[HostedNode] = []

        def allocate(txn: StateTxn) -> None:
            node = self._hosted(txn, node_id)
            if node.channels > MAX_INDEX:
                raise PolicyViolation("key_tree_full")
            txn.put_node(dataclasses.replace(node, channels=node.channels + 1))
            found.append(node)

        self._decide("new_channel", node_id, epoch, now, allocate)
        node = found[0]
        secrets = self.keys.node(node.index).channel(node.channels)
        return node.channels, LocalKeys(secrets.basepoints(), secrets.per_commitment_point(1))

    def channel_request(
        self,
        node_id: bytes,
        channel_index: int,
        request: bytes | io.SignerRequest,
        *,
        epoch: int,
        now: int,
    ) -> io.SignerResult:
        """Answer one channel core request (`vajra.channel.signer_io`, or its bytes,
        `vajra.channel.signer_codec`) for the node's channel `channel_index`.

        One audited decision (kind `channel`), fenced by `epoch` like every other: the
        record is loaded from the signer state, the policy answers, and the record the
        answer leaves is written back in the same transaction (decision 0017). A policy
        refusal is *returned* as `SignerRefused` (and logged as a deny with its code);
        fencing raises `PolicyViolation` (`stale_epoch`, `epoch_jump`), as do
        `unknown_node` and `bad_request` (bytes that do not decode). A record that does
        not decode raises `StateIntegrityError` (the daemon stops)."""
        return channel_request(self, node_id, channel_index, request, epoch=epoch, now=now)

    def authorise_htlc(
        self,
        node_id: bytes,
        channel_index: int,
        authorisation: bytes,
        *,
        epoch: int,
        now: int,
        confirmation: bytes | None = None,
    ) -> Decision:
        """A device's payment authorisation, decided by the policy and, if approved, made
        one authorised outgoing HTLC of the channel's record, in one group commit
        (`channel_requests.authorise_htlc`). The payment decision (devices verify it)."""
        return authorise_htlc(
            self, node_id, channel_index, authorisation, epoch=epoch, now=now,
            confirmation=confirmation,
        )  # fmt: skip

    def holder_commitment_tx(
        self, node_id: bytes, channel_index: int, number: int, *, epoch: int, now: int
    ) -> Tx:
        """Our commitment `number`, fully signed, for broadcast (force close); refused
        (PolicyViolation) for a revoked or never validated one. Audited, fenced."""
        return holder_commitment_tx(self, node_id, channel_index, number, epoch=epoch, now=now)
