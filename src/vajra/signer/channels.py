"""The signer's side of one channel: its own copy, the BOLT 3 signatures, the policy.

`ChannelSigner.handle(request)` answers one `vajra.channel.signer_io` request with a
result or a `SignerRefused` whose `reason` is a stable policy code (DESIGN.md section 12,
in the spirit of VLS's policy controls). It builds every transaction itself from its own
channel parameters with `vajra.channel.spec`/`commitment` and signs with the channel's
secrets; the runtime's core only says *which* commitment (number and spec).

Kept per channel: the holder commitments validated (number, spec, the peer's signatures),
the highest holder commitment revoked, the counterparty commitments signed and their
points, the last counterparty revocation verified, and the payment hashes a device has
authorised for outgoing HTLCs, each with its cap (amount + max fee, msat; decision 0023:
the outgoing HTLCs with that hash in a counterparty commitment total at most the cap;
the approval stays for retries while no preimage is known and is gone once one is).
Policy codes:

    policy-commitment-retry-same        same counterparty number, different content
    policy-commitment-previous-revoked  counterparty n+1 before n-1 is revoked (verified)
    policy-commitment-sequence          counterparty number neither repeat nor +1
    policy-commitment-payment-approved  an outgoing HTLC no device authorised
    policy-commitment-payment-cap       outgoing HTLCs of one payment hash above the
                                        authorisation's amount + max fee
    policy-commitment-balance           balances + HTLCs differ from the capacity
    policy-commitment-payment-balance   our balance falls by more than our new HTLCs, or
                                        an HTLC we offered goes to the peer unpaid
    policy-commitment-holder-sequence   holder commitment not the next one
    policy-commitment-signature         the peer's commitment signature does not verify
    policy-htlc-signature               an HTLC signature missing or not verifying
    policy-revoke-new-commitment-signed revoke before the next holder commitment validated
    policy-commitment-holder-not-revoked  sign (for broadcast) a revoked holder commitment
    policy-setup-basepoints             SetupChannel names basepoints not derived from the
                                        channel's secrets
    policy-setup-repeated               a second, different SetupChannel for the channel
    policy-commitment-initial           commitment 0 (either side) differs from the
                                        SetupChannel's initial spec
    policy-mutual-destination-allowlisted  a mutual close paying our balance to a script
                                        not in the allow-list (the node wallet's scripts)
    policy-mutual-not-settled           a mutual close while HTLCs are in flight or the
                                        two sides' latest commitments differ
    policy-mutual-fee                   a closing fee above the funder's balance, or no
                                        output left above our dust limit

Not yet (issue 9): replaying the updates to derive the spec itself (it checks
conservation, our balance against our HTLCs and preimages, and authorisations), fee and
CLTV ranges, sealing this state under the signer's rollback protection.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from vajra.bitcoin.tx import Tx, TxIn
from vajra.channel import signer_io as io
from vajra.channel.closing import closing_sighash, legacy_closing_tx
from vajra.channel.commitment import Commitment, CommitmentKeys
from vajra.channel.keys import ChannelSecrets, derive_privkey
from vajra.channel.scripts import funding_script
from vajra.channel.signing import (
    commitment_sighash,
    commitment_witness,
    counterparty_htlc_sighash_type,
    htlc_digests,
)
from vajra.channel.spec import ChannelParams, CommitSpec, Side, build_commitment_for
from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import (
    PrivateKey,
    compact_to_der,
    pubkey_from_secret,
    verify_digest,
)
from vajra.errors import PolicyViolation, VajraError

Allowlist = Collection[bytes] | Callable[[bytes], bool]
"""The scripts a mutual close may pay our balance to."""


@dataclass(slots=True)
class _Held:
    spec: CommitSpec
    signature: bytes
    htlc_signatures: tuple[bytes, ...]


@dataclass(slots=True)
class ChannelSigner:
    """The signer's copy of one channel (frame: `Side.LOCAL` is the signer's node)."""

    secrets: ChannelSecrets
    channel: ChannelParams
    holder: dict[int, _Held] = field(default_factory=dict)
    holder_revoked: int = -1
    counterparty: dict[int, tuple[CommitSpec, bytes]] = field(default_factory=dict)
    counterparty_revoked: int = -1
    initial_spec: CommitSpec | None = None
    """Commitment 0's content, from `SetupChannel`: both sides' commitment 0 must hold it."""
    approved_payments: dict[bytes, int] = field(default_factory=dict)
    """Payment hash -> cap (msat): what a device authorised (`authorise_payment`)."""
    paid_hashes: set[bytes] = field(default_factory=set)
    """Payment hashes whose preimage the signer has seen: those HTLCs we offered may go
    to the peer."""

    @classmethod
    def setup(cls, secrets: ChannelSecrets, request: io.SetupChannel) -> ChannelSigner:
        """The signer's copy of a channel from its first request, `SetupChannel` (answer
        it with `io.ChannelSetUp()`). Commitment 0 of each side is still to be signed and
        validated, and must hold `request.initial_spec`. Raises `PolicyViolation`
        (`policy-setup-basepoints`, `policy-commitment-balance`)."""
        channel, spec = request.params, request.initial_spec
        if channel.basepoints[Side.LOCAL] != secrets.basepoints():
            raise PolicyViolation("policy-setup-basepoints", channel.channel_id.hex())
        s = cls(secrets, channel, initial_spec=spec)
        s._check_balance(spec)
        if spec.htlcs:
            raise PolicyViolation("policy-commitment-initial", "HTLCs in commitment 0")
        return s

    @classmethod
    def open(
        cls, secrets: ChannelSecrets, channel: ChannelParams, spec: CommitSpec
    ) -> ChannelSigner:
        """A channel whose commitment 0 of each side is done (for tests that start in
        normal operation; the funding flow goes through `setup`)."""
        s = cls.setup(secrets, io.SetupChannel(channel, spec))
        s.holder[0] = _Held(spec, b"", ())
        first = channel.basepoints[Side.REMOTE].first_per_commitment_point
        s.counterparty[0] = (spec, first)
        return s

    def authorise_payment(self, payment_hash: bytes, cap_msat: int) -> None:
        """A device authorised a payment with this hash costing at most `cap_msat`
        (amount + max fee): outgoing HTLCs with the hash may enter counterparty
        commitments while their total stays within the cap (retries and parts included),
        until the payment's preimage is known (decision 0023). A second authorisation for
        a hash already approved replaces nothing: the first cap stands."""
        if payment_hash in self.paid_hashes:
            raise PolicyViolation("policy-payment-already-paid", payment_hash.hex())
        self.approved_payments.setdefault(payment_hash, cap_msat)

    def handle(
        self, request: io.SignerRequest, *, allowlisted: Allowlist | None = None
    ) -> io.SignerResult:
        """Answer one request. `allowlisted` says which scripts a mutual close may pay our
        balance to (the node wallet's: a set, or a predicate); None allows none."""
        try:
            if isinstance(request, io.SignMutualClose):
                return self._sign_mutual_close(request, allowlisted)
            if isinstance(request, io.SignCounterpartyCommitment):
                return self._sign_counterparty(request)
            if isinstance(request, io.ValidateHolderCommitment):
                return self._validate_holder(request)
            if isinstance(request, io.RevokeHolderCommitment):
                return self._revoke(request)
            if isinstance(request, io.SetupChannel):
                # A retried SetupChannel (the answer was lost) is answered again; any
                # other is refused: the channel's parameters never change.
                if (request.params, request.initial_spec) != (self.channel, self.initial_spec):
                    raise PolicyViolation("policy-setup-repeated", self.channel.channel_id.hex())
                return io.ChannelSetUp()
            raise PolicyViolation("request-unsupported", type(request).__name__)
        except PolicyViolation as e:
            return io.SignerRefused(e.reason, e.detail)

    # -- requests --------------------------------------------------------------------

    def _sign_counterparty(self, r: io.SignCounterpartyCommitment) -> io.SignerResult:
        last = max(self.counterparty, default=-1)
        if r.number == last and self.counterparty[last] != (r.spec, r.per_commitment_point):
            raise PolicyViolation("policy-commitment-retry-same", f"number {r.number}")
        if r.number not in (last, last + 1):
            raise PolicyViolation("policy-commitment-sequence", f"{r.number} after {last}")
        if r.number == 0 and r.spec != self.initial_spec:
            raise PolicyViolation("policy-commitment-initial", "counterparty commitment 0")
        if r.number == last + 1:
            self._take_revocation(r.last_revocation)
            if self.counterparty_revoked < r.number - 2:
                raise PolicyViolation("policy-commitment-previous-revoked", f"number {r.number}")
        self._check_balance(r.spec)
        previous = self.counterparty[last][0] if last >= 0 else r.spec
        if r.number == last + 1 and last >= 0:
            self._check_payments(previous, r.spec, r.preimages)
        new_outgoing = [
            h
            for h in r.spec.offered_by(Side.LOCAL)
            if previous.find(Side.LOCAL, h.id) is None and r.number != last
        ]
        for h in new_outgoing:
            cap = self.approved_payments.get(h.payment_hash)
            if cap is None:
                raise PolicyViolation(
                    "policy-commitment-payment-approved", f"HTLC {h.id} not authorised"
                )
            total = sum(
                o.amount_msat for o in r.spec.offered_by(Side.LOCAL)
                if o.payment_hash == h.payment_hash
            )  # fmt: skip
            if total > cap:
                raise PolicyViolation(
                    "policy-commitment-payment-cap", f"{total} msat > {cap} msat authorised"
                )
        keys = self._keys(Side.REMOTE, r.per_commitment_point)
        commitment = self._build(r.spec, Side.REMOTE, r.number, keys)
        digest = commitment_sighash(commitment, self._funding_script(), self.channel.capacity_sat)
        signature = PrivateKey(self.secrets.funding).sign_digest(digest)
        htlc_base = self.channel.basepoints[Side.LOCAL].htlc_basepoint  # checked at setup
        htlc_key = PrivateKey(
            derive_privkey(self.secrets.htlc_base, r.per_commitment_point, htlc_base)
        )
        htlc_sigs = tuple(
            htlc_key.sign_digest(d)
            for d in self._htlc_digests(commitment, keys, Side.REMOTE, r.spec.feerate_per_kw)
        )
        self.counterparty[r.number] = (r.spec, r.per_commitment_point)
        return io.CounterpartySigned(signature, htlc_sigs)

    def _take_revocation(self, revocation: tuple[int, bytes] | None) -> None:
        if revocation is None:
            return
        number, secret = revocation
        if number <= self.counterparty_revoked:
            return
        known = self.counterparty.get(number)
        try:
            ok = known is not None and pubkey_from_secret(secret) == known[1]
        except VajraError:
            ok = False
        if not ok:
            raise PolicyViolation("policy-revocation-invalid", f"number {number}")
        self.counterparty_revoked = number

    def _validate_holder(self, r: io.ValidateHolderCommitment) -> io.SignerResult:
        current = max(self.holder, default=-1)
        if r.number != current + 1:
            raise PolicyViolation(
                "policy-commitment-holder-sequence", f"{r.number} after {current}"
            )
        if r.number == 0 and r.spec != self.initial_spec:
            raise PolicyViolation("policy-commitment-initial", "holder commitment 0")
        self._check_balance(r.spec)
        if current >= 0:
            self._check_payments(self.holder[current].spec, r.spec, r.preimages)
        point = self.secrets.per_commitment_point(r.number)
        keys = self._keys(Side.LOCAL, point)
        commitment = self._build(r.spec, Side.LOCAL, r.number, keys)
        digest = commitment_sighash(commitment, self._funding_script(), self.channel.capacity_sat)
        remote_funding = self.channel.basepoints[Side.REMOTE].funding_pubkey
        if not verify_digest(remote_funding, r.signature, digest):
            raise PolicyViolation("policy-commitment-signature", f"number {r.number}")
        digests = self._htlc_digests(commitment, keys, Side.LOCAL, r.spec.feerate_per_kw)
        if len(digests) != len(r.htlc_signatures) or not all(
            verify_digest(keys.remote_htlc_pubkey, s, d)
            for s, d in zip(r.htlc_signatures, digests, strict=True)
        ):
            raise PolicyViolation("policy-htlc-signature", f"number {r.number}")
        self.holder[r.number] = _Held(r.spec, r.signature, r.htlc_signatures)
        return io.HolderValidated()

    def _revoke(self, r: io.RevokeHolderCommitment) -> io.SignerResult:
        if r.number + 1 not in self.holder:
            raise PolicyViolation("policy-revoke-new-commitment-signed", f"number {r.number}")
        self.holder_revoked = max(self.holder_revoked, r.number)
        return io.HolderRevoked(
            self.secrets.per_commitment_secret(r.number),
            self.secrets.per_commitment_point(r.number + 2),
        )

    def _sign_mutual_close(
        self, r: io.SignMutualClose, allowlisted: Allowlist | None
    ) -> io.SignerResult:
        allowed = (
            allowlisted(r.local_script)
            if callable(allowlisted)
            else allowlisted is not None and r.local_script in allowlisted
        )
        if not allowed:
            raise PolicyViolation("policy-mutual-destination-allowlisted", r.local_script.hex())
        if not self.holder or not self.counterparty:
            raise PolicyViolation("policy-mutual-not-settled", "no commitment")
        spec = self.holder[max(self.holder)].spec
        latest = max(self.counterparty)
        # (The peer's previous commitment may still be unrevoked: the core passes no
        # revocation with this request. The close pays what the latest two agree on.)
        if spec.htlcs or self.counterparty[latest][0] != spec:
            raise PolicyViolation("policy-mutual-not-settled", f"holder {max(self.holder)}")
        c = self.channel
        if r.fee_sat > spec.balance_msat[c.funder] // 1000:
            raise PolicyViolation("policy-mutual-fee", f"{r.fee_sat} sat")
        try:
            tx = legacy_closing_tx(
                funding_outpoint=c.funding_outpoint,
                local_msat=spec.balance_msat[Side.LOCAL],
                remote_msat=spec.balance_msat[Side.REMOTE],
                local_script=r.local_script,
                remote_script=r.remote_script,
                fee_sat=r.fee_sat,
                local_is_opener=c.funder is Side.LOCAL,
                dust_limit_sat=c.params[Side.LOCAL].dust_limit_sat,
            )
        except ValueError as e:
            raise PolicyViolation("policy-mutual-fee", str(e)) from None
        digest = closing_sighash(tx, self._funding_script(), c.capacity_sat)
        return io.MutualCloseSigned(PrivateKey(self.secrets.funding).sign_digest(digest))

    def sign_holder_commitment(self, number: int) -> Tx:
        """Our commitment `number`, fully signed, for broadcast (a force close). Raises
        PolicyViolation for a revoked or never validated commitment."""
        if number <= self.holder_revoked:
            raise PolicyViolation("policy-commitment-holder-not-revoked", f"number {number}")
        held = self.holder.get(number)
        if held is None or not held.signature:
            raise PolicyViolation("policy-commitment-holder-sequence", f"number {number}")
        point = self.secrets.per_commitment_point(number)
        commitment = self._build(held.spec, Side.LOCAL, number, self._keys(Side.LOCAL, point))
        script = self._funding_script()
        digest = commitment_sighash(commitment, script, self.channel.capacity_sat)
        key = PrivateKey(self.secrets.funding)
        ours = key.sign_digest_der(digest) + b"\x01"
        theirs = compact_to_der(held.signature) + b"\x01"
        remote = self.channel.basepoints[Side.REMOTE].funding_pubkey
        witness = commitment_witness(script, key.pubkey, ours, remote, theirs)
        tx = commitment.tx
        txin = tx.inputs[0]
        signed_in = TxIn(txin.prevout, txin.script_sig, txin.sequence, witness)
        return Tx(tx.version, (signed_in,), tx.outputs, tx.locktime)

    # -- helpers ---------------------------------------------------------------------

    def _check_balance(self, spec: CommitSpec) -> None:
        if spec.total_msat() != self.channel.capacity_sat * 1000 or min(spec.balance_msat) < 0:
            raise PolicyViolation("policy-commitment-balance", str(spec.balance_msat))

    def _check_payments(
        self, previous: CommitSpec, spec: CommitSpec, preimages: tuple[bytes, ...]
    ) -> None:
        """Our balance falls only by the HTLCs we newly offer; an HTLC we offered leaves
        toward the peer only against its preimage (else it must come back to us)."""
        self.paid_hashes.update(sha256(p) for p in preimages)
        for h in self.paid_hashes.intersection(self.approved_payments):
            del self.approved_payments[h]  # paid: the authorisation is used up
        ours = Side.LOCAL
        floor = previous.balance_msat[ours]
        floor -= sum(h.amount_msat for h in spec.offered_by(ours) if not previous.find(ours, h.id))
        floor += sum(
            h.amount_msat
            for h in previous.offered_by(ours)
            if not spec.find(ours, h.id) and h.payment_hash not in self.paid_hashes
        )
        if spec.balance_msat[ours] < floor:
            raise PolicyViolation(
                "policy-commitment-payment-balance", f"{spec.balance_msat[ours]} < {floor}"
            )

    def _build(
        self, spec: CommitSpec, owner: Side, number: int, keys: CommitmentKeys
    ) -> Commitment:
        """The owner's commitment with its keys (derived once per request: the HTLC
        digests and signatures use the same keys)."""
        try:
            return build_commitment_for(
                self.channel, spec, owner, number, keys.per_commitment_point, keys
            )
        except ValueError as e:
            raise PolicyViolation("policy-commitment-unbuildable", str(e)) from None

    def _keys(self, owner: Side, point: bytes) -> CommitmentKeys:
        bp = self.channel.basepoints
        return CommitmentKeys.derive(point, bp[owner], bp[owner.other])

    def _funding_script(self) -> bytes:
        bp = self.channel.basepoints
        return funding_script(bp[Side.LOCAL].funding_pubkey, bp[Side.REMOTE].funding_pubkey)

    def _htlc_digests(
        self, commitment: Commitment, keys: CommitmentKeys, owner: Side, feerate_per_kw: int
    ) -> list[bytes]:
        """Digests of the owner's HTLC transactions as the non-owner signs them."""
        anchors = self.channel.anchors
        return htlc_digests(
            commitment,
            keys,
            to_self_delay=self.channel.params[owner.other].to_self_delay,
            feerate_per_kw=feerate_per_kw,
            anchors=anchors,
            hash_type=counterparty_htlc_sighash_type(anchors=anchors),
        )
