"""The signer signs penalty transactions for a revoked counterparty commitment from its
own sealed copy (issue 11 items 3-4): to the node's wallet only, at each requested
feerate, by the revocation path -- and refuses what it should."""

from __future__ import annotations

from pathlib import Path

import coincurve
import pytest

from tests.unit.signer.channel_world import KEYS, World, open_world
from tests.unit.signer.test_channel_requests import _peer_pays
from vajra.bitcoin.script import p2wpkh, p2wsh
from vajra.bitcoin.sighash import SIGHASH_ALL, SegwitV0Sighasher
from vajra.bitcoin.tx import Tx
from vajra.chain.justice_kit import encode_kit, kit_from_txs, seal
from vajra.channel import signer_io as io
from vajra.channel.commitment import CommitmentKeys
from vajra.channel.penalty import PENALTY_SEQUENCE
from vajra.channel.spec import Side, build_commitment_for
from vajra.channel.sweep import fee_for_weight_sat
from vajra.crypto.secp256k1 import PrivateKey

OWN = p2wpkh(KEYS.node(0).onchain(1, 17).pubkey)  # a change address of the node
FEERATES = (2_500, 25_000)


def _revoked(tmp_path: Path) -> tuple[World, int, bytes]:
    w = open_world(tmp_path / "state.db")
    _peer_pays(w, 7_000_000)
    rev = w.pair.a.channel.last_revocation
    assert rev is not None
    return w, rev[0], rev[1]


def test_penalty_spends_to_local_and_the_htlc_of_the_revoked_commitment(tmp_path: Path) -> None:
    w, number, secret = _revoked(tmp_path)
    r = w.request(io.SignPenalty(number, secret, OWN, FEERATES))
    assert isinstance(r, io.PenaltySigned), r
    # what the peer could broadcast: its commitment `number` as the hosted side signed it
    a = w.pair.a.channel
    params = a.ledger.channel
    spec = w.pair.b.signer.holder[number].spec.flipped()  # the peer's own copy
    point = PrivateKey(secret).pubkey
    revoked = build_commitment_for(params, spec, Side.REMOTE, number, point)
    assert r.revoked_txid == revoked.tx.txid
    htlcs = [o for o in revoked.outputs if o.htlc is not None]
    assert htlcs, "the revoked commitment should hold the HTLC"
    keys = CommitmentKeys.derive(
        point, params.basepoints[Side.REMOTE], params.basepoints[Side.LOCAL]
    )
    pub = coincurve.PublicKey(keys.revocation_pubkey)
    txs = [Tx.parse(t) for t in r.transactions]
    assert len(txs) == 2
    expected = [
        i
        for i, o in enumerate(revoked.outputs)
        if o.kind in ("to_local", "offered_htlc", "received_htlc")
    ]
    for tx, feerate in zip(txs, FEERATES, strict=True):
        assert [i.prevout.txid for i in tx.inputs] == [revoked.tx.txid] * len(expected)
        assert [i.prevout.vout for i in tx.inputs] == expected
        assert all(i.sequence == PENALTY_SEQUENCE for i in tx.inputs)
        assert [o.script_pubkey for o in tx.outputs] == [OWN]
        value = sum(revoked.tx.outputs[v].amount_sat for v in expected)
        fee = value - tx.outputs[0].amount_sat
        assert fee >= fee_for_weight_sat(feerate, tx.weight)
        assert fee <= fee_for_weight_sat(feerate, tx.weight + 2 * len(expected))
        assert sum(i.witness[1] == keys.revocation_pubkey for i in tx.inputs) == len(htlcs)
        hasher = SegwitV0Sighasher(tx)
        for n, (txin, vout) in enumerate(zip(tx.inputs, expected, strict=True)):
            sig, _, script = txin.witness
            assert p2wsh(script) == revoked.tx.outputs[vout].script_pubkey
            amount = revoked.tx.outputs[vout].amount_sat
            digest = hasher.sighash(n, script, amount, SIGHASH_ALL)
            assert sig[-1] == SIGHASH_ALL and pub.verify(sig[:-1], digest, hasher=None)
    assert txs[1].outputs[0].amount_sat < txs[0].outputs[0].amount_sat
    # both variants differ only in amount and signatures: one compact kit
    kit = encode_kit(kit_from_txs(revoked.tx.txid, txs))
    hint, blob = seal(kit, revoked.tx.txid, 1)
    assert len(hint) + len(blob) < 1024


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"destination": p2wpkh(PrivateKey(b"\x44" * 32).pubkey)},
            "policy-penalty-destination-allowlisted",
        ),
        (
            {"destination": p2wpkh(KEYS.node(1).onchain(0, 0).pubkey)},
            "policy-penalty-destination-allowlisted",
        ),
        ({"per_commitment_secret": b"\x01" * 32}, "policy-revocation-invalid"),
        ({"number": 999}, "policy-penalty-unknown-commitment"),
        ({"feerates_per_kw": ()}, "policy-penalty-feerate"),
        ({"feerates_per_kw": (25_000, 2_500)}, "policy-penalty-feerate"),
        ({"feerates_per_kw": (252,)}, "policy-penalty-feerate"),
        ({"feerates_per_kw": (2_500, 300_000)}, "policy-penalty-feerate"),
    ],
)
def test_refusals_are_normal_outcomes_and_write_nothing(
    tmp_path: Path, change: dict[str, object], reason: str
) -> None:
    w, number, secret = _revoked(tmp_path)
    before = w.record()
    fields: dict[str, object] = {
        "number": number, "per_commitment_secret": secret, "destination": OWN,
        "feerates_per_kw": FEERATES,
    }  # fmt: skip
    fields.update(change)
    r = w.request(io.SignPenalty(**fields))  # type: ignore[arg-type]
    assert isinstance(r, io.SignerRefused) and r.reason == reason, r
    assert w.record() == before


def test_the_unrevoked_current_commitment_needs_its_real_secret(tmp_path: Path) -> None:
    """The current commitment's secret is not known: any guess is refused."""
    w, number, _ = _revoked(tmp_path)
    r = w.request(io.SignPenalty(number + 1, b"\x02" * 32, OWN, FEERATES))
    assert isinstance(r, io.SignerRefused) and r.reason == "policy-revocation-invalid"


def test_codec_round_trips_the_penalty_messages() -> None:
    from vajra.channel import signer_codec as codec
    from vajra.errors import DecodeError

    req = io.SignPenalty(7, b"\x03" * 32, OWN, (253, 2_500, 250_000))
    assert codec.decode_request(codec.encode_request(req)) == req
    res = io.PenaltySigned(b"\x09" * 32, (b"\x01\x02", b"\x03" * 300))
    raw = codec.encode_result(res)
    assert codec.decode_result(raw) == res
    with pytest.raises(DecodeError):
        codec.decode_result(raw[:-1])
    with pytest.raises(DecodeError):
        codec.decode_request(codec.encode_request(req) + b"\x00")
