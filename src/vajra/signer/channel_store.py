"""The signer's own copy of each channel, as it is kept in the sealed signer state, and
the one function that answers a channel request against it. Sans-IO.

Theory of operation (decision 0017). A channel record is a `ChannelSigner` (the policy
object of `vajra.signer.channels`) minus its secrets. It lives as one row of the signer state's `channels`
table, keyed (node id, channel index), so the state's keyed MAC covers it like every
row (decision 0012). Each request loads the record, re-derives the channel's secrets
from the key tree (`NodeKeys.channel(index)`: secrets are never stored), lets the policy
answer, and writes the record back in the same transaction as the audited decision
(`SignerCore.channel_request`). A refused request writes nothing: the record is exactly
what the approved requests made it, which is what lets the audit log vouch for it (each
approved channel entry carries the SHA-256 of the record it left, `record_hash`; the
cross-check at open compares, `vajra.signer.replay`).

Record, version 2 (integers big-endian; field encodings of `vajra.channel.signer_codec`):

    version u8 | params | initial spec (0x00 | 0x01 spec) |
    holder u32 count x (number u64 | spec | signature u16 len + 0/64 | sigs) |
    holder_revoked + 1 u64 |
    counterparty u32 count x (number u64 | spec | point 33) |
    counterparty_revoked + 1 u64 |
    approved_payments u16 count x (hash 32 | cap_msat u64) (sorted by hash) |
    paid_hashes u32 count x 32 (sorted)

Version 1 (before decision 0023) stored approved hashes without caps; it still decodes,
each such approval with cap 0 (nothing may be sent under it: a device authorises again).

Canonical: one record state, one byte string (sets sorted, dicts by number), so its hash
is stable. Kept is what the policy can still read: holder commitments from the last
revoked one on, counterparty commitments from the last revoked one on (older numbers
are never looked up again: a revocation older than the last is ignored, a holder
commitment at or below the last revoked is refused before lookup). Every other
`ChannelSigner` field must be stored here: `encode` refuses (RuntimeError) a signer
with a field this module does not know, so a new policy field cannot be silently lost.

The first request of a channel must be `SetupChannel` (`ChannelSigner.setup` judges
it); any other for a channel never set up is refused `policy-channel-unknown`. A record
exists only once a `SetupChannel` was approved.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from vajra.bitcoin.script import p2wsh
from vajra.channel import signer_io as io
from vajra.channel.keys import ChannelSecrets
from vajra.channel.scripts import funding_script
from vajra.channel.signer_codec import (
    Reader,
    encode_params,
    encode_spec,
    read_params,
    read_spec,
)
from vajra.channel.spec import ChannelParams, CommitSpec, Side
from vajra.crypto.hashes import sha256
from vajra.errors import DecodeError, PolicyViolation
from vajra.signer.channels import ChannelSigner, _Held

VERSION = 2
KNOWN_FIELDS = frozenset(
    {
        "secrets",
        "channel",
        "holder",
        "holder_revoked",
        "counterparty",
        "counterparty_revoked",
        "initial_spec",
        "approved_payments",
        "paid_hashes",
    }
)
"""Every `ChannelSigner` field; `secrets` is re-derived, all others are stored."""


def funding_spk(params: ChannelParams) -> bytes:
    """The funding output's scriptPubKey (P2WSH of the BOLT 3 2-of-2)."""
    bp = params.basepoints
    return p2wsh(funding_script(bp[Side.LOCAL].funding_pubkey, bp[Side.REMOTE].funding_pubkey))


def record_hash(record: bytes) -> bytes:
    """What an approved channel audit entry names: SHA-256 of the stored record."""
    return sha256(record)


def _check_fields() -> None:
    have = {f.name for f in dataclasses.fields(ChannelSigner)}
    if have != KNOWN_FIELDS:
        raise RuntimeError(
            "ChannelSigner fields changed; vajra.signer.channel_store must store "
            f"{sorted(have - KNOWN_FIELDS)} (and drop {sorted(KNOWN_FIELDS - have)})"
        )


def _u(v: int, size: int) -> bytes:
    return v.to_bytes(size, "big")


def encode(s: ChannelSigner) -> bytes:
    """The canonical record bytes (module docstring). RuntimeError if `ChannelSigner`
    carries a field this module does not store."""
    _check_fields()
    initial = b"\x00" if s.initial_spec is None else b"\x01" + encode_spec(s.initial_spec)
    out = [bytes([VERSION]), encode_params(s.channel), initial]
    holder = {n: h for n, h in s.holder.items() if n >= s.holder_revoked}
    out.append(_u(len(holder), 4))
    for n in sorted(holder):
        h = holder[n]
        out += [_u(n, 8), encode_spec(h.spec), _u(len(h.signature), 2), h.signature]
        out += [_u(len(h.htlc_signatures), 2), *h.htlc_signatures]
    out.append(_u(s.holder_revoked + 1, 8))
    counterparty = {n: c for n, c in s.counterparty.items() if n >= s.counterparty_revoked}
    out.append(_u(len(counterparty), 4))
    for n in sorted(counterparty):
        spec, point = counterparty[n]
        out += [_u(n, 8), encode_spec(spec), point]
    out.append(_u(s.counterparty_revoked + 1, 8))
    out.append(_u(len(s.approved_payments), 2))
    for payment_hash in sorted(s.approved_payments):
        out += [payment_hash, _u(s.approved_payments[payment_hash], 8)]
    out.append(_u(len(s.paid_hashes), 4))
    out += sorted(s.paid_hashes)
    return b"".join(out)


def prune(s: ChannelSigner) -> None:
    """Drop in place what `encode` does not store (holder and counterparty commitments
    older than the last revoked one), so `s` equals `decode(encode(s))`."""
    s.holder = {n: h for n, h in s.holder.items() if n >= s.holder_revoked}
    s.counterparty = {n: c for n, c in s.counterparty.items() if n >= s.counterparty_revoked}


def decode(data: bytes, secrets: ChannelSecrets) -> ChannelSigner:
    """The record `encode` wrote, with the channel's `secrets` (re-derived by the
    caller). DecodeError on anything else (the state's MAC makes that a bug or an
    edit, which the MAC or the audit cross-check reports first)."""
    r = Reader(data)
    version = r.u(1)
    if version not in (1, VERSION):
        raise DecodeError("unknown channel record version")
    params = read_params(r)
    initial = read_spec(r) if r.flag() else None
    holder: dict[int, _Held] = {}
    for _ in range(r.u(4)):
        n, spec = r.u(8), read_spec(r)
        sig = r.take(r.u(2))
        holder[n] = _Held(spec, sig, tuple(r.take(64) for _ in range(r.u(2))))
    holder_revoked = r.u(8) - 1
    counterparty: dict[int, tuple[CommitSpec, bytes]] = {}
    for _ in range(r.u(4)):
        n, spec = r.u(8), read_spec(r)
        counterparty[n] = (spec, r.take(33))
    counterparty_revoked = r.u(8) - 1
    approved: dict[bytes, int] = {}
    for _ in range(r.u(2)):
        h = r.take(32)
        approved[h] = r.u(8) if version == VERSION else 0
    count = r.u(4)
    blob = r.take(32 * count)  # one slice, then 32-byte pieces: the set grows per payment
    paid = {blob[i : i + 32] for i in range(0, len(blob), 32)}
    r.end()
    return ChannelSigner(
        secrets=secrets,
        channel=params,
        holder=holder,
        holder_revoked=holder_revoked,
        counterparty=counterparty,
        counterparty_revoked=counterparty_revoked,
        initial_spec=initial,
        approved_payments=approved,
        paid_hashes=paid,
    )


# --- answering a request ------------------------------------------------------------------


def handle(
    stored: ChannelSigner | None,
    secrets: ChannelSecrets,
    request: io.SignerRequest,
    *,
    allowlisted: Collection[bytes] | None = None,
) -> tuple[io.SignerResult, ChannelSigner | None]:
    """Answer one request against the stored record: the result and the record to store
    (None when nothing may be written: a refusal). `allowlisted`: the scripts a mutual
    close may pay our balance to (the node's wallet)."""
    if stored is None:
        if not isinstance(request, io.SetupChannel):
            return io.SignerRefused("policy-channel-unknown", "no SetupChannel yet"), None
        try:
            return io.ChannelSetUp(), ChannelSigner.setup(secrets, request)
        except PolicyViolation as v:
            return io.SignerRefused(v.reason, v.detail), None
    result = stored.handle(request, allowlisted=allowlisted)
    if isinstance(result, io.SignerRefused):
        return result, None
    return result, stored
