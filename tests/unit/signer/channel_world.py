"""A channel between a node hosted on a real `SignerCore` (sealed SQLite state) and an
in-memory peer with the reference signer: what the channel-request tests drive.

Endpoint A is the hosted node: its signer requests go through `SignerCore.
channel_request` as bytes (the link's path). B is the peer. Commitment 0 of each side
is signed and validated through the requests, as establishment does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.unit.channel.pair import CAPACITY_SAT, PUSH_MSAT, Endpoint, Pair, secrets, side_params
from tests.unit.signer.helpers import T0
from vajra.bitcoin.tx import OutPoint
from vajra.channel import signer_codec as codec
from vajra.channel import signer_io as io
from vajra.channel.machine import Channel
from vajra.channel.spec import ChannelParams, CommitSpec, Side
from vajra.channel.updates import Ledger
from vajra.crypto.hashes import sha256
from vajra.signer.channels import ChannelSigner
from vajra.signer.core import SignerCore
from vajra.signer.keys import SignerKeys
from vajra.signer.state import SqliteState

SEED = bytes(range(64))
KEYS = SignerKeys(SEED)
PEER = secrets(b"peer")
FEERATE = 2_500


@dataclass
class CoreChannelSigner:
    """Duck-types `ChannelSigner.handle` for `tests.unit.channel.pair` over the core."""

    core: SignerCore
    node_id: bytes
    index: int
    epoch: int = 1
    now: int = T0

    def handle(self, request: io.SignerRequest, allowlisted: object = None) -> io.SignerResult:
        # `allowlisted` is the in-memory signer's; the live signer derives its own.
        data = codec.encode_request(request)
        return self.core.channel_request(
            self.node_id, self.index, data, epoch=self.epoch, now=self.now
        )


@dataclass
class World:
    path: Path
    core: SignerCore
    node_id: bytes
    index: int
    params: ChannelParams
    spec: CommitSpec
    pair: Pair

    @property
    def signer(self) -> CoreChannelSigner:
        s = self.pair.a.signer
        assert isinstance(s, CoreChannelSigner)
        return s

    def request(self, r: io.SignerRequest, epoch: int = 1) -> io.SignerResult:
        return self.core.channel_request(self.node_id, self.index, r, epoch=epoch, now=T0)

    def record(self) -> bytes | None:
        with self.core.state.transaction() as txn:
            return txn.channel(self.node_id, self.index)

    def reopen(self) -> None:
        """The signer restarts: the state is verified (MAC, audit cross-check) at open."""
        assert isinstance(self.core.state, SqliteState)
        self.core.state.close()
        self.core = SignerCore(KEYS, SqliteState(self.path, key=KEYS.state_key(), create=False))
        self.signer.core = self.core


def sealed_core(path: Path) -> SignerCore:
    return SignerCore(KEYS, SqliteState(path, key=KEYS.state_key()))


def channel_params(local_keys_bp: object, funder: Side = Side.LOCAL) -> ChannelParams:
    return ChannelParams(
        channel_id=sha256(b"channel"),
        funding_outpoint=OutPoint(sha256(b"funding"), 0),
        capacity_sat=CAPACITY_SAT,
        funder=funder,
        anchors=True,
        params=(side_params(546), side_params(354)),
        basepoints=(local_keys_bp, PEER.basepoints()),  # type: ignore[arg-type]
    )


def open_world(path: Path, *, through_commitment_0: bool = True) -> World:
    core = sealed_core(path)
    (node_id,) = core.create_nodes(1, now=T0)
    index, keys = core.new_channel(node_id, epoch=1, now=T0)
    params = channel_params(keys.basepoints)
    spec = CommitSpec(FEERATE, (CAPACITY_SAT * 1000 - PUSH_MSAT, PUSH_MSAT), ())
    assert isinstance(
        core.channel_request(node_id, index, io.SetupChannel(params, spec), epoch=1, now=T0),
        io.ChannelSetUp,
    )
    peer = ChannelSigner.setup(PEER, io.SetupChannel(params.flipped(), spec.flipped()))
    a = Channel(
        Ledger.open(params, spec), PEER.per_commitment_point(1), keys.second_per_commitment_point
    )
    b = Channel(
        Ledger.open(params.flipped(), spec.flipped()),
        keys.second_per_commitment_point,
        PEER.per_commitment_point(1),
    )
    a_signer = CoreChannelSigner(core, node_id, index)
    pair = Pair(Endpoint(a, a_signer), Endpoint(b, peer))  # type: ignore[arg-type]
    world = World(path, core, node_id, index, params, spec, pair)
    if through_commitment_0:
        commitment_0(world)
    return world


def commitment_0(w: World) -> None:
    """Establishment's signatures for commitment 0, both sides, through the requests."""
    peer = w.pair.b.signer
    ours = w.request(io.SignCounterpartyCommitment(0, w.spec, PEER.per_commitment_point(0), None))
    assert isinstance(ours, io.CounterpartySigned), ours
    ok = peer.handle(
        io.ValidateHolderCommitment(0, w.spec.flipped(), ours.signature, ours.htlc_signatures)
    )
    assert isinstance(ok, io.HolderValidated), ok
    first = w.params.basepoints[Side.LOCAL].first_per_commitment_point
    theirs = peer.handle(io.SignCounterpartyCommitment(0, w.spec.flipped(), first, None))
    assert isinstance(theirs, io.CounterpartySigned), theirs
    validated = w.request(
        io.ValidateHolderCommitment(0, w.spec, theirs.signature, theirs.htlc_signatures)
    )
    assert isinstance(validated, io.HolderValidated), validated
