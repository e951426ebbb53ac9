"""The seam between the runtime and the live signers that serve its nodes.

The runtime never derives a key: everything secret it holds (a node's BOLT 8 identity
secret, in memory only; a node's state key, only while the node is awake) was released
by that node's signer through this interface. Two implementations:

- the signer link (`vajra.runtime.signer_hub`): the user's `vajra signer` dialled in over
  an authenticated Noise channel; requests travel as typed, id-tagged frames;
- in-process (`LocalSigner` below, for tests and `--dev`): a `SignerCore` in this
  process, same policy checks, no network.

Every call carries the runtime's lease epoch for the node (a fencing token): the signer
refuses an epoch older than the newest it has seen, so two copies of one node can never
both be served.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from vajra.channel.establish_io import LocalKeys
from vajra.channel.signer_io import SignerRequest, SignerResult


@dataclass(frozen=True, slots=True)
class NodeGrant:
    """A node a signer created for this runtime."""

    node_id: bytes
    """33-byte compressed public key."""
    identity_secret: bytes
    """BOLT 8 static secret: kept in runtime memory only, never written anywhere."""


class SignerClient(Protocol):
    """What the runtime may ask of one signer. All methods may raise `PolicyViolation`
    (refused, with a reason) or `SignerUnavailable` (no live link)."""

    @property
    def signer_id(self) -> int:
        """The small integer the registry stores for this signer."""
        ...

    async def create_nodes(self, count: int) -> list[NodeGrant]:
        """Create `count` new nodes; their ids and identity secrets."""
        ...

    async def identity_secrets(self, node_ids: list[bytes], epoch: int) -> list[bytes]:
        """Release the identity secrets of existing nodes (after a runtime restart)."""
        ...

    async def state_key(self, node_id: bytes, epoch: int) -> bytes:
        """Release the node's state-encryption key: the wake path."""
        ...

    async def ecdh(self, node_id: bytes, point: bytes, epoch: int) -> bytes:
        """BOLT 8 ECDH with the node's identity key (strict mode)."""
        ...

    async def new_channel(self, node_id: bytes, epoch: int) -> tuple[int, LocalKeys]:
        """Allocate the node's next channel key set: (channel_index, its public basepoints
        and second per-commitment point). Nothing is kept about the channel until its
        `SetupChannel` request (decision 0017)."""
        ...

    async def channel_request(
        self, node_id: bytes, epoch: int, channel_index: int, request: SignerRequest
    ) -> SignerResult:
        """One request of a channel core (`vajra.channel.signer_io`) to the signer's own
        copy of channel `channel_index` (DESIGN.md section 12, decision 0017). A policy
        refusal is *returned* as `SignerRefused` (an ordinary outcome the channel
        handles); fencing and link failures raise (`PolicyViolation` e.g. `stale_epoch`,
        `request_too_large`; `SignerUnavailable`)."""
        ...
