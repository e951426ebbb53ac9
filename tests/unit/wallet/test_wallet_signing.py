"""The runtime's watch-only account, coin selection and PSBT, signed by a real
`SignerCore` through `SignerWallet`: the addresses the runtime derives are the signer's,
a covered spend comes back signed and finalizes, and a PSBT whose change is not the
node's own is refused by name with nothing signed (decision 0011)."""

from __future__ import annotations

import pytest

from tests.unit.signer.helpers import T0, World, key
from vajra.bitcoin.psbt import Psbt
from vajra.bitcoin.script import p2wpkh, p2wpkh_script_code
from vajra.bitcoin.sighash import SIGHASH_ALL, bip143_sighash
from vajra.bitcoin.tx import OutPoint, Tx, TxOut
from vajra.crypto.hashes import hash160, sha256
from vajra.crypto.secp256k1 import PrivateKey, der_to_compact, verify_digest
from vajra.signer import onchain
from vajra.signer.core import SignerCore
from vajra.signer.devices import KeyType
from vajra.signer.keys import SignerKeys
from vajra.signer.onchain_messages import OnchainAuthorisation
from vajra.signer.wallet import SignerWallet
from vajra.wallet import psbt_build
from vajra.wallet.account import CHANGE, RECEIVE, Account, WalletState, take_index, to_watch
from vajra.wallet.select import Coin, InsufficientFunds, build_spend, fee_for

DEST = p2wpkh(PrivateKey(b"\x33" * 32).pubkey)
Setup = tuple[World, SignerWallet, bytes, Account]


@pytest.fixture
def setup() -> Setup:
    world = World()
    world.bootstrap()
    core = SignerCore(SignerKeys(bytes(range(64)), "regtest"), world.state)
    core.policy = world.policy  # one policy over the one state (the World's audit key)
    node = core.create_nodes(3, now=T0)[2]
    wallet = SignerWallet(core)
    xpub, fp = wallet.account_xpub(node, epoch=0, now=T0)
    return world, wallet, node, Account(WalletState(xpub, fp))


def test_runtime_scripts_are_the_signers_keys(setup: Setup) -> None:
    _, wallet, _node, acct = setup
    keys = wallet.core.keys.node(2)
    assert acct.account_index == 2
    for change, index in ((0, 0), (0, 19), (1, 3)):
        assert acct.script(change, index) == p2wpkh(keys.onchain(change, index).pubkey)
    state, todo = to_watch(acct.state)
    assert len(todo) == 40 and state.watched == (20, 20)
    state, i = take_index(state, RECEIVE)
    state, more = to_watch(state)
    assert i == 0 and more == [(RECEIVE, 20)]
    assert WalletState.decode(state.encode()) == state


def _coins(acct: Account) -> list[Coin]:
    return [
        Coin(OutPoint(b"\x01" * 32, 0), 5_000, acct.script(0, 0), 0, 0),
        Coin(OutPoint(b"\x02" * 32, 1), 4_000, acct.script(0, 4), 0, 4),
        Coin(OutPoint(b"\x03" * 32, 0), 900, acct.script(1, 0), 1, 0),
    ]


def test_selection_fee_and_change() -> None:
    scripts = [p2wpkh(PrivateKey(bytes([i]) * 32).pubkey) for i in (5, 6)]
    coins = [Coin(OutPoint(b"\x01" * 32, 0), 40_000, scripts[0], 0, 0)]
    s = build_spend(coins, DEST, 30_000, 2_000, scripts[1])
    # 10.5 + 68 + 2 * 31 = 140.5 vB at 2 sat/vB
    assert s.fee_sat == fee_for(1, (DEST, scripts[1]), 2_000) == 281
    assert sum(o.amount_sat for o in s.tx.outputs) + s.fee_sat == 40_000
    assert s.change_output is not None
    # What is left below dust goes to the fee, no change output.
    s = build_spend(coins, DEST, 40_000 - 300, 2_000, scripts[1])
    assert s.change_output is None and s.fee_sat == 300 and len(s.tx.outputs) == 1
    with pytest.raises(InsufficientFunds):
        build_spend(coins, DEST, 39_900, 2_000, scripts[1])


def _consent(world: World, node: bytes, amount: int, max_fee: int) -> OnchainAuthorisation:
    ring = key(KeyType.SECP256K1, 1)
    return OnchainAuthorisation(node, sha256(DEST), amount, max_fee, T0 + 60,
                                world.next_counter(ring), ring.device_id).signed(ring)  # fmt: skip


def test_covered_spend_is_signed_and_finalizes(setup: Setup) -> None:
    world, wallet, node, acct = setup
    world.enroll(key(KeyType.SECP256K1, 1))
    spend = build_spend(_coins(acct), DEST, 8_000, 1_000, acct.script(CHANGE, 1))
    assert len(spend.coins) == 2 and spend.change_output is not None
    psbt = psbt_build.unsigned_psbt(spend, acct, acct.state.master_fingerprint, 1, 1)
    auth = _consent(world, node, 8_000, spend.fee_sat)
    r = wallet.sign_onchain(node, auth.encode(), psbt, epoch=1, now=T0)
    assert r.decision.approved, r.decision
    tx = Tx.parse(psbt_build.finalize(r.psbt, spend))
    assert tx.txid == spend.tx.txid  # segwit: signatures do not change the txid
    for n, (txin, coin) in enumerate(zip(tx.inputs, spend.coins, strict=True)):
        sig, pub = txin.witness
        assert pub == acct.pubkey(coin.change, coin.index) and sig[-1] == SIGHASH_ALL
        digest = bip143_sighash(spend.tx, n, p2wpkh_script_code(hash160(pub)), coin.value_sat,
                                SIGHASH_ALL)  # fmt: skip
        assert verify_digest(pub, der_to_compact(sig[:-1]), digest)


def test_change_not_proved_own_is_refused_and_consent_survives(setup: Setup) -> None:
    world, wallet, node, acct = setup
    world.enroll(key(KeyType.SECP256K1, 1))
    spend = build_spend(_coins(acct), DEST, 8_000, 1_000, acct.script(CHANGE, 1))
    good = psbt_build.unsigned_psbt(spend, acct, acct.state.master_fingerprint, 1, 1)
    p = Psbt.parse(good)
    assert spend.change_output is not None
    p.outputs[spend.change_output].bip32_derivations.clear()  # no proof the change is ours
    auth = _consent(world, node, 8_000, spend.fee_sat)
    r = wallet.sign_onchain(node, auth.encode(), p.serialize(), epoch=1, now=T0)
    assert (r.decision.outcome, r.decision.reason, r.psbt) == (
        "deny",
        onchain.NO_UNKNOWN_OUTPUTS,
        b"",
    )
    # Garbage instead of a PSBT: refused by name, audited.
    r = wallet.sign_onchain(node, auth.encode(), b"psbt\xff", epoch=1, now=T0)
    assert (r.decision.reason, r.psbt) == (onchain.BAD_PSBT, b"")
    # The consent was not used up by the runtime's bad PSBTs.
    r = wallet.sign_onchain(node, auth.encode(), good, epoch=1, now=T0)
    assert r.decision.approved
    assert TxOut(8_000, DEST) in Psbt.parse(r.psbt).tx.outputs


def test_the_link_frames_carry_xpub_and_signed_psbt() -> None:
    """ACCOUNT_XPUB and SIGN_ONCHAIN through `LinkHandler`, encoded and decoded as the
    link carries them; an unknown node is an ERROR frame."""
    from vajra.signer import link_proto as lp
    from vajra.signer.link_server import LinkHandler

    world = World()
    world.bootstrap()
    core = SignerCore(SignerKeys(bytes(range(64)), "regtest"), world.state)
    core.policy = world.policy
    h = LinkHandler(core)
    node = core.create_nodes(1, now=T0)[0]

    def call(f: lp.Frame) -> lp.Frame:
        return lp.decode(h.handle_bytes(f.encode(), T0))

    x = call(lp.AccountXpub(5, node, 0))
    assert isinstance(x, lp.Xpub) and x.id == 5
    acct = Account(WalletState(x.xpub, x.master_fingerprint))
    assert acct.script(0, 0) == p2wpkh(core.keys.node(0).onchain(0, 0).pubkey)
    other = PrivateKey(b"\x44" * 32).pubkey
    err = call(lp.AccountXpub(6, other, 0))
    assert isinstance(err, lp.Error) and err.reason == "unknown_node"

    world.enroll(key(KeyType.SECP256K1, 1))
    spend = build_spend(_coins(acct), DEST, 8_000, 1_000, acct.script(CHANGE, 1))
    psbt = psbt_build.unsigned_psbt(spend, acct, acct.state.master_fingerprint, 1, 1)
    auth = _consent(world, node, 8_000, spend.fee_sat).encode()
    r = call(lp.SignOnchain(7, node, 1, auth, b"", psbt))
    assert isinstance(r, lp.OnchainSigned) and (r.outcome, r.decision_kind) == (
        "approve",
        "onchain",
    )
    assert Tx.parse(psbt_build.finalize(r.psbt, spend)).txid == spend.tx.txid
    again = call(lp.SignOnchain(8, node, 1, auth, b"", psbt))
    assert isinstance(again, lp.OnchainSigned)
    assert (again.outcome, again.reason, again.psbt) == ("deny", "replay", b"")
