"""The LDK test-bed peer holds real channels with LND on btcd regtest.

One LDK node for the module (`ldk_on_chain`), the session's btcd and LND pair. Each channel test
opens a channel in one direction, mines it to depth, checks both sides list it usable with
the same amounts, closes it cooperatively from one side, and checks the closing
transaction's split and LDK's wallet balance to the satoshi against what btcd holds. The
reorg test has a fresh LDK node on the bare `btcd`.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.interop.conftest import LndPair
from vajra.testbed.btcd import Btcd
from vajra.testbed.ldk import LdkBalance, LdkChannel, LdkPeer
from vajra.testbed.procs import wait_until

pytestmark = pytest.mark.interop

CAPACITY_SAT = 250_000
PUSH_MSAT = 12_345_000
# Both sides' minimum_depth: LDK asks 6 confirmations of an inbound channel; LND fewer.
DEPTH = 6


def _sat(btc: float) -> int:
    return round(btc * 100_000_000)


def _outputs(btcd: Btcd, txid: str) -> list[tuple[str, int]]:
    """(address, sat) per output of a transaction btcd knows (mempool or chain)."""
    tx = btcd.getrawtransaction(txid)
    out = []
    for o in tx["vout"]:
        spk = o["scriptPubKey"]
        addrs = spk.get("addresses") or [spk.get("address", "")]
        out.append((str(addrs[0]), _sat(o["value"])))
    return out


def _fee(btcd: Btcd, txid: str) -> int:
    tx = btcd.getrawtransaction(txid)
    spent = sum(_outputs(btcd, i["txid"])[i["vout"]][1] for i in tx["vin"])
    return int(spent) - sum(v for _, v in _outputs(btcd, txid))


def _spender(btcd: Btcd, txid: str, vout: int) -> str | None:
    """The mempool transaction spending txid:vout, if any."""
    for cand in btcd.getrawmempool():
        tx = btcd.getrawtransaction(cand)
        if any(i.get("txid") == txid and i.get("vout") == vout for i in tx["vin"]):
            return cand
    return None


def _connected(ldk: LdkPeer, *lnds: Any) -> None:
    """(Re)connect LDK to each LND: after a force close the connection may be gone."""
    for lnd in lnds:
        if lnd.node_id not in ldk.list_peers():
            ldk.connect("127.0.0.1", lnd.p2p_port, lnd.node_id)


def _ldk_usable(ldk: LdkPeer, funding_txid: str) -> LdkChannel:
    def usable() -> LdkChannel | None:
        ldk.sync()
        for c in ldk.list_channels():
            if c.funding_txid == funding_txid and c.is_usable:
                return c
        return None

    return wait_until(usable, timeout=60, what=f"LDK: channel {funding_txid[:16]}.. usable")


def _lnd_active(lnd: Any, chan_point: str) -> dict[str, Any]:
    def active() -> dict[str, Any] | None:
        return next(
            (c for c in lnd.list_channels(active_only=True) if c["channel_point"] == chan_point),
            None,
        )

    return wait_until(active, timeout=60, what=f"{lnd.alias}: channel {chan_point[:16]}.. active")


def _settled_balance(ldk: LdkPeer) -> LdkBalance:
    """LDK's wallet once caught up with btcd and no coin is locked by a pending funding."""

    def settled() -> LdkBalance | None:
        ldk.sync()
        b = ldk.balance()
        return b if b.locked_sat == 0 else None

    return wait_until(settled, timeout=30, what="LDK's wallet settled")


def _close_confirmed(ldk: LdkPeer, btcd: Btcd, channel_id: str, txid: str, vout: int) -> str:
    """Wait for the closing transaction in btcd's mempool, mine it, wait for LDK to see it."""
    closing = wait_until(
        lambda: _spender(btcd, txid, vout), timeout=60, what="the closing transaction"
    )
    btcd.generate(1)
    ldk.sync()
    ldk.wait_event("channel_closed", where={"channel_id": channel_id}, timeout=30)
    return closing


def test_ldk_opens_to_lnd_and_closes_cooperatively(
    ldk_on_chain: LdkPeer, lnd_pair: LndPair
) -> None:
    ldk, btcd, bob = ldk_on_chain, lnd_pair.btcd, lnd_pair.bob
    wallet_address = str(ldk.info()["wallet_address"])
    before = ldk.balance()

    opened = ldk.open_channel(bob.node_id, CAPACITY_SAT, push_msat=PUSH_MSAT)
    ldk.wait_event("funding_broadcast", where={"txid": opened.funding_txid})
    ldk.wait_event("broadcast", where={"txid": opened.funding_txid, "ok": True})
    # The harness's own account of the funding fee is what btcd sees.
    assert opened.funding_fee_sat == _fee(btcd, opened.funding_txid)
    btcd.generate(DEPTH)
    chan = _ldk_usable(ldk, opened.funding_txid)
    assert chan.channel_id == opened.channel_id
    assert (chan.counterparty, chan.capacity_sat, chan.is_outbound) == (
        bob.node_id,
        CAPACITY_SAT,
        True,
    )
    assert chan.confirmations is not None and chan.confirmations >= DEPTH
    chan_point = f"{opened.funding_txid}:{opened.funding_output_index}"
    theirs = _lnd_active(bob, chan_point)
    assert theirs["remote_pubkey"] == ldk.node_id
    assert int(theirs["capacity"]) == CAPACITY_SAT
    assert int(theirs["local_balance"]) == PUSH_MSAT // 1000  # the push arrived
    # LND 0.21: `chan_id` is the BOLT 2 channel_id, `scid` the BOLT 7 short_channel_id.
    assert (theirs["chan_id"], int(theirs["scid"])) == (chan.channel_id, chan.short_channel_id)
    assert ldk.events_named("channel_ready")

    ldk.close_channel(chan.channel_id, bob.node_id)
    closing = _close_confirmed(
        ldk, btcd, chan.channel_id, opened.funding_txid, opened.funding_output_index
    )
    [closed] = [e for e in ldk.events_named("channel_closed") if e["channel_id"] == chan.channel_id]
    assert closed["reason"] == "LocallyInitiatedCooperativeClosure"
    outs = dict(_outputs(btcd, closing))
    closing_fee = CAPACITY_SAT - sum(outs.values())
    assert closing_fee > 0
    # BOLT 3: the funder (LDK) pays the closing fee; bob gets exactly the push.
    ours = CAPACITY_SAT - PUSH_MSAT // 1000 - closing_fee
    assert outs[wallet_address] == ours
    assert sorted(outs.values()) == sorted([ours, PUSH_MSAT // 1000])
    after = _settled_balance(ldk)
    assert after.confirmed_sat == (
        before.confirmed_sat - opened.funding_fee_sat - PUSH_MSAT // 1000 - closing_fee
    )


def test_lnd_opens_to_ldk_and_closes_cooperatively(
    ldk_on_chain: LdkPeer, lnd_pair: LndPair
) -> None:
    ldk, btcd, alice = ldk_on_chain, lnd_pair.btcd, lnd_pair.alice
    wallet_address = str(ldk.info()["wallet_address"])
    before = ldk.balance()
    push_sat = PUSH_MSAT // 1000

    funding_txid = alice.open_channel(ldk.node_id, CAPACITY_SAT, push_amt_sat=push_sat)
    btcd.wait_mempool(1)
    btcd.generate(DEPTH)
    chan = _ldk_usable(ldk, funding_txid)
    assert (chan.counterparty, chan.capacity_sat, chan.is_outbound) == (
        alice.node_id,
        CAPACITY_SAT,
        False,
    )
    assert chan.short_channel_id is not None
    chan_point = f"{funding_txid}:{chan.funding_output_index}"
    theirs = _lnd_active(alice, chan_point)
    assert theirs["remote_pubkey"] == ldk.node_id
    assert int(theirs["remote_balance"]) == push_sat
    assert (theirs["chan_id"], int(theirs["scid"])) == (chan.channel_id, chan.short_channel_id)
    # LDK's spendable amount is the push less the reserve alice requires of it.
    reserve_sat = int(theirs["remote_constraints"]["chan_reserve_sat"])
    assert chan.outbound_msat == (push_sat - reserve_sat) * 1000

    res = alice.cli(
        "closechannel",
        f"--funding_txid={funding_txid}",
        f"--output_index={chan.funding_output_index}",
    )
    closing = _close_confirmed(
        ldk, btcd, chan.channel_id, funding_txid, int(chan.funding_output_index or 0)
    )
    assert res["closing_txid"] == closing
    [closed] = [e for e in ldk.events_named("channel_closed") if e["channel_id"] == chan.channel_id]
    assert closed["reason"] == "CounterpartyInitiatedCooperativeClosure"
    outs = dict(_outputs(btcd, closing))
    # Alice funded the channel, so she pays the closing fee; LDK gets its push whole.
    assert outs[wallet_address] == push_sat
    after = _settled_balance(ldk)
    assert after.confirmed_sat == before.confirmed_sat + push_sat


def test_lnd_force_closes_and_ldk_sweeps_its_output_to_its_wallet(
    ldk_on_chain: LdkPeer, lnd_pair: LndPair
) -> None:
    ldk, btcd, bob = ldk_on_chain, lnd_pair.btcd, lnd_pair.bob
    wallet_address = str(ldk.info()["wallet_address"])
    opened = ldk.open_channel(bob.node_id, CAPACITY_SAT, push_msat=PUSH_MSAT)
    ldk.wait_event("broadcast", where={"txid": opened.funding_txid, "ok": True})
    btcd.generate(DEPTH)
    chan = _ldk_usable(ldk, opened.funding_txid)
    _lnd_active(bob, f"{opened.funding_txid}:{opened.funding_output_index}")
    before = _settled_balance(ldk)

    res = bob.cli(
        "closechannel",
        "--force",
        f"--funding_txid={opened.funding_txid}",
        f"--output_index={opened.funding_output_index}",
    )
    commitment = _close_confirmed(
        ldk, btcd, chan.channel_id, opened.funding_txid, opened.funding_output_index
    )
    assert res["closing_txid"] == commitment
    [closed] = [e for e in ldk.events_named("channel_closed") if e["channel_id"] == chan.channel_id]
    assert closed["reason"] in ("CounterpartyForceClosed", "CommitmentTxConfirmed"), closed
    # Bob's commitment: his to_local (P2WSH, CSV-delayed) holds the push; LDK's to_remote
    # (P2WPKH, static_remotekey) the rest less the commitment fee, which LDK as funder pays.
    vouts = btcd.getrawtransaction(commitment)["vout"]
    [to_remote] = [o for o in vouts if o["scriptPubKey"]["type"] == "witness_v0_keyhash"]
    [to_local] = [o for o in vouts if o["scriptPubKey"]["type"] == "witness_v0_scripthash"]
    commit_fee = CAPACITY_SAT - _sat(to_remote["value"]) - _sat(to_local["value"])
    assert _sat(to_local["value"]) == PUSH_MSAT // 1000
    assert _sat(to_remote["value"]) == CAPACITY_SAT - PUSH_MSAT // 1000 - commit_fee

    # LDK reports the output spendable once the commitment is 6 deep (ANTI_REORG_DELAY);
    # the harness sweeps it to its wallet.
    btcd.generate(DEPTH - 1)
    ldk.sync()
    sweep = wait_until(
        lambda: _spender(btcd, commitment, int(to_remote["n"])), timeout=60, what="LDK's sweep"
    )
    ldk.wait_event("sweep", where={"txid": sweep})
    [(address, swept)] = _outputs(btcd, sweep)
    assert address == wallet_address
    assert 0 < _sat(to_remote["value"]) - swept < 1_000  # a one-input sweep at 1,000 sat/kw
    btcd.generate(1)
    after = _settled_balance(ldk)
    assert after.confirmed_sat == before.confirmed_sat + swept


def test_ldk_keeps_a_channel_across_a_restart(ldk_on_chain: LdkPeer, lnd_pair: LndPair) -> None:
    """The harness's data dir: the channel is usable again after a restart and closes."""
    ldk, btcd, alice, bob = ldk_on_chain, lnd_pair.btcd, lnd_pair.alice, lnd_pair.bob
    wallet_address = str(ldk.info()["wallet_address"])
    _connected(ldk, bob)
    opened = ldk.open_channel(bob.node_id, CAPACITY_SAT, push_msat=PUSH_MSAT)
    ldk.wait_event("broadcast", where={"txid": opened.funding_txid, "ok": True})
    btcd.generate(DEPTH)
    chan = _ldk_usable(ldk, opened.funding_txid)
    chan_point = f"{opened.funding_txid}:{opened.funding_output_index}"
    _lnd_active(bob, chan_point)
    before = _settled_balance(ldk)
    node_id = ldk.node_id

    ldk.restart()
    assert ldk.node_id == node_id
    ldk.attach_chain(btcd)
    _connected(ldk, alice, bob)
    again = _ldk_usable(ldk, opened.funding_txid)  # after channel_reestablish with bob
    assert (again.channel_id, again.outbound_msat, again.short_channel_id) == (
        chan.channel_id,
        chan.outbound_msat,
        chan.short_channel_id,
    )
    assert ldk.balance() == before  # the wallet came back too
    _lnd_active(bob, chan_point)

    ldk.close_channel(chan.channel_id, bob.node_id)
    closing = _close_confirmed(
        ldk, btcd, chan.channel_id, opened.funding_txid, opened.funding_output_index
    )
    outs = dict(_outputs(btcd, closing))
    closing_fee = CAPACITY_SAT - sum(outs.values())
    ours = CAPACITY_SAT - PUSH_MSAT // 1000 - closing_fee
    assert outs[wallet_address] == ours
    after = _settled_balance(ldk)
    assert after.confirmed_sat == before.confirmed_sat + ours


def test_ldk_follows_a_reorg(ldk_peer: LdkPeer, btcd: Btcd) -> None:
    """btcd switches to a longer branch: the feed disconnects the old blocks, connects the new."""
    btcd.generate(3)
    height = ldk_peer.attach_chain(btcd)
    assert height == btcd.getblockcount()
    old = [btcd.call("getblockhash", h) for h in (height - 1, height)]
    btcd.call("invalidateblock", old[0])
    # A new second, so the replacement blocks cannot repeat the invalidated ones byte for byte.
    time.sleep(1.1)
    new_tip = btcd.generate(3)[-1]
    assert ldk_peer.sync() == height + 1
    assert ldk_peer.request("sync")["block_hash"] == new_tip
    gone = [(e["height"], e["block_hash"]) for e in ldk_peer.events_named("block_disconnected")]
    assert gone == [(height, old[1]), (height - 1, old[0])]
