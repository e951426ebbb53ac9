"""`SignerCore.channel_request` and the signer-side helpers that read channel records
(the funding rule of on-chain signing, a holder commitment for broadcast). Sans-IO.

Each channel request is one audited decision (`Policy.authorise_request`, kind
`channel`) whose check loads the record, answers, and writes the record back, all in
the state transaction that appends the audit entry (decision 0017). The entry's subject
is: node id 33 | SHA-256(request bytes) 32 | channel index u32 | request tag u8, and for
an approval also the SHA-256 of the stored record it left (32): the audit log vouches
for the newest record of every channel, which `vajra.signer.replay` checks at open.

The allow-list a mutual close may pay our share to is the node's own wallet
(`wallet_scripts`), handed to the policy (`policy-mutual-destination-allowlisted`).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from vajra.bitcoin.script import p2wpkh
from vajra.bitcoin.tx import Tx
from vajra.channel import signer_codec as codec
from vajra.channel import signer_io as io
from vajra.channel.keys import ChannelSecrets
from vajra.errors import DecodeError, PolicyViolation
from vajra.signer import channel_store as cs
from vajra.signer.channels import ChannelSigner
from vajra.signer.integrity import StateIntegrityError
from vajra.signer.messages import decode_authorisation
from vajra.signer.state import HostedNode, StateTxn

if TYPE_CHECKING:
    from vajra.signer.core import SignerCore
    from vajra.signer.policy import Decision

KIND = "channel"
CONTEXT = struct.Struct(">IB")
"""channel index, request tag (the first byte of the request's encoding)."""
SUBJECT_LENGTH = 33 + 32 + CONTEXT.size + 32
"""An approved channel entry's subject: node id, request digest, context, record hash."""


def parse_subject(subject: bytes) -> tuple[bytes, int, bytes] | None:
    """(node id, channel index, record hash) of an approved channel entry's subject;
    None for a refusal's (no record hash)."""
    if len(subject) != SUBJECT_LENGTH:
        return None
    index, _tag = CONTEXT.unpack_from(subject, 65)
    return subject[:33], index, subject[65 + CONTEXT.size :]


def load(
    txn: StateTxn, node_id: bytes, index: int, secrets: ChannelSecrets
) -> ChannelSigner | None:
    raw = txn.channel(node_id, index)
    if raw is None:
        return None
    try:
        return cs.decode(raw, secrets)
    except DecodeError as e:
        raise StateIntegrityError(
            f"channel record {node_id.hex()[:16]}/{index} does not decode: {e}"
        ) from None


RECORDS_CACHED = 1024
"""Decoded channel records `SignerCore.channel_records` keeps (a few KiB each)."""


def _load_cached(
    core: SignerCore, txn: StateTxn, node_id: bytes, index: int, secrets: ChannelSecrets
) -> ChannelSigner | None:
    """The stored record, decoded, or reused from the last approved request when the row
    read from the state in this transaction is byte for byte what that request wrote
    (a hit is taken out of the cache: a refusal may have changed the object). Every
    request still reads its row under the state's MAC; only the parse is saved."""
    raw = txn.channel(node_id, index)
    hit = core.channel_records.pop((node_id, index), None)
    if raw is None:
        return None
    if hit is not None and hit[0] == raw:
        return hit[1]
    try:
        return cs.decode(raw, secrets)
    except DecodeError as e:
        raise StateIntegrityError(
            f"channel record {node_id.hex()[:16]}/{index} does not decode: {e}"
        ) from None


def _cache_record(
    core: SignerCore, node_id: bytes, index: int, data: bytes, record: ChannelSigner
) -> None:
    """Keep `record` (just encoded as `data`) for the channel's next request, pruned as
    `channel_store.encode` prunes, so it equals `decode(data)`."""
    cs.prune(record)
    if len(core.channel_records) >= RECORDS_CACHED:
        core.channel_records.clear()
    core.channel_records[(node_id, index)] = (data, record)


def _node(txn: StateTxn, node_id: bytes) -> HostedNode:
    node = txn.node(node_id)
    if node is None:
        raise PolicyViolation("unknown_node", node_id.hex())
    return node


def channel_request(
    core: SignerCore,
    node_id: bytes,
    index: int,
    request: bytes | io.SignerRequest,
    *,
    epoch: int,
    now: int,
) -> io.SignerResult:
    """See `SignerCore.channel_request`."""
    parsed: io.SignerRequest | None
    why = ""
    if isinstance(request, bytes | bytearray):
        raw = bytes(request)
        try:
            parsed = codec.decode_request(raw)
        except DecodeError as e:
            parsed, why = None, str(e)
    else:
        raw, parsed = codec.encode_request(request), request
    tag = raw[0] if raw else 0
    if not 0 <= index < 1 << 32:
        raise PolicyViolation("bad_request", f"channel index {index}")
    if isinstance(parsed, io.ApprovePayment):
        return approve_payment(core, node_id, index, parsed, epoch=epoch, now=now)
    refused: list[io.SignerRefused] = []
    answer: list[io.SignerResult] = []

    def check(txn: StateTxn) -> bytes:
        if parsed is None:
            raise PolicyViolation("bad_request", why)
        node = _node(txn, node_id)
        if index >= node.channels:
            refused.append(io.SignerRefused("policy-channel-unknown", f"index {index}"))
            raise PolicyViolation(refused[0].reason, refused[0].detail)
        secrets = core.keys.node(node.index).channel(index)
        stored = _load_cached(core, txn, node_id, index, secrets)
        allowed = (
            wallet_scripts(core, node.index) if isinstance(parsed, io.SignMutualClose) else None
        )
        result, record = cs.handle(stored, secrets, parsed, allowlisted=allowed)
        if isinstance(result, io.SignerRefused):
            refused.append(result)
            raise PolicyViolation(result.reason, result.detail)
        if record is not None:
            data = cs.encode(record)
            txn.put_channel(node_id, index, cs.funding_spk(record.channel), data)
            _cache_record(core, node_id, index, data, record)
        else:
            data = txn.channel(node_id, index) or b""
        answer.append(result)
        return cs.record_hash(data)

    try:
        core._decide(KIND, node_id, epoch, now, check, raw, context=CONTEXT.pack(index, tag))
    except PolicyViolation:
        if refused:
            return refused[0]
        raise
    return answer[0]


def approve_payment(
    core: SignerCore,
    node_id: bytes,
    index: int,
    request: io.ApprovePayment,
    *,
    epoch: int,
    now: int,
) -> io.SignerResult:
    """`ApprovePayment` (the node's channel request, decision 0023): `authorise_htlc`
    answered as a channel result. `PaymentApproved` with the cap bound (amount + max
    fee), or `SignerRefused` with the policy's reason (`device_frozen`, `replay`,
    `over_hourly_limit`, `user_presence_required`, ...) or the channel's
    (`policy-channel-unknown`, `policy-payment-already-paid`: the consent untouched).
    Fencing raises `PolicyViolation` as for every channel request."""
    try:
        d = authorise_htlc(
            core, node_id, index, request.authorisation, epoch=epoch, now=now,
            confirmation=request.confirmation,
        )  # fmt: skip
    except PolicyViolation as v:
        if v.reason in ("stale_epoch", "epoch_jump", "unknown_node"):
            raise
        return io.SignerRefused(v.reason, v.detail)
    if not d.approved:
        return io.SignerRefused(d.reason, d.outcome.value)
    auth = decode_authorisation(request.authorisation)
    return io.PaymentApproved(auth.payment_hash, auth.total_msat, d.reason)


MUTUAL_DESTINATION = "policy-mutual-destination-allowlisted"
WALLET_WINDOW = 1000
"""Address indices per BIP 84 branch (receive, change) a mutual close may pay our share
to: the node's own wallet, as far as the runtime plausibly hands out addresses."""


def wallet_scripts(core: SignerCore, node_index: int) -> frozenset[bytes]:
    """The node's BIP 84 P2WPKH scripts, receive and change, indices below
    WALLET_WINDOW: where a mutual close may send our balance (`SignMutualClose`'s
    `local_script`, refused `policy-mutual-destination-allowlisted` otherwise). Derived
    from the account key once per node and process (about 2,000 public derivations)."""
    cached = core.wallet_scripts.get(node_index)
    if cached is None:
        account = core.keys.node(node_index).account().public()
        cached = frozenset(
            p2wpkh(branch.child(i).pubkey)
            for branch in (account.child(0), account.child(1))
            for i in range(WALLET_WINDOW)
        )
        if len(core.wallet_scripts) >= 64:  # a small bound: closes are rare
            core.wallet_scripts.clear()
        core.wallet_scripts[node_index] = cached
    return cached


def holder_commitment_tx(
    core: SignerCore, node_id: bytes, index: int, number: int, *, epoch: int, now: int
) -> Tx:
    """Our commitment `number` of channel `index`, fully signed, for broadcast (a force
    close; the link request comes with the enforcement work). One audited decision (kind
    `holder_commitment`); refused with PolicyViolation `policy-commitment-holder-not-
    revoked` for a commitment we revoked (broadcasting it would hand the peer every
    satoshi), or `policy-commitment-holder-sequence` for one never validated."""
    if not 0 <= number < 1 << 48 or not 0 <= index < 1 << 32:
        raise PolicyViolation("bad_request", f"commitment {number} of channel {index}")
    out: list[Tx] = []

    def check(txn: StateTxn) -> None:
        node = _node(txn, node_id)
        secrets = core.keys.node(node.index).channel(index)
        stored = load(txn, node_id, index, secrets) if index < node.channels else None
        if stored is None:
            raise PolicyViolation("policy-channel-unknown", f"index {index}")
        out.append(stored.sign_holder_commitment(number))

    context = CONTEXT.pack(index, 0) + number.to_bytes(8, "big")
    core._decide("holder_commitment", node_id, epoch, now, check, context=context)
    return out[0]


FUNDING_BEFORE_COMMITMENT = "onchain-funding-before-commitment"
FUNDING_MISMATCH = "onchain-funding-mismatch"


def check_funding(core: SignerCore, txn: StateTxn, node_id: bytes, tx: Tx) -> None:
    """The funding rule of on-chain signing (decision 0017): an output paying the funding
    script of one of the node's channels is signed only once that channel's holder
    commitment 0 is validated (`onchain-funding-before-commitment`: broadcast before it,
    the funds could be stranded, the peer holding the only way out), and only as exactly
    that channel's funding output (`onchain-funding-mismatch`: outpoint and capacity)."""
    node = _node(txn, node_id)
    keys = core.keys.node(node.index)
    txid = tx.txid
    for vout, out in enumerate(tx.outputs):
        for index, raw in txn.channels_funded_by(node_id, out.script_pubkey):
            try:
                channel = cs.decode(raw, keys.channel(index))
            except DecodeError as e:
                raise StateIntegrityError(f"channel record {index} does not decode: {e}") from None
            params = channel.channel
            where = f"output {vout} funds channel {index}"
            if (params.funding_outpoint.txid, params.funding_outpoint.vout) != (txid, vout):
                raise PolicyViolation(FUNDING_MISMATCH, f"{where} at another outpoint")
            if out.amount_sat != params.capacity_sat:
                raise PolicyViolation(FUNDING_MISMATCH, f"{where} with another amount")
            held = channel.holder.get(0)
            if held is None or not held.signature:
                raise PolicyViolation(
                    FUNDING_BEFORE_COMMITMENT, f"{where}: holder commitment 0 not validated"
                )


TAG_AUTHORISE = 0xA0
"""The context tag of a channel entry recording a device's payment authorisation (a
request tag of its own: no `signer_codec` request starts with it)."""


def authorise_htlc(
    core: SignerCore,
    node_id: bytes,
    index: int,
    authorisation: bytes,
    *,
    epoch: int,
    now: int,
    confirmation: bytes | None = None,
) -> Decision:
    """A device's payment authorisation for an outgoing HTLC on channel `index`: the
    policy decides it (kind `payment`: the device's rules and limits, counter, audit);
    if approved, its payment hash becomes one authorised outgoing HTLC of the channel's
    record (`ChannelSigner.authorise_payment`; kind `channel`, tag 0xA0, naming the new
    record). Both in one group commit: the consent is never used up without reaching the
    channel. Fencing and an unknown channel are checked first (kind `authorise_htlc`; a
    refusal raises PolicyViolation, the consent untouched). Returns the payment
    decision."""

    try:
        auth = decode_authorisation(authorisation)
    except DecodeError:
        auth = None  # the policy refuses it (malformed), consent untouched

    def exists(txn: StateTxn) -> None:
        node = _node(txn, node_id)
        stored = None
        if index < node.channels:
            stored = load(txn, node_id, index, core.keys.node(node.index).channel(index))
        if stored is None:
            raise PolicyViolation("policy-channel-unknown", f"index {index}")
        if auth is not None and auth.payment_hash in stored.paid_hashes:
            # Paid once: never again (decision 0023); checked before the consent is used.
            raise PolicyViolation("policy-payment-already-paid", auth.payment_hash.hex())

    context = CONTEXT.pack(index, TAG_AUTHORISE)
    core._decide("authorise_htlc", node_id, epoch, now, exists, authorisation, context=context)
    with core.state.group():
        d = core.policy.decide(authorisation, node_id=node_id, now=now, confirmation=confirmation)
        if not d.approved:
            return d
        assert auth is not None  # an approved authorisation decoded

        def add(txn: StateTxn) -> bytes:
            node = _node(txn, node_id)
            secrets = core.keys.node(node.index).channel(index)
            stored = load(txn, node_id, index, secrets)
            if stored is None:
                raise PolicyViolation("policy-channel-unknown", f"index {index}")
            stored.authorise_payment(auth.payment_hash, auth.total_msat)
            data = cs.encode(stored)
            txn.put_channel(node_id, index, cs.funding_spk(stored.channel), data)
            return cs.record_hash(data)

        core._decide(KIND, node_id, epoch, now, add, authorisation, context=context)
    return d
