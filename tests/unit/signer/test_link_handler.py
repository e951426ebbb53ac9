"""The signer's request handling (sans-IO): each request through the core's policy,
refusals as ERROR frames with the reason, gossip and invoices validated before signing."""

from __future__ import annotations

import dataclasses

import pytest

from tests.unit.signer.helpers import RING_RULES, T0, World, key
from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.crypto.hashes import double_sha256
from vajra.crypto.secp256k1 import PrivateKey, verify_digest
from vajra.invoice import InvoiceFields
from vajra.invoice import decode as decode_invoice
from vajra.runtime.remote_signer import unsigned_invoice
from vajra.signer import link_proto as lp
from vajra.signer.core import SignerCore
from vajra.signer.devices import KeyType, Role
from vajra.signer.keys import SignerKeys
from vajra.signer.link_server import LinkHandler
from vajra.signer.messages import CommandKind, Enrolment, PaymentAuthorisation
from vajra.signer.state import MemoryState
from vajra.wire import ChannelUpdate, NodeAnnouncement, encode_message

KEYS = SignerKeys(bytes(range(64)))


@pytest.fixture
def h() -> LinkHandler:
    return LinkHandler(SignerCore(KEYS, MemoryState()))


def _nodes(h: LinkHandler, n: int = 2) -> list[bytes]:
    r = h.handle(lp.CreateNodes(1, n), T0)
    assert isinstance(r, lp.NodesCreated) and r.id == 1
    return [node for node, _ in r.nodes]


def _error(frame: lp.Frame, reason: str) -> None:
    assert isinstance(frame, lp.Error), frame
    assert frame.reason == reason, frame


def test_create_nodes_hands_out_ids_and_identity_secrets(h: LinkHandler) -> None:
    r = h.handle(lp.CreateNodes(9, 2), T0)
    assert isinstance(r, lp.NodesCreated)
    for i, (node, secret) in enumerate(r.nodes):
        assert node == KEYS.node(i).node_id and PrivateKey(secret).pubkey == node
    assert [f.node_ids for f in h.hello()] == [tuple(n for n, _ in r.nodes)]


def test_hello_splits_many_nodes_over_frames(h: LinkHandler) -> None:
    assert [f.node_ids for f in h.hello()] == [()]
    for _ in range(2):
        h.handle(lp.CreateNodes(1, 1000), T0)
    frames = h.hello()
    assert [len(f.node_ids) for f in frames] == [1900, 100]
    assert all(len(f.encode()) <= lp.MAX_FRAME for f in frames)


def test_secrets_follow_the_fence(h: LinkHandler) -> None:
    a, b = _nodes(h)
    r = h.handle(lp.IdentitySecrets(2, 5, (a, b)), T0)
    assert isinstance(r, lp.Secrets) and r.secrets == (
        KEYS.node(0).identity.secret,
        KEYS.node(1).identity.secret,
    )
    r = h.handle(lp.StateKey(3, a, 5), T0)
    assert isinstance(r, lp.Secret) and r.secret == KEYS.node(0).state_key()
    _error(h.handle(lp.StateKey(4, a, 4), T0), "stale_epoch")  # an older lease holder
    assert isinstance(h.handle(lp.StateKey(5, a, 6), T0), lp.Secret)
    # Identity release is fenced per runtime (the pinned link), not per node tenure
    # (decision 0008): a restarting runtime asks with epoch 0 and the fence stays put.
    r = h.handle(lp.IdentitySecrets(6, 0, (b, a)), T0)
    assert isinstance(r, lp.Secrets) and r.secrets[1] == KEYS.node(0).identity.secret
    _error(h.handle(lp.StateKey(7, a, 5), T0), "stale_epoch")


def test_ecdh_and_unknown_nodes(h: LinkHandler) -> None:
    (a,) = _nodes(h, 1)
    peer = PrivateKey(b"\x33" * 32)
    r = h.handle(lp.Ecdh(1, a, 1, peer.pubkey), T0)
    assert isinstance(r, lp.Secret) and r.secret == peer.ecdh(a)
    _error(h.handle(lp.StateKey(2, peer.pubkey, 1), T0), "unknown_node")


def test_refusals_are_audited(h: LinkHandler) -> None:
    (a,) = _nodes(h, 1)
    before = len(h.core.state.audit_entries())
    h.handle(lp.StateKey(1, a, 3), T0)
    h.handle(lp.StateKey(2, a, 2), T0)
    entries = h.core.state.audit_entries()[before:]
    assert [(e.kind, e.outcome, e.reason) for e in entries] == [
        ("state_key", "approve", "ok"),
        ("state_key", "deny", "stale_epoch"),
    ]


def test_identity_batch_is_one_audited_decision(h: LinkHandler) -> None:
    ids = _nodes(h, 3)
    before = len(h.core.state.audit_entries())
    r = h.handle(lp.IdentitySecrets(1, 0, tuple(ids)), T0)
    assert isinstance(r, lp.Secrets)
    assert list(r.secrets) == [KEYS.node(i).identity.secret for i in range(3)]
    entries = h.core.state.audit_entries()[before:]
    assert [(e.kind, e.outcome) for e in entries] == [("identity_secrets", "approve")]
    stranger = PrivateKey(b"\x44" * 32).pubkey
    _error(h.handle(lp.IdentitySecrets(2, 0, (ids[0], stranger)), T0), "unknown_node")
    assert h.core.state.audit_entries()[-1].outcome == "deny"
    r = h.handle(lp.IdentitySecrets(3, 0, ()), T0)
    assert isinstance(r, lp.Secrets) and r.secrets == ()


def _announcement(node: bytes, **kw: object) -> bytes:
    msg = NodeAnnouncement(
        signature=bytes(64),
        features=b"",
        timestamp=T0,
        node_id=node,
        rgb_color=b"\x01\x02\x03",
        alias=b"vajra".ljust(32, b"\x00"),
        addresses=b"",
    )
    return encode_message(dataclasses.replace(msg, **kw))  # type: ignore[arg-type]


def test_node_announcement_signed_per_bolt7(h: LinkHandler) -> None:
    a, b = _nodes(h)
    raw = _announcement(a)
    r = h.handle(lp.SignNodeAnnouncement(1, a, 1, raw), T0)
    assert isinstance(r, lp.Signature)
    # BOLT 7: "the signature of the double-SHA256 of the entire remaining packet after
    # `signature`" (the 2-byte type comes first on the wire).
    assert verify_digest(a, r.signature, double_sha256(raw[2 + 64 :]))
    _error(h.handle(lp.SignNodeAnnouncement(2, b, 1, raw), T0), "wrong_node")
    _error(h.handle(lp.SignNodeAnnouncement(3, a, 1, raw[:-3]), T0), "bad_message")
    future = _announcement(a, timestamp=T0 + 2 * 86400)
    _error(h.handle(lp.SignNodeAnnouncement(4, a, 1, future), T0), "bad_timestamp")


def _update(**kw: object) -> bytes:
    msg = ChannelUpdate(
        signature=bytes(64),
        chain_hash=CHAIN_HASHES["regtest"],
        short_channel_id=(700 << 40) | (1 << 16),
        timestamp=T0,
        message_flags=1,
        channel_flags=0,
        cltv_expiry_delta=40,
        htlc_minimum_msat=1,
        fee_base_msat=1000,
        fee_proportional_millionths=10,
        htlc_maximum_msat=10**9,
    )
    return encode_message(dataclasses.replace(msg, **kw))  # type: ignore[arg-type]


def test_channel_update_validated_then_signed(h: LinkHandler) -> None:
    (a,) = _nodes(h, 1)
    raw = _update()
    r = h.handle(lp.SignChannelUpdate(1, a, 1, raw), T0)
    assert isinstance(r, lp.Signature)
    assert verify_digest(a, r.signature, double_sha256(raw[66:]))
    bad = {
        "wrong_chain": _update(chain_hash=CHAIN_HASHES["bitcoin"]),
        "bad_flags": _update(message_flags=0),
        "bad_htlc_limits": _update(htlc_maximum_msat=0, htlc_minimum_msat=5),
        "bad_message": _announcement(a),
    }
    for reason, data in bad.items():
        _error(h.handle(lp.SignChannelUpdate(2, a, 1, data), T0), reason)


def _invoice(**kw: object) -> InvoiceFields:
    f = InvoiceFields(
        currency="bcrt",
        timestamp=T0,
        payment_hash=bytes(range(32)),
        payment_secret=b"\x11" * 32,
        amount_msat=150_000,
        description="coffee",
    )
    return dataclasses.replace(f, **kw)  # type: ignore[arg-type]


def test_invoice_digest_recomputed_and_checked(h: LinkHandler) -> None:
    a, b = _nodes(h)
    hrp, words = unsigned_invoice(_invoice())
    r = h.handle(lp.SignInvoice(1, a, 1, hrp, words), T0)
    assert isinstance(r, lp.InvoiceSigned)
    inv = decode_invoice(r.invoice)
    assert inv.payee == a and inv.amount_msat == 150_000 and inv.description == "coffee"
    # An explicit payee that is another node, another chain, an expired invoice, junk.
    hrp_n, words_n = unsigned_invoice(_invoice(explicit_payee=b))
    _error(h.handle(lp.SignInvoice(2, a, 1, hrp_n, words_n), T0), "invalid_invoice")
    hrp_bc, words_bc = unsigned_invoice(_invoice(currency="bc"))
    _error(h.handle(lp.SignInvoice(3, a, 1, hrp_bc, words_bc), T0), "wrong_chain")
    hrp_x, words_x = unsigned_invoice(_invoice(timestamp=T0 - 7200))
    _error(h.handle(lp.SignInvoice(4, a, 1, hrp_x, words_x), T0), "expired")
    _error(h.handle(lp.SignInvoice(5, a, 1, hrp, bytes([40]) + words), T0), "invalid_invoice")


def test_payment_authorisation_and_commands_reach_the_policy() -> None:
    w = World()
    w.bootstrap()
    core = SignerCore(KEYS, w.state)
    h = LinkHandler(core)
    (a,) = _nodes(h, 1)
    ring = key(KeyType.SECP256K1, 7)
    enrol = Enrolment(ring.key_type, ring.pubkey, Role.SPENDER, RING_RULES, "ring")
    cmd = w.command(CommandKind.ENROLL, ring, enrolment=enrol)
    r = h.handle(lp.DeviceCommandReq(1, cmd), T0)
    assert isinstance(r, lp.DecisionFrame) and (r.outcome, r.reason) == ("approve", "applied")
    auth = PaymentAuthorisation(a, bytes(32), 1000, 10, T0 + 60, 1, ring.device_id).signed(ring)
    r = h.handle(lp.AuthorisePayment(2, a, 1, auth.encode()), T0)
    assert isinstance(r, lp.DecisionFrame) and r.reason == "auto_approved"
    assert r.subject_id == auth.auth_id and r.device_id == ring.device_id
    r = h.handle(lp.AuthorisePayment(3, a, 1, auth.encode()), T0)
    assert isinstance(r, lp.DecisionFrame) and r.reason == "replay"


def test_non_requests_and_garbage(h: LinkHandler) -> None:
    _error(h.handle(lp.Pong(4), T0), "unsupported")
    out = lp.decode(h.handle_bytes(b"\x01\x10", T0))
    _error(out, "bad_request")


def test_channel_frames_reach_the_core(h: LinkHandler) -> None:
    """NEW_CHANNEL answers the keys; CHANNEL_REQUEST answers a result (a policy refusal
    included); fencing and undecodable request bytes are ERROR frames."""
    from vajra.channel import signer_codec as codec
    from vajra.channel import signer_io as io

    (node, _) = _nodes(h)
    r = h.handle(lp.NewChannel(3, node, 5), T0)
    assert isinstance(r, lp.ChannelKeys) and r.id == 3 and r.channel_index == 0
    keys = codec.decode_local_keys(r.keys)
    assert keys.basepoints == KEYS.node(0).channel(0).basepoints()
    revoke = codec.encode_request(io.RevokeHolderCommitment(0))
    r = h.handle(lp.ChannelRequestFrame(4, node, 5, 0, revoke), T0)
    assert isinstance(r, lp.ChannelResult) and r.id == 4
    assert codec.decode_result(r.result) == io.SignerRefused(
        "policy-channel-unknown", "no SetupChannel yet"
    )
    _error(h.handle(lp.ChannelRequestFrame(5, node, 4, 0, revoke), T0), "stale_epoch")
    _error(h.handle(lp.ChannelRequestFrame(6, node, 5, 0, b"\xee"), T0), "bad_request")


def test_authorise_htlc_frame_is_decided_and_fenced(h: LinkHandler) -> None:
    """AUTHORISE_HTLC on a channel never set up: an ERROR, the consent untouched."""
    w = World(state=h.core.state)
    w.policy = h.core.policy
    w.bootstrap()
    ring = key(KeyType.SECP256K1, 5)
    w.enroll(ring, rules=dataclasses.replace(RING_RULES, auto_approve_below_msat=10**9))
    (node, _) = _nodes(h)
    h.handle(lp.NewChannel(2, node, 5), T0)
    auth = w.auth(ring, 1_000, node=node).encode()
    _error(h.handle(lp.AuthoriseHtlc(3, node, 5, 0, auth), T0), "policy-channel-unknown")
    _error(h.handle(lp.AuthoriseHtlc(4, node, 4, 0, auth), T0), "stale_epoch")
    d = h.handle(lp.AuthorisePayment(5, node, 5, auth), T0)  # the consent is still fresh
    assert isinstance(d, lp.DecisionFrame) and d.outcome == "approve", d
