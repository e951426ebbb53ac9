"""In-process `SignerClient`s for tests and `vajra runtime --dev`.

`LocalSigner` runs a real `SignerCore` (key tree, policy, fencing, audit log) in the
runtime's own process: the same checks as the user's `vajra signer`, without the link.
Several processes may each hold one over the same signer state file (SQLite, serialised
by `BEGIN IMMEDIATE`), which is how the runtime's workers reach it in dev mode.

`FixedIdentitySigner` serves exactly one node whose identity secret the caller forces
(lnprototest dials node key `01..01`); its state key is derived from that secret. Dev
only: the secret is given on the command line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vajra.channel import signer_codec as codec
from vajra.channel import signer_io as io
from vajra.channel.establish_io import LocalKeys
from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import check_secret, ecdh, pubkey_create
from vajra.errors import PolicyViolation
from vajra.runtime.signer_api import NodeGrant
from vajra.signer import link_proto as lp
from vajra.signer.core import MAX_NODES_PER_REQUEST, SignerCore
from vajra.signer.keys import SignerKeys
from vajra.signer.link_server import decision_frame
from vajra.signer.state import MemoryState, SignerState, SqliteState, StaleEpoch
from vajra.signer.wallet import SignerWallet


def _unix() -> int:
    return int(time.time())


class LocalSigner:
    """A `SignerClient` backed by a `SignerCore` in this process."""

    def __init__(
        self, core: SignerCore, *, signer_id: int = 0, clock: Callable[[], int] = _unix
    ) -> None:
        self._core = core
        self._signer_id = signer_id
        self._clock = clock

    @classmethod
    def open(
        cls, seed: bytes, state_path: str | Path | None = None, *, network: str = "regtest"
    ) -> LocalSigner:
        """A signer for `seed`, its state in `state_path` (SQLite) or in memory if None."""
        state: SignerState = (
            MemoryState() if state_path is None else SqliteState(state_path, durable=False)
        )
        return cls(SignerCore(SignerKeys(seed, network), state))

    @property
    def signer_id(self) -> int:
        return self._signer_id

    async def create_nodes(self, count: int) -> list[NodeGrant]:
        out: list[NodeGrant] = []
        while len(out) < count:
            n = min(count - len(out), MAX_NODES_PER_REQUEST)
            now = self._clock()
            for node_id in self._core.create_nodes(n, now=now):
                secret = self._core.identity_secret(node_id, epoch=0, now=now)
                out.append(NodeGrant(node_id, secret))
        return out

    async def identity_secrets(self, node_ids: list[bytes], epoch: int) -> list[bytes]:
        now = self._clock()
        return [self._identity(n, epoch, now) for n in node_ids]

    def _identity(self, node_id: bytes, epoch: int, now: int) -> bytes:
        try:
            return self._core.identity_secret(node_id, epoch=epoch, now=now)
        except StaleEpoch as e:
            # A restarting runtime does not know the epochs of released leases (the
            # store hides them); the identity key serves hibernation, not a tenure, so
            # the dev signer answers at the newest epoch it has seen. See decision 0006.
            return self._core.identity_secret(node_id, epoch=e.newest, now=now)

    async def state_key(self, node_id: bytes, epoch: int) -> bytes:
        return self._core.state_key(node_id, epoch=epoch, now=self._clock())

    async def ecdh(self, node_id: bytes, point: bytes, epoch: int) -> bytes:
        return self._core.ecdh(node_id, point, epoch=epoch, now=self._clock())

    async def account_xpub(self, node_id: bytes, epoch: int) -> tuple[bytes, bytes]:
        return SignerWallet(self._core).account_xpub(node_id, epoch=epoch, now=self._clock())

    async def new_channel(self, node_id: bytes, epoch: int) -> tuple[int, LocalKeys]:
        return self._core.new_channel(node_id, epoch=epoch, now=self._clock())

    async def authorise_htlc(
        self, node_id: bytes, epoch: int, channel_index: int, authorisation: bytes,
        confirmation: bytes = b"",
    ) -> lp.DecisionFrame:  # fmt: skip
        d = self._core.authorise_htlc(
            node_id, channel_index, authorisation, epoch=epoch, now=self._clock(),
            confirmation=confirmation or None,
        )  # fmt: skip
        return decision_frame(0, d)

    async def channel_request(
        self, node_id: bytes, epoch: int, channel_index: int, request: io.SignerRequest
    ) -> io.SignerResult:
        # Through the bytes, as over the link: the dev signer sees exactly what a live
        # signer would (decision 0017).
        data = codec.encode_request(request)
        return self._core.channel_request(
            node_id, channel_index, data, epoch=epoch, now=self._clock()
        )

    async def sign_onchain(
        self, node_id: bytes, authorisation: bytes, psbt: bytes, epoch: int,
        confirmation: bytes = b"",
    ) -> lp.OnchainSigned:  # fmt: skip
        r = SignerWallet(self._core).sign_onchain(
            node_id, authorisation, psbt, epoch=epoch, now=self._clock(),
            confirmation=confirmation or None,
        )  # fmt: skip
        d = decision_frame(0, r.decision)
        return lp.OnchainSigned.carrying(d, r.psbt)


_DEV_STATE_TAG = b"vajra/dev-fixed-identity/state-key/v1"


class FixedIdentitySigner:
    """A `SignerClient` for one node with a caller-chosen identity secret (dev only)."""

    def __init__(self, secret: bytes, *, signer_id: int = 0) -> None:
        self._secret = check_secret(secret)
        self.node_id = pubkey_create(self._secret)
        self._signer_id = signer_id
        self._created = False

    @property
    def signer_id(self) -> int:
        return self._signer_id

    def _check(self, node_id: bytes) -> None:
        if node_id != self.node_id:
            raise PolicyViolation("unknown_node", node_id.hex())

    async def create_nodes(self, count: int) -> list[NodeGrant]:
        if self._created or count != 1:
            raise PolicyViolation("bad_request", "a fixed-identity signer serves one node")
        self._created = True
        return [NodeGrant(self.node_id, self._secret)]

    async def identity_secrets(self, node_ids: list[bytes], epoch: int) -> list[bytes]:
        for n in node_ids:
            self._check(n)
        return [self._secret for _ in node_ids]

    async def state_key(self, node_id: bytes, epoch: int) -> bytes:
        self._check(node_id)
        return sha256(_DEV_STATE_TAG + self._secret)

    async def ecdh(self, node_id: bytes, point: bytes, epoch: int) -> bytes:
        self._check(node_id)
        return ecdh(self._secret, point)

    async def new_channel(self, node_id: bytes, epoch: int) -> tuple[int, LocalKeys]:
        raise PolicyViolation(
            "unsupported", "a fixed-identity dev signer holds no channel keys (use --dev)"
        )

    async def channel_request(
        self, node_id: bytes, epoch: int, channel_index: int, request: io.SignerRequest
    ) -> io.SignerResult:
        raise PolicyViolation(
            "unsupported", "a fixed-identity dev signer holds no channel keys (use --dev)"
        )


if TYPE_CHECKING:
    from vajra.runtime.signer_api import SignerClient

    _local: SignerClient = LocalSigner(SignerCore(SignerKeys(bytes(32)), MemoryState()))
    _fixed: SignerClient = FixedIdentitySigner(bytes(31) + b"\x01")
