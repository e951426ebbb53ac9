"""The live signer serves a channel over the real link (decision 0017): `vajra signer
run` dialled into a signer hub (real processes, Noise link, sealed state on disk).

The hub's admin socket plays the node's worker: it sends each channel request as the
`signer_codec` bytes a worker sends. The hosted node's side of a channel with an
in-memory peer runs through it: set-up, both commitments 0, the peer paying the node an
HTLC that the node fulfils (two commitment dances), a policy refusal returned as a
result, a stale epoch refused, the signer restarted mid-channel and the channel carried
on from its sealed record, a mutual close to a foreign script refused and one to the
node's wallet signed; `vajra signer audit` verifies the log with its channel entries.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_signer_cli import Env
from tests.unit.channel.pair import CAPACITY_SAT, PUSH_MSAT, Endpoint, Pair
from tests.unit.signer.channel_world import PEER, channel_params
from vajra.bitcoin.script import p2wpkh
from vajra.channel import signer_codec as codec
from vajra.channel import signer_io as io
from vajra.channel.machine import Channel
from vajra.channel.spec import CommitSpec, Side
from vajra.channel.updates import Ledger
from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import PrivateKey
from vajra.runtime.signer_hub import admin_call
from vajra.signer.channels import ChannelSigner
from vajra.signer.keys import SignerKeys
from vajra.signer.seed import mnemonic_to_seed

pytestmark = pytest.mark.e2e
PREIMAGE = b"\x0b" * 32


class HubChannelSigner:
    """The hosted node's signer as a worker reaches it: bytes over the hub."""

    def __init__(self, hub: Path, node_id: str, index: int, epoch: int) -> None:
        self.hub, self.node_id, self.index, self.epoch = hub, node_id, index, epoch
        self.requests = 0

    def call(self, request: io.SignerRequest, epoch: int | None = None) -> dict[str, Any]:
        self.requests += 1
        return admin_call(self.hub, {
            "op": "channel_request", "node_id": self.node_id, "channel_index": self.index,
            "epoch": self.epoch if epoch is None else epoch,
            "request": codec.encode_request(request).hex(),
        })  # fmt: skip

    def handle(self, request: io.SignerRequest, allowlisted: object = None) -> io.SignerResult:
        # `allowlisted` is the in-memory signer's; the live signer derives its own.
        r = self.call(request)
        assert "result" in r, r
        return codec.decode_result(bytes.fromhex(r["result"]))


def test_a_channel_on_the_live_signer_over_the_link(env: Env) -> None:
    mnemonic = env.json("signer", "init", "--json")["mnemonic"]
    _hub, port = env.start_hub()
    code = env.hub_admin({"op": "pairing_code"})["code"]
    env.json("signer", "pair", "--runtime", f"127.0.0.1:{port}", "--code", code, "--json")
    signer = env.start_signer()
    (node,) = env.hub_admin({"op": "create_nodes", "signer_id": 1, "count": 1})["node_ids"]

    got = admin_call(env.hub, {"op": "new_channel", "node_id": node, "epoch": 3})
    index, keys = got["channel_index"], codec.decode_local_keys(bytes.fromhex(got["keys"]))
    assert index == 0
    params = channel_params(keys.basepoints)
    spec = CommitSpec(2_500, (CAPACITY_SAT * 1000 - PUSH_MSAT, PUSH_MSAT), ())
    ours = HubChannelSigner(env.hub, node, index, epoch=3)
    assert ours.handle(io.SetupChannel(params, spec)) == io.ChannelSetUp()

    # Commitment 0 of each side, as establishment asks for it.
    peer = ChannelSigner.setup(PEER, io.SetupChannel(params.flipped(), spec.flipped()))
    sig = ours.handle(io.SignCounterpartyCommitment(0, spec, PEER.per_commitment_point(0), None))
    assert isinstance(sig, io.CounterpartySigned)
    assert isinstance(
        peer.handle(io.ValidateHolderCommitment(0, spec.flipped(), sig.signature, ())),
        io.HolderValidated,
    )
    first = params.basepoints[Side.LOCAL].first_per_commitment_point
    theirs = peer.handle(io.SignCounterpartyCommitment(0, spec.flipped(), first, None))
    assert isinstance(theirs, io.CounterpartySigned)
    assert ours.handle(io.ValidateHolderCommitment(0, spec, theirs.signature, ())) == (
        io.HolderValidated()
    )

    # The peer pays the node; every signature of the node's side over the link.
    a = Channel(
        Ledger.open(params, spec), PEER.per_commitment_point(1), keys.second_per_commitment_point
    )
    b = Channel(
        Ledger.open(params.flipped(), spec.flipped()),
        keys.second_per_commitment_point,
        PEER.per_commitment_point(1),
    )
    pair = Pair(Endpoint(a, ours), Endpoint(b, peer))  # type: ignore[arg-type]
    peer.authorise_payment(sha256(PREIMAGE))
    b.command(io.AddHtlc(6_000_000, sha256(PREIMAGE), 700_000), 0.0)
    pair.flush()
    pair.settle_all()

    older = _record(env)  # the channel's copy with the HTLC still in flight

    # A refusal is a result; a stale epoch is an error; nothing of either is written.
    refused = ours.handle(io.RevokeHolderCommitment(a.ledger.local_commit.number))
    assert isinstance(refused, io.SignerRefused)
    assert refused.reason == "policy-revoke-new-commitment-signed"
    stale = ours.call(io.RevokeHolderCommitment(0), epoch=2)
    assert stale["error"] == "stale_epoch", stale

    # The signer restarts mid-channel: the fulfil runs on against the sealed record.
    env.stop(signer)
    signer = env.start_signer()
    a.command(io.FulfillHtlc(0, PREIMAGE), 0.0)
    pair.flush()
    pair.settle_all()
    assert a.ledger.local_commit.spec.balance_msat[Side.LOCAL] == spec.balance_msat[0] + 6_000_000
    assert a.ledger.local_commit.spec == b.ledger.remote_commit.spec.flipped()
    assert ours.requests >= 10

    # A mutual close pays our share to the node's own wallet only.
    foreign = p2wpkh(PrivateKey(b"\x44" * 32).pubkey)
    r = ours.handle(io.SignMutualClose(foreign, foreign, 500))
    assert isinstance(r, io.SignerRefused)
    assert r.reason == "policy-mutual-destination-allowlisted"
    own = p2wpkh(SignerKeys(mnemonic_to_seed(mnemonic)).node(0).onchain(0, 3).pubkey)
    assert isinstance(ours.handle(io.SignMutualClose(own, foreign, 500)), io.MutualCloseSigned)

    audit = env.json("signer", "audit", "--json")
    kinds = [e["kind"] for e in audit["entries"]]
    assert kinds.count("channel") == ours.requests  # the stale one is an audited refusal
    assert "new_channel" in kinds

    # The older copy of the channel written back while the signer is stopped: refused.
    env.stop(signer)
    newest = _record(env)
    _write_record(env, older)
    run = env.run("signer", "run", ok=None)
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "signer state refused" in run.stderr and "modified outside" in run.stderr
    _write_record(env, newest)  # the genuine row back: the signer serves again
    env.start_signer()
    assert isinstance(ours.handle(io.SignMutualClose(own, foreign, 600)), io.MutualCloseSigned)


def _record(env: Env) -> bytes:
    con = sqlite3.connect(env.signer / "state.db")
    try:
        (row,) = con.execute("SELECT record FROM channels").fetchall()
        return bytes(row[0])
    finally:
        con.close()


def _write_record(env: Env, record: bytes) -> None:
    con = sqlite3.connect(env.signer / "state.db")
    con.execute("UPDATE channels SET record=?", (record,))
    con.commit()
    con.close()
