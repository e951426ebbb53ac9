"""`vajra bench channels`: what one HTLC costs a hosted node's channel (issue 9).

- htlc_cycles_per_s_per_core (target >= 500): one HTLC cycle is `update_add_htlc` +
  `commitment_signed` / `revoke_and_ack` both ways + `update_fulfill_htlc` + the same
  dance again, between two channel cores (`vajra.channel.machine.Channel`) in this
  process, per CPU second of the process (`time.process_time`: every thread, waits for
  the disk excluded). `htlc_cycles_per_s_wall` is the same per wall second (fsync
  included: the signer state is durable, as `vajra signer run` opens it).

  Endpoint A is the hosted node: every one of its signer requests is encoded to bytes
  and answered by `SignerCore.channel_request` on a real sealed `SqliteState` (keyed MAC
  over every row, one audited, fenced decision per request, the channel record loaded
  and written back in the decision's transaction: the live signer's path). The peer B
  pays A (it offers, A fulfils): an offered HTLC needs a device's authorisation in the
  offerer's signer, and `SignerCore` has no path from a device authorisation to a
  channel record yet, so B's signer is the same validating policy code
  (`ChannelSigner.handle`: builds and signs every transaction itself, checks every
  signature) held in memory, the HTLC's hash authorised there. The peer is, in the
  field, another implementation with its own signer.

  `cpu_split` says where the CPU goes: `signer_a` (A's sealed, audited requests),
  `signer_b` (B's in-memory policy), `channel_cores` (the rest: both BOLT 2 cores and
  the driver).

The runtime figures (`wake_reestablish_ms_p99` <= 20 ms,
`rss_bytes_per_sleeping_node_with_channel` <= 1 KiB) are measured by `channels_wake.py`.
"""

from __future__ import annotations

import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vajra.bitcoin.tx import OutPoint
from vajra.channel import signer_codec as codec
from vajra.channel import signer_io as io
from vajra.channel.keys import ChannelSecrets
from vajra.channel.machine import Channel, State
from vajra.channel.reestablish import Link
from vajra.channel.spec import ChannelParams, CommitSpec, Side, SideParams
from vajra.channel.updates import Ledger
from vajra.crypto.hashes import sha256
from vajra.signer.channels import ChannelSigner
from vajra.signer.core import SignerCore
from vajra.signer.keys import SignerKeys
from vajra.signer.state import SqliteState
from vajra.wire import Message

TARGETS = {"htlc_cycles_per_s_per_core": 500}
TARGETS_MAX = {"wake_reestablish_ms_p99": 20.0, "rss_bytes_per_sleeping_node_with_channel": 1024}
CAPACITY_SAT = 1_000_000
PUSH_MSAT = 300_000_000
"""B's opening balance: B pays A out of it, 1,000 sat an HTLC."""
HTLC_MSAT = 1_000_000
FEERATE_PER_KW = 2_500
_T0 = 1_800_000_000
_CLTV = 800_144


def _side_params(dust_sat: int) -> SideParams:
    return SideParams(
        dust_limit_sat=dust_sat,
        channel_reserve_sat=10_000,
        htlc_minimum_msat=1_000,
        max_accepted_htlcs=30,
        max_htlc_value_in_flight_msat=500_000_000,
        to_self_delay=144,
    )


@dataclass
class _Timed:
    """A's signer: each request to bytes and through `SignerCore.channel_request`."""

    core: SignerCore
    node_id: bytes
    index: int
    cpu_s: float = 0.0

    def handle(self, request: io.SignerRequest) -> io.SignerResult:
        t = time.process_time()
        data = codec.encode_request(request)
        out = self.core.channel_request(self.node_id, self.index, data, epoch=1, now=_T0)
        self.cpu_s += time.process_time() - t
        return out


@dataclass
class _Peer:
    signer: ChannelSigner
    cpu_s: float = 0.0

    def handle(self, request: io.SignerRequest) -> io.SignerResult:
        t = time.process_time()
        out = self.signer.handle(request)
        self.cpu_s += time.process_time() - t
        return out


@dataclass
class ChannelWorld:
    """Two channel cores A (hosted, sealed signer) and B (peer), messages in order per
    direction, each signer request answered as soon as it is asked."""

    a: Channel
    b: Channel
    signer_a: _Timed
    signer_b: _Peer
    state: SqliteState
    a_to_b: deque[Message] = field(default_factory=deque)
    b_to_a: deque[Message] = field(default_factory=deque)
    preimages: int = 0

    def _pump(self) -> None:
        """Answer signer requests, move messages, until nothing moves; then ask both
        sides to sign what is pending, until nothing is left (the commitment dance)."""
        while True:
            moved = True
            while moved:
                moved = False
                for ch, signer, out in (
                    (self.a, self.signer_a, self.a_to_b),
                    (self.b, self.signer_b, self.b_to_a),
                ):
                    while (r := ch.next_signer_request()) is not None:
                        ch.signer_result(signer.handle(r), 0.0)
                        moved = True
                    sent = ch.messages_to_send()
                    if sent:
                        out.extend(sent)
                        moved = True
                    while ch.next_event() is not None:
                        pass
                while self.a_to_b:
                    self.b.receive_message(self.a_to_b.popleft(), 0.0)
                    moved = True
                while self.b_to_a:
                    self.a.receive_message(self.b_to_a.popleft(), 0.0)
                    moved = True
            signed = False
            for ch in (self.a, self.b):
                if ch.state is State.NORMAL and ch.link is Link.UP and ch.ledger.can_send_commit():
                    ch.command(io.SignCommitment(), 0.0)
                    signed = True
            if not signed:
                return

    def cycle(self) -> None:
        """B offers one HTLC to A, A fulfils it: two full commitment dances."""
        self.preimages += 1
        preimage = sha256(self.preimages.to_bytes(8, "big"))
        payment_hash = sha256(preimage)
        self.signer_b.signer.authorise_payment(payment_hash, HTLC_MSAT)
        htlc_id = self.b.ledger.next_htlc_id[Side.LOCAL]
        self.b.command(io.AddHtlc(HTLC_MSAT, payment_hash, _CLTV), 0.0)
        self._pump()
        self.a.command(io.FulfillHtlc(htlc_id, preimage), 0.0)
        self._pump()

    def balances_msat(self) -> tuple[int, int]:
        """A's balance in A's and in B's latest commitment (they must agree)."""
        a = self.a.ledger.local_commit.spec.balance_msat[Side.LOCAL]
        b = self.b.ledger.local_commit.spec.balance_msat[Side.REMOTE]
        return a, b


def _secrets(tag: bytes) -> ChannelSecrets:
    return ChannelSecrets(*(sha256(tag + bytes([i])) for i in range(6)))


def open_world(directory: Path) -> ChannelWorld:
    """The channel after establishment: A's keys from a sealed `SignerCore`
    (`new_channel`, `SetupChannel`), commitment 0 of both sides signed and validated
    through the signers, both links reestablished."""
    keys = SignerKeys(bytes(range(64)))
    state = SqliteState(directory / "signer.db", key=keys.state_key())
    core = SignerCore(keys, state)
    (node_id,) = core.create_nodes(1, now=_T0)
    index, local = core.new_channel(node_id, epoch=1, now=_T0)
    peer = _secrets(b"peer")
    params = ChannelParams(
        channel_id=sha256(b"bench channel"),
        funding_outpoint=OutPoint(sha256(b"bench funding"), 0),
        capacity_sat=CAPACITY_SAT,
        funder=Side.REMOTE,
        anchors=True,
        params=(_side_params(354), _side_params(546)),
        basepoints=(local.basepoints, peer.basepoints()),
    )
    spec = CommitSpec(FEERATE_PER_KW, (PUSH_MSAT, CAPACITY_SAT * 1000 - PUSH_MSAT), ())
    signer_a = _Timed(core, node_id, index)
    if not isinstance(signer_a.handle(io.SetupChannel(params, spec)), io.ChannelSetUp):
        raise RuntimeError("the signer refused the bench channel's SetupChannel")
    signer_b = _Peer(ChannelSigner.setup(peer, io.SetupChannel(params.flipped(), spec.flipped())))
    a = Channel(
        Ledger.open(params, spec), peer.per_commitment_point(1), local.second_per_commitment_point
    )
    b = Channel(
        Ledger.open(params.flipped(), spec.flipped()),
        local.second_per_commitment_point,
        peer.per_commitment_point(1),
    )
    _commitment_0(signer_a, signer_b, params, spec, peer)
    world = ChannelWorld(a, b, signer_a, signer_b, state)
    for ch in (a, b):
        if ch.link is Link.DOWN:
            ch.connected(0.0)
    world._pump()
    if not (a.link is Link.UP and b.link is Link.UP):
        raise RuntimeError("the bench channel did not reestablish")
    return world


def _commitment_0(
    a: _Timed, b: _Peer, params: ChannelParams, spec: CommitSpec, peer: ChannelSecrets
) -> None:
    ours = a.handle(io.SignCounterpartyCommitment(0, spec, peer.per_commitment_point(0), None))
    if not isinstance(ours, io.CounterpartySigned):
        raise RuntimeError(f"commitment 0: {ours}")
    ok = b.handle(io.ValidateHolderCommitment(0, spec.flipped(), ours.signature, ()))
    first = params.basepoints[Side.LOCAL].first_per_commitment_point
    theirs = b.handle(io.SignCounterpartyCommitment(0, spec.flipped(), first, None))
    if not (isinstance(ok, io.HolderValidated) and isinstance(theirs, io.CounterpartySigned)):
        raise RuntimeError(f"commitment 0: {ok} {theirs}")
    done = a.handle(io.ValidateHolderCommitment(0, spec, theirs.signature, ()))
    if not isinstance(done, io.HolderValidated):
        raise RuntimeError(f"commitment 0: {done}")


def htlc_cycles(cycles: int, directory: Path | None = None) -> dict[str, Any]:
    """Run `cycles` HTLC cycles on a fresh world; the figures and the final balances."""
    with tempfile.TemporaryDirectory(prefix="vajra-bench-channels-") as tmp:
        world = open_world(directory or Path(tmp))
        start_a, _ = world.balances_msat()
        requests_before = len(world.state.audit_entries())
        world.signer_a.cpu_s = world.signer_b.cpu_s = 0.0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(cycles):
            world.cycle()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        a_local, a_in_b = world.balances_msat()
        audited = len(world.state.audit_entries()) - requests_before
        world.state.close()
    sa, sb = world.signer_a.cpu_s, world.signer_b.cpu_s
    return {
        "htlc_cycles_per_s_per_core": round(cycles / cpu, 1),
        "htlc_cycles_per_s_wall": round(cycles / wall, 1),
        "cycles": cycles,
        "signer_a_requests_per_cycle": round(audited / cycles, 2),
        "cpu_ms_per_cycle": round(1000 * cpu / cycles, 3),
        "cpu_split": {
            "signer_a": round(sa / cpu, 3),
            "signer_b": round(sb / cpu, 3),
            "channel_cores": round((cpu - sa - sb) / cpu, 3),
        },
        "a_received_msat": a_local - start_a,
        "a_received_msat_in_b": a_in_b - start_a,
        "commitment_number_a": world.a.ledger.local_commit.number,
    }


def run(cycles: int) -> dict[str, Any]:
    """The benchmark's JSON (without the conditions the CLI adds)."""
    out = htlc_cycles(cycles)
    out["targets"] = {k: {"min": v, "met": out[k] >= v} for k, v in TARGETS.items()}
    return out


def run_runtime(nodes: int, samples: int, workers: int, signer: bool = False) -> dict[str, Any]:
    """The runtime figures (`channels_wake.run`) with their targets."""
    from vajra.benchmarks import channels_wake

    with tempfile.TemporaryDirectory(prefix="vajra-bench-channels-rt-") as tmp:
        out = channels_wake.run(nodes, samples, workers=workers, workdir=Path(tmp), signer=signer)
    out["targets_runtime"] = {k: {"max": v, "met": out[k] <= v} for k, v in TARGETS_MAX.items()}
    return out
