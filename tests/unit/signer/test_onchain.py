"""On-chain consents on the signer: the authorisation message, the PSBT-view checks
(each refusal by name), BIP 143 signatures that verify, and the policy decision they sit
in (limits, freeze, replay, fencing, audit) -- decision 0011."""

from __future__ import annotations

import dataclasses

import pytest

from tests.unit.signer.helpers import AUDIT_KEY, RING_RULES, T0, World, key
from vajra.bitcoin.script import p2wpkh, p2wpkh_script_code
from vajra.bitcoin.sighash import SIGHASH_ALL, bip143_sighash
from vajra.bitcoin.tx import OutPoint, Tx, TxIn, TxOut
from vajra.crypto.hashes import hash160, sha256
from vajra.crypto.secp256k1 import PrivateKey, der_to_compact, verify_digest
from vajra.errors import PolicyViolation
from vajra.signer import audit, onchain
from vajra.signer.devices import DeviceKey, KeyType
from vajra.signer.keys import SignerKeys
from vajra.signer.messages import MessageDecodeError
from vajra.signer.onchain import KeyOrigin, SpendView, check_spend, sign_inputs
from vajra.signer.onchain_messages import (
    OnchainAuthorisation,
    decode_onchain_authorisation,
)
from vajra.signer.policy import Outcome, Reason
from vajra.signer.state import StateTxn

KEYS = SignerKeys(bytes(range(64)), "regtest")
NODE_KEYS = KEYS.node(3)
NODE = NODE_KEYS.node_id
DEST = p2wpkh(PrivateKey(b"\x33" * 32).pubkey)  # somebody else's address


def origin(change: int, index: int, keys=NODE_KEYS) -> KeyOrigin:  # type: ignore[no-untyped-def]
    return KeyOrigin(keys.onchain(change, index).pubkey, keys.master_fingerprint,
                     (*keys.account_path(), change, index))  # fmt: skip


def own_script(change: int, index: int) -> bytes:
    return p2wpkh(NODE_KEYS.onchain(change, index).pubkey)


def spend(amount: int = 60_000, fee: int = 500, *, change_to: bytes | None = None,
          change_origin: list[KeyOrigin] | None = None, first_coin: int = 50_000,
          ) -> SpendView:  # fmt: skip
    """Two of the node's coins (50k + 30k sat) -> DEST `amount` + change."""
    coins = [TxOut(first_coin, own_script(0, 0)), TxOut(30_000, own_script(0, 7))]
    change = first_coin + 30_000 - amount - fee
    outs = [TxOut(amount, DEST), TxOut(change, change_to or own_script(1, 0))]
    tx = Tx(2, tuple(TxIn(OutPoint(bytes([i + 1]) * 32, i)) for i in range(2)), tuple(outs))
    return SpendView(
        tx, coins, [[origin(0, 0)], [origin(0, 7)]],
        [[], change_origin if change_origin is not None else [origin(1, 0)]],
    )  # fmt: skip


def consent(amount: int = 60_000, max_fee: int = 1_000, *, dev: DeviceKey | None = None,
            counter: int = 1, script: bytes = DEST, expiry: int = T0 + 60) -> OnchainAuthorisation:  # fmt: skip
    dev = dev or key(KeyType.SECP256K1, 1)
    return OnchainAuthorisation(NODE, sha256(script), amount, max_fee, expiry, counter,
                                dev.device_id).signed(dev)  # fmt: skip


# --- the message ----------------------------------------------------------------------------


def test_message_round_trip_and_domain_separation() -> None:
    a = consent()
    data = a.encode()
    assert len(data) == 195 and decode_onchain_authorisation(data) == a
    assert a.total_msat == 61_000_000
    dev = key(KeyType.SECP256K1, 1)
    # A signature over the on-chain message is not one over any other kind of message.
    assert dev.device_id == a.device_id
    from vajra.signer.messages import decode_authorisation

    as_payment = decode_authorisation(data)  # same length, different tag
    from vajra.signer.devices import verify_signature

    assert verify_signature(KeyType.SECP256K1, dev.pubkey, a.signature, a.signed_message())
    assert not verify_signature(
        KeyType.SECP256K1, dev.pubkey, as_payment.signature, as_payment.signed_message()
    )
    for bad in (data[:-1], b"\x02" + data[1:], data[:1] + b"\x02" + data[2:],
                data[:67] + bytes(8) + data[75:]):  # fmt: skip
        with pytest.raises(MessageDecodeError):
            decode_onchain_authorisation(bad)


# --- the checks -----------------------------------------------------------------------------


def test_matching_spend_is_signed_with_valid_bip143_signatures() -> None:
    view = spend()
    paths = check_spend(view, consent(), NODE_KEYS)
    assert paths == [(0, 0), (0, 7)]
    sigs = sign_inputs(view, NODE_KEYS, paths)
    for s, (change, index), coin in zip(sigs, paths, view.spent, strict=True):
        assert coin is not None
        pub = NODE_KEYS.onchain(change, index).pubkey
        assert s.pubkey == pub and s.signature[-1] == SIGHASH_ALL
        digest = bip143_sighash(view.tx, s.index, p2wpkh_script_code(hash160(pub)),
                                coin.amount_sat, SIGHASH_ALL)  # fmt: skip
        assert verify_digest(pub, der_to_compact(s.signature[:-1]), digest)


def _reason(view: SpendView, auth: OnchainAuthorisation) -> str:
    with pytest.raises(PolicyViolation) as e:
        check_spend(view, auth, NODE_KEYS)
    return e.value.reason


def test_each_refusal_by_name() -> None:
    other = KEYS.node(4)
    # Change to a script nobody can show is the node's: onchain-no-unknown-outputs.
    assert _reason(spend(change_to=p2wpkh(b"\x02" + b"\x44" * 32)), consent()) == (
        onchain.NO_UNKNOWN_OUTPUTS
    )
    # Change claimed with an origin whose key does not pay that script.
    assert _reason(spend(change_to=own_script(1, 5)), consent()) == onchain.NO_UNKNOWN_OUTPUTS
    # Change into another node's wallet (same signer, other account) is not own change.
    theirs = p2wpkh(other.onchain(1, 0).pubkey)
    assert _reason(spend(change_to=theirs, change_origin=[origin(1, 0, other)]), consent()) == (
        onchain.NO_UNKNOWN_OUTPUTS
    )
    assert _reason(spend(amount=59_000), consent()) == onchain.AMOUNT_MISMATCH
    assert _reason(spend(), consent(script=own_script(0, 9))) == onchain.DESTINATION_MISSING
    assert _reason(spend(fee=1_001), consent()) == onchain.FEE_OVER_MAX
    v = spend()
    foreign = dataclasses.replace(v, input_origins=[[origin(0, 0)], [origin(0, 7, other)]])
    assert _reason(foreign, consent()) == onchain.FOREIGN_INPUT
    no_utxo = dataclasses.replace(v, spent=[v.spent[0], None])
    assert _reason(no_utxo, consent()) == onchain.FOREIGN_INPUT
    overpay = dataclasses.replace(v, spent=[TxOut(10, own_script(0, 0)), v.spent[1]])
    assert _reason(overpay, consent()) == onchain.BAD_PSBT
    # Within the fee limit exactly is fine.
    assert check_spend(spend(fee=1_000), consent(), NODE_KEYS)


# --- in the policy: same limits, freeze, replay, fencing and audit as payments --------------


@pytest.fixture
def world() -> World:
    w = World()
    w.bootstrap()
    return w


def _decide(world: World, auth: OnchainAuthorisation, view: SpendView, *, now: int = T0,
            epoch: int | None = 1):  # type: ignore[no-untyped-def]  # fmt: skip
    def cover(a: OnchainAuthorisation, txn: StateTxn) -> bytes:
        check_spend(view, a, NODE_KEYS)
        return view.tx.txid

    return world.policy.decide_consent(
        "onchain", auth.encode(), decode_onchain_authorisation, node_id=NODE, now=now,
        epoch=epoch, cover=cover,
    )  # fmt: skip


def test_policy_approves_covered_spend_and_counts_it_in_the_ring_limits(world: World) -> None:
    ring = key(KeyType.SECP256K1, 1)
    world.enroll(ring)
    # 5,000 sat + 1,000 fee = 6,000,000 msat: below the ring's auto-approve tier.
    small = spend(amount=5_000, fee=800)
    d = _decide(world, consent(5_000, dev=ring), small)
    assert (d.outcome, d.reason, d.kind) == (Outcome.APPROVE, Reason.AUTO_APPROVED, "onchain")
    assert world.policy.usage(ring.device_id, T0).hourly_msat == 6_000_000
    # The audit entry names the consent and the transaction it covered.
    entries = world.state.audit_entries()
    assert entries[-1].kind == "onchain" and entries[-1].subject.endswith(small.tx.txid)
    assert audit.verify(entries, AUDIT_KEY.pubkey) is not None
    # Replaying the same consent is refused.
    assert _decide(world, consent(5_000, dev=ring), small).reason == Reason.REPLAY


def test_policy_refusals_over_limit_frozen_and_bad_psbt(world: World) -> None:
    ring = key(KeyType.SECP256K1, 1)
    world.enroll(ring)
    big = consent(600_000, dev=ring, counter=1)  # 601,000,000 msat > per-payment max
    assert RING_RULES.per_payment_max_msat < big.total_msat
    big_view = spend(amount=600_000, first_coin=700_000)
    d = _decide(world, big, big_view)
    assert (d.outcome, d.reason) == (Outcome.DENY, Reason.OVER_PER_PAYMENT_MAX)
    # A PSBT that does not match is refused by name and does NOT use up the consent.
    c = consent(5_000, dev=ring, counter=2)
    d = _decide(world, c, spend(amount=5_000, change_to=DEST[:-1] + b"\x00"))
    assert (d.outcome, d.reason) == (Outcome.DENY, onchain.NO_UNKNOWN_OUTPUTS)
    assert _decide(world, c, spend(amount=5_000)).approved
    # Frozen: refused before anything else.
    from vajra.signer.messages import CommandKind

    assert world.policy.command(world.command(CommandKind.FREEZE, ring), T0).approved
    d = _decide(world, consent(1_000, dev=ring, counter=3), spend(amount=1_000))
    assert (d.outcome, d.reason) == (Outcome.DENY, Reason.DEVICE_FROZEN)
    # No authorisation at all.
    d = world.policy.decide_consent("onchain", b"", decode_onchain_authorisation, node_id=NODE,
                                    now=T0, epoch=1, cover=lambda a, t: b"")  # fmt: skip
    assert (d.outcome, d.reason) == (Outcome.DENY, Reason.NO_AUTHORISATION)


def test_policy_fences_stale_epochs_without_burning_consent(world: World) -> None:
    ring = key(KeyType.SECP256K1, 1)
    world.enroll(ring)
    assert _decide(world, consent(1_000, dev=ring, counter=1), spend(amount=1_000), epoch=5)
    c = consent(1_000, dev=ring, counter=2)
    d = _decide(world, c, spend(amount=1_000), epoch=4)
    assert (d.outcome, d.reason) == (Outcome.DENY, Reason.STALE_EPOCH)
    assert _decide(world, c, spend(amount=1_000), epoch=5).approved
