"""Penalties on a real chain (btcd regtest): a channel funded on chain, payments made,
then the peer broadcasts a commitment it has revoked. The justice kit the victim's
signer signed at the revocation (`SignPenalty`), kept sealed in the watcher, is sent by
the watcher the moment the block holding the breach is followed -- no channel core, no
signer -- and btcd accepts and mines it: every revocation-path witness (to_local and
HTLC outputs, anchors channel) is valid by consensus, and the victim's wallet gets the
cheater's whole balance and the HTLC, minus the fee."""

from __future__ import annotations

import secrets as _secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.channel.pair import CAPACITY_SAT, Endpoint, make_pair, secrets
from vajra.bitcoin.script import p2wpkh, p2wsh
from vajra.bitcoin.tx import OutPoint, Tx
from vajra.chain.broadcast import Broadcaster
from vajra.chain.db import ChainDb
from vajra.chain.follower import ChainFollower
from vajra.chain.justice_kit import encode_kit, kit_from_txs, seal
from vajra.chain.watcher import Watcher
from vajra.channel import signer_io as io
from vajra.channel.commitment import CommitmentOutput
from vajra.channel.scripts import funding_script
from vajra.channel.shachain import commitment_index
from vajra.channel.spec import Side, build_commitment_for
from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import PrivateKey
from vajra.testbed import paths as tb_paths
from vajra.testbed.btcd import COINBASE_MATURITY, Btcd
from vajra.testbed.errors import TestbedNotInstalled
from vajra.testbed.procs import wait_until

from .chain_support import Miner, source_of

pytestmark = [pytest.mark.interop, pytest.mark.slow]

MINER = Miner("vajra penalty test miner")
WALLET = p2wpkh(PrivateKey(sha256(b"victim wallet")).pubkey)
PREIMAGE = b"\x42" * 32


@pytest.fixture(scope="module")
def mined(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Btcd]:
    try:
        tb_paths.installed("btcd")
    except TestbedNotInstalled as e:
        pytest.fail(str(e), pytrace=False)
    node = Btcd(tmp_path_factory.mktemp("btcd-penalty"), mining_address=MINER.address)
    node.start()
    try:
        node.generate(COINBASE_MATURITY + 5)
        yield node
    finally:
        node.stop()


def test_the_watcher_punishes_a_revoked_commitment_on_btcd(mined: Btcd, tmp_path: Path) -> None:
    src = source_of(mined)
    # Fund the channel for real: 2-of-2 P2WSH of A's and B's funding keys.
    fa = secrets(b"alice").basepoints().funding_pubkey
    fb = secrets(b"bob").basepoints().funding_pubkey
    coin = MINER.coinbase_coins(src, range(1, 2))[0]
    funding_raw = MINER.spend(coin, [(p2wsh(funding_script(fa, fb)), CAPACITY_SAT)])
    mined.sendrawtransaction(funding_raw.hex())
    mined.generate(1)
    p = make_pair(outpoint=OutPoint(Tx.parse(funding_raw).txid, 0))
    a, b = p.a, p.b  # A (the victim, funder) pays B (the cheater) an HTLC
    a.signer.authorise_payment(sha256(PREIMAGE), 10**12)
    a.channel.command(io.AddHtlc(50_000_000, sha256(PREIMAGE), 700_000), 0.0)
    p.flush()
    p.settle_all()
    # B's commitment holding the HTLC (and its balance) is the one it will cheat with.
    n = b.channel.ledger.local_commit.number
    assert b.channel.ledger.local_commit.spec.htlcs
    b.channel.command(io.FulfillHtlc(0, PREIMAGE), 0.0)
    p.flush()
    p.settle_all()
    assert b.channel.ledger.local_commit.number > n  # so commitment n is revoked
    rev = a.channel.remote_secrets.derive_old_secret(commitment_index(n))
    # At the revocation A's signer signs the penalty; the runtime seals it in the watcher.
    answer = a.signer.handle(io.SignPenalty(n, rev, WALLET, (2_500, 25_000)), allowlisted={WALLET})
    assert isinstance(answer, io.PenaltySigned), answer
    txs = [Tx.parse(t) for t in answer.transactions]
    w = Watcher(ChainDb(tmp_path / "store.sqlite"))
    hint, blob = seal(encode_kit(kit_from_txs(answer.revoked_txid, txs)), answer.revoked_txid,
                      _secrets.randbits(64))  # fmt: skip
    w.justice.add(0, 0, hint, blob)
    follower = ChainFollower(src, w)
    follower.sync()
    broadcaster = Broadcaster(src, w.db)
    w.on_send(lambda raw: broadcaster.submit(raw, 0.0))
    # B cheats: its revoked commitment n, signed as its signer would have before (a
    # cheater's own code skips the revocation check).
    b.signer.holder_revoked = -1
    b.signer.holder = {k: v for k, v in b.signer.holder.items() if k <= n}
    cheat = b.signer.sign_holder_commitment(n)
    assert cheat.txid == answer.revoked_txid
    mined.sendrawtransaction(cheat.serialize().hex())
    mined.generate(1)
    follower.sync()  # the watcher sees the breach and sends the penalty at once
    penalty = txs[0]
    wait_until(lambda: penalty.txid_hex in mined.getrawmempool(), timeout=30, what="penalty")
    mined.generate(1)
    follower.sync()
    status = broadcaster.status(penalty.txid)
    assert status is not None and status[1] is not None  # confirmed
    got = mined.getrawtransaction(penalty.txid_hex)
    assert got["confirmations"] >= 1
    # Taken: B's whole to_local at commitment n and the 50,000 sat HTLC it had received.
    outs = _outputs(b, n)
    revocable = [v for v, o in enumerate(outs) if o.kind in ("to_local", "received_htlc")]
    assert sorted(i.prevout.vout for i in penalty.inputs) == revocable
    assert {outs[v].kind for v in revocable} == {"to_local", "received_htlc"}
    assert [o.script_pubkey for o in penalty.outputs] == [WALLET]
    taken = sum(cheat.outputs[v].amount_sat for v in revocable)
    assert outs[revocable[0]].htlc is None or outs[revocable[0]].htlc.amount_sat == 50_000
    fee = taken - penalty.outputs[0].amount_sat
    assert 0 < fee <= 2_500 * penalty.weight // 1000 + 10


def _outputs(b: Endpoint, n: int) -> tuple[CommitmentOutput, ...]:
    held = b.signer.holder[n]
    point = secrets(b"bob").per_commitment_point(n)
    return build_commitment_for(b.signer.channel, held.spec, Side.LOCAL, n, point).outputs
