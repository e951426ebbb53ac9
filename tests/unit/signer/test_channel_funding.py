"""The funding rule of on-chain signing (decision 0017): the node's funding PSBT is
signed only once the channel's holder commitment 0 is validated, and only as exactly
that channel's funding output; a refusal leaves the device's consent unused."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.unit.channel.pair import PUSH_MSAT
from tests.unit.signer.channel_world import PEER, channel_params, sealed_core
from tests.unit.signer.helpers import T0, World, key
from vajra.bitcoin.psbt import Psbt
from vajra.bitcoin.tx import OutPoint
from vajra.channel import signer_io as io
from vajra.channel.spec import CommitSpec, Side
from vajra.crypto.hashes import sha256
from vajra.signer import channel_store as cs
from vajra.signer.channel_requests import FUNDING_BEFORE_COMMITMENT, FUNDING_MISMATCH
from vajra.signer.channels import ChannelSigner
from vajra.signer.devices import KeyType, Rules
from vajra.signer.onchain_messages import OnchainAuthorisation
from vajra.signer.wallet import SignerWallet
from vajra.wallet import psbt_build
from vajra.wallet.account import CHANGE, Account, WalletState
from vajra.wallet.select import Coin, build_spend

CAPACITY_SAT = 400_000
RING = key(KeyType.SECP256K1, 1)


def test_the_funding_psbt_waits_for_holder_commitment_0(tmp_path: Path) -> None:
    core = sealed_core(tmp_path / "state.db")
    world = World(state=core.state)
    world.policy = core.policy
    world.bootstrap()
    big = 10**12
    world.enroll(RING, rules=Rules(big, big, big, big, big))
    (node,) = core.create_nodes(1, now=T0)
    wallet = SignerWallet(core)
    acct = Account(WalletState(*wallet.account_xpub(node, epoch=1, now=T0)))
    coins = [Coin(OutPoint(b"\x01" * 32, 0), 500_000, acct.script(0, 0), 0, 0)]

    index, keys = core.new_channel(node, epoch=1, now=T0)
    base = replace(channel_params(keys.basepoints), capacity_sat=CAPACITY_SAT)
    funding = cs.funding_spk(base)
    spend = build_spend(coins, funding, CAPACITY_SAT, 1_000, acct.script(CHANGE, 1))
    vout = next(i for i, o in enumerate(spend.tx.outputs) if o.script_pubkey == funding)
    params = replace(base, funding_outpoint=OutPoint(spend.tx.txid, vout))
    spec = CommitSpec(2_500, (CAPACITY_SAT * 1000 - PUSH_MSAT, PUSH_MSAT), ())

    def request(r: io.SignerRequest) -> io.SignerResult:
        return core.channel_request(node, index, r, epoch=1, now=T0)

    def consent(amount: int = CAPACITY_SAT) -> bytes:
        return OnchainAuthorisation(node, sha256(funding), amount, spend.fee_sat, T0 + 60,
                                    world.next_counter(RING), RING.device_id).signed(RING).encode()  # fmt: skip

    def sign(psbt: bytes, auth: bytes) -> tuple[str, str, bytes]:
        r = wallet.sign_onchain(node, auth, psbt, epoch=1, now=T0)
        return r.decision.outcome, r.decision.reason, r.psbt

    psbt = psbt_build.unsigned_psbt(spend, acct, acct.state.master_fingerprint, 1, 1)
    assert request(io.SetupChannel(params, spec)) == io.ChannelSetUp()
    # Set up, commitment 0 of the peer signed, ours not yet validated: refused by name.
    peer = ChannelSigner.setup(PEER, io.SetupChannel(params.flipped(), spec.flipped()))
    assert isinstance(
        request(io.SignCounterpartyCommitment(0, spec, PEER.per_commitment_point(0), None)),
        io.CounterpartySigned,
    )
    auth = consent()
    assert sign(psbt, auth) == ("deny", FUNDING_BEFORE_COMMITMENT, b"")
    # A transaction paying the funding script another amount is not this channel's.
    other = build_spend(coins, funding, CAPACITY_SAT - 1, 1_000, acct.script(CHANGE, 1))
    wrong = psbt_build.unsigned_psbt(other, acct, acct.state.master_fingerprint, 1, 1)
    assert sign(wrong, consent(CAPACITY_SAT - 1))[:2] == ("deny", FUNDING_MISMATCH)

    first = params.basepoints[Side.LOCAL].first_per_commitment_point
    theirs = peer.handle(io.SignCounterpartyCommitment(0, spec.flipped(), first, None))
    assert isinstance(theirs, io.CounterpartySigned)
    assert request(io.ValidateHolderCommitment(0, spec, theirs.signature, ())) == (
        io.HolderValidated()
    )
    # The first consent was not used up by the refusal: it signs now.
    outcome, reason, signed = sign(psbt, auth)
    assert (outcome, reason) == ("approve", "auto_approved"), reason
    assert Psbt.parse(signed).tx.txid == spend.tx.txid
