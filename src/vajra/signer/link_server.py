"""The signer's side of the link, sans-IO: one request frame in, one response frame out.

`LinkHandler.handle(frame, now)` maps each request onto `SignerCore` / `Policy`, so every
answer went through validate-before-sign (fencing first) and is in the audit log. A
refusal becomes an ERROR frame carrying the policy's reason code. What the signer checks
before it signs gossip and invoices (what it can check without channel state, which the
channel work adds):

- node_announcement (BOLT 7): decodes with `vajra.wire`; `node_id` is the requesting
  node; timestamp at most a day ahead of the signer clock. The signature covers "the
  double-SHA256 of the entire remaining packet after `signature`".
- channel_update (BOLT 7): decodes; `chain_hash` is the signer's chain; `must_be_one`
  set and unassigned flag bits zero; htlc_maximum_msat >= htlc_minimum_msat; timestamp
  at most a day ahead. Same digest rule. (That the channel is the node's own comes with
  the channel state.)
- invoice (BOLT 11): the runtime sends the unsigned invoice (hrp and data words); the
  signer computes the digest itself, signs, then decodes the complete invoice with every
  reader rule: currency of the signer's chain, payee = the node, not expired. Only a
  valid invoice leaves; the signature over anything else is dropped.
- account xpubs and on-chain spends go to `vajra.signer.wallet` (decision 0011).
- new channels and channel requests go to `SignerCore.new_channel` /
  `SignerCore.channel_request` (the signer's own copy of the channel, decision 0017).
- payment authorisations and device commands go to `Policy.decide` / `Policy.command`.
  Their frames carry the lease epoch, but fencing for a payment happens where the
  signature that moves funds is requested (the channel requests): a decision alone
  moves nothing, and consuming the device's consent twice is what the counter prevents.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

from vajra.bitcoin.chains import CHAIN_HASHES
from vajra.channel import signer_codec
from vajra.crypto.hashes import double_sha256
from vajra.errors import DecodeError, PolicyViolation
from vajra.invoice import bech32, signing_digest
from vajra.invoice import decode as decode_invoice
from vajra.invoice.model import is_expired
from vajra.signer import link_proto as lp
from vajra.signer.core import SignerCore
from vajra.signer.integrity import StateIntegrityError
from vajra.signer.keys import NodeKeys
from vajra.signer.policy import Decision
from vajra.signer.state import HostedNode, StateTxn
from vajra.signer.wallet import SignerWallet
from vajra.wire import ChannelUpdate, NodeAnnouncement, decode_message

DAY = 86400
_SIG_OFFSET = 2 + 64  # type (u16) + signature: BOLT 7 signs everything after these
CURRENCY = {"bitcoin": "bc", "mainnet": "bc", "testnet": "tb", "testnet4": "tb"}
CURRENCY.update({"signet": "tbs", "regtest": "bcrt"})
_CU_MESSAGE_FLAGS = 0b11  # must_be_one, dont_forward
_CU_CHANNEL_FLAGS = 0b11  # direction, disable


def decision_frame(fid: int, d: Decision) -> lp.DecisionFrame:
    """The decision with its signed audit entry (devices verify it)."""
    e = d.entry
    assert e is not None  # every Policy decision is logged
    return lp.DecisionFrame(
        fid,
        d.outcome.value,
        d.reason,
        d.kind,
        d.subject_id,
        d.device_id or b"",
        d.audit_seq,
        e.time,
        e.prev_hash,
        e.signature,
    )


class LinkHandler:
    """Serves link requests for every node of one signer."""

    def __init__(
        self,
        core: SignerCore,
        network: str = "regtest",
        *,
        node_quota: Callable[[], int | None] = lambda: None,
    ) -> None:
        self.core = core
        self.network = network
        self.node_quota = node_quota
        """The most nodes a runtime may create here, read at each request (None: no
        bound; `vajra signer run` always has one: `SignerCore.node_quota`, the owner's
        `vajra signer quota` kept in the sealed state, so a disk edit cannot raise it)."""
        self.fatal: str | None = None
        """Set when the state failed its integrity check while serving: the daemon
        stops (decision 0012); every later request is refused."""
        self.on_fatal: Callable[[str], None] | None = None
        self._dispatch: dict[type[lp.Frame], Callable[[lp.Frame, int], lp.Frame]] = {
            lp.Ping: lambda f, now: lp.Pong(f.id),
            lp.CreateNodes: self._create_nodes,
            lp.IdentitySecrets: self._identity_secrets,
            lp.StateKey: self._state_key,
            lp.Ecdh: self._ecdh,
            lp.SignNodeAnnouncement: self._sign_node_announcement,
            lp.SignChannelUpdate: self._sign_channel_update,
            lp.SignInvoice: self._sign_invoice,
            lp.AuthorisePayment: self._authorise_payment,
            lp.DeviceCommandReq: self._device_command,
            lp.AccountXpub: self._account_xpub,
            lp.SignOnchain: self._sign_onchain,
            lp.NewChannel: self._new_channel,
            lp.ChannelRequestFrame: self._channel_request,
            lp.AuthoriseHtlc: self._authorise_htlc,
        }
        self.wallet = SignerWallet(core, network)

    def hello(self) -> list[lp.Hello]:
        """The HELLO frames listing every node this signer serves (at least one)."""
        ids = [n.node_id for n in self.core.nodes()]
        step = lp.MAX_HELLO_NODES
        return [lp.Hello(0, tuple(ids[i : i + step])) for i in range(0, max(len(ids), 1), step)]

    def head(self) -> lp.AuditHead:
        """The signer's audit head as an AUDIT_HEAD frame (decision 0012)."""
        length, h = self.core.state.head()
        return lp.AuditHead(0, length, h)

    def backup(self) -> lp.Backup | None:
        """The sealed state backup for the runtime (decision 0012); None if it would not
        fit one frame (logged by the daemon; the previous backup stays at the runtime)."""
        from vajra.signer import backup

        state = self.core.state
        length, head_hash = state.head()
        with state.transaction() as txn:
            snap = backup.snapshot(txn, length, head_hash)
        sealed = backup.seal(self.core.keys.backup_key(), backup.encode(snap))
        return lp.Backup(0, length, sealed) if len(sealed) <= backup.MAX_SEALED else None

    def group(self) -> AbstractContextManager[None]:
        """A group commit over the state (`SignerState.group`): hold the answers of the
        requests handled inside until it has returned."""
        return self.core.state.group()

    def handle(self, frame: lp.Frame, now: int) -> lp.Frame:
        """The response to one request; an ERROR frame for a refusal or a bad request."""
        fn = self._dispatch.get(type(frame))
        if fn is None:
            return lp.Error(frame.id, "unsupported", f"kind 0x{frame.KIND:02x} is not a request")
        if self.fatal is not None:
            return lp.Error(frame.id, "signer_state_refused", "the signer is stopping")
        try:
            return fn(frame, now)
        except StateIntegrityError as e:
            self.fatal = str(e)
            if self.on_fatal is not None:
                self.on_fatal(self.fatal)
            return lp.Error(frame.id, "signer_state_refused", "the signer is stopping")
        except PolicyViolation as v:
            return lp.Error(frame.id, v.reason, v.detail)
        except DecodeError as e:
            return lp.Error(frame.id, "bad_request", str(e))

    def handle_bytes(self, data: bytes, now: int) -> bytes:
        try:
            frame = lp.decode(data)
        except lp.LinkDecodeError as e:
            return lp.Error(0, "bad_request", str(e)).encode()
        return self.handle(frame, now).encode()

    # --- requests ---------------------------------------------------------------------------

    def _create_nodes(self, f: lp.Frame, now: int) -> lp.Frame:
        assert isinstance(f, lp.CreateNodes)
        ids = self.core.create_nodes(f.count, now=now, quota=self.node_quota())
        # Releasing the new identities is one audited decision for the batch (epoch 0: no
        # lease yet; decision 0008).
        secrets = self.core.identity_secrets(ids, epoch=0, now=now)
        return lp.NodesCreated(f.id, tuple(zip(ids, secrets, strict=True)))

    def _identity_secrets(self, f: lp.Frame, now: int) -> lp.Frame:
        assert isinstance(f, lp.IdentitySecrets)
        # One audited decision for the whole batch (a restarting runtime asks for all).
        return lp.Secrets(
            f.id, tuple(self.core.identity_secrets(f.node_ids, epoch=f.epoch, now=now))
        )

    def _state_key(self, f: lp.Frame, now: int) -> lp.Frame:
        assert isinstance(f, lp.StateKey)
        return lp.Secret(f.id, self.core.state_key(f.node_id, epoch=f.epoch, now=now))

    def _ecdh(self, f: lp.Frame, now: int) -> lp.Frame:
        assert isinstance(f, lp.Ecdh)
        return lp.Secret(f.id, self.core.ecdh(f.node_id, f.point, epoch=f.epoch, now=now))

    def _checked(
        self,
        kind: str,
        f: lp.NodeRequest,
        subject: bytes,
        now: int,
        validate: Callable[[int, HostedNode], None],
    ) -> NodeKeys:
        """Fencing, hosted-node check and `validate(signer time, node)` in one audited
        decision; the node's keys if approved, PolicyViolation otherwise."""
        found: list[HostedNode] = []

        def check(txn: StateTxn) -> None:
            node = txn.node(f.node_id)
            if node is None:
                raise PolicyViolation("unknown_node", f.node_id.hex())
            validate(max(now, txn.clock()), node)
            found.append(node)

        d = self.core.policy.authorise_request(
            kind, node_id=f.node_id, epoch=f.epoch, subject=subject, now=now, check=check
        )
        if not d.approved:
            raise PolicyViolation(d.reason, f"{kind} refused")
        return self.core.keys.node(found[0].index)

    def _sign_gossip(self, kind: str, f: lp.Frame, now: int) -> lp.Frame:
        """node_announcement / channel_update: validate, then sign what BOLT 7 says: "the
        double-SHA256 of the entire remaining packet after `signature`"."""
        assert isinstance(f, lp.SignNodeAnnouncement)  # SignChannelUpdate is a subclass

        def validate(t: int, node: HostedNode) -> None:
            if isinstance(f, lp.SignChannelUpdate):
                _check_channel_update(f.message, CHAIN_HASHES.get(self.network), t)
            else:
                _check_node_announcement(f.message, f.node_id, t)

        keys = self._checked(kind, f, f.message, now, validate)
        digest = double_sha256(f.message[_SIG_OFFSET:])
        return lp.Signature(f.id, keys.identity.sign_digest(digest))

    def _sign_node_announcement(self, f: lp.Frame, now: int) -> lp.Frame:
        return self._sign_gossip("sign_node_announcement", f, now)

    def _sign_channel_update(self, f: lp.Frame, now: int) -> lp.Frame:
        return self._sign_gossip("sign_channel_update", f, now)

    def _sign_invoice(self, f: lp.Frame, now: int) -> lp.Frame:
        assert isinstance(f, lp.SignInvoice)
        if not f.hrp.startswith("ln" + CURRENCY.get(self.network, "?")):
            raise PolicyViolation("wrong_chain", "invoice currency is not the signer's chain")
        try:
            digest = signing_digest(f.hrp, f.words)
        except ValueError as e:
            raise PolicyViolation("invalid_invoice", str(e)) from None
        signed: list[str] = []

        def validate(t: int, node: HostedNode) -> None:
            # The node key signs here, inside the decision, and the result is checked as a
            # reader would; if anything is wrong the signature never leaves.
            sig, recid = self.core.keys.node(node.index).identity.sign_recoverable(digest)
            try:
                s = bech32.encode(f.hrp, f.words + bech32.bytes_to_words(sig + bytes([recid])))
                inv = decode_invoice(s)
            except (ValueError, DecodeError) as e:
                raise PolicyViolation("invalid_invoice", str(e)) from None
            if inv.payee != f.node_id:
                raise PolicyViolation("wrong_node", "invoice payee is another node")
            if is_expired(inv, t):
                raise PolicyViolation("expired", "invoice already expired")
            signed.append(s)

        self._checked("sign_invoice", f, f.hrp.encode() + f.words, now, validate)
        return lp.InvoiceSigned(f.id, signed[0])

    def _authorise_payment(self, f: lp.Frame, now: int) -> lp.Frame:
        assert isinstance(f, lp.AuthorisePayment)
        d = self.core.policy.decide(
            f.authorisation, node_id=f.node_id, now=now, confirmation=f.confirmation or None
        )
        return decision_frame(f.id, d)

    def _account_xpub(self, f: lp.Frame, now: int) -> lp.Frame:
        assert isinstance(f, lp.AccountXpub)
        return lp.Xpub(f.id, *self.wallet.account_xpub(f.node_id, epoch=f.epoch, now=now))

    def _sign_onchain(self, f: lp.Frame, now: int) -> lp.Frame:
        # vajra.signer.wallet: fencing, the device's consent and the PSBT's match with it,
        # one audited decision; signatures only with an approval.
        assert isinstance(f, lp.SignOnchain)
        r = self.wallet.sign_onchain(
            f.node_id, f.authorisation, f.psbt, epoch=f.epoch, now=now,
            confirmation=f.confirmation or None,
        )  # fmt: skip
        d = decision_frame(f.id, r.decision)
        return lp.OnchainSigned.carrying(d, r.psbt)

    def _new_channel(self, f: lp.Frame, now: int) -> lp.Frame:
        assert isinstance(f, lp.NewChannel)
        index, keys = self.core.new_channel(f.node_id, epoch=f.epoch, now=now)
        return lp.ChannelKeys(f.id, index, signer_codec.encode_local_keys(keys))

    def _channel_request(self, f: lp.Frame, now: int) -> lp.Frame:
        # Decision 0017: the request bytes go to the core as they came (it decodes and
        # audits them); a policy refusal is a result, fencing an ERROR (PolicyViolation).
        assert isinstance(f, lp.ChannelRequestFrame)
        result = self.core.channel_request(
            f.node_id, f.channel_index, f.request, epoch=f.epoch, now=now
        )
        return lp.ChannelResult(f.id, signer_codec.encode_result(result))

    def _authorise_htlc(self, f: lp.Frame, now: int) -> lp.Frame:
        assert isinstance(f, lp.AuthoriseHtlc)
        d = self.core.authorise_htlc(
            f.node_id, f.channel_index, f.authorisation, epoch=f.epoch, now=now,
            confirmation=f.confirmation or None,
        )  # fmt: skip
        return decision_frame(f.id, d)

    def _device_command(self, f: lp.Frame, now: int) -> lp.Frame:
        assert isinstance(f, lp.DeviceCommandReq)
        return decision_frame(f.id, self.core.policy.command(f.command, now))


_M = TypeVar("_M", NodeAnnouncement, ChannelUpdate)


def _decode_gossip(data: bytes, cls: type[_M]) -> _M:
    try:
        msg = decode_message(data)
    except DecodeError as e:
        raise PolicyViolation("bad_message", str(e)) from None
    if not isinstance(msg, cls):
        raise PolicyViolation("bad_message", f"not a {cls.NAME}")
    return msg


def _check_node_announcement(data: bytes, node_id: bytes, t: int) -> None:
    msg = _decode_gossip(data, NodeAnnouncement)
    if msg.node_id != node_id:
        raise PolicyViolation("wrong_node", "node_announcement names another node")
    _check_timestamp(msg.timestamp, t)


def _check_channel_update(data: bytes, chain_hash: bytes | None, t: int) -> None:
    msg = _decode_gossip(data, ChannelUpdate)
    if msg.chain_hash != chain_hash:
        raise PolicyViolation("wrong_chain", "chain_hash is not the signer's chain")
    # BOLT 7: "MUST set `must_be_one` in `message_flags` to 1" and "MUST set bits in
    # `channel_flags` and `message_flags` that are not assigned a meaning to 0".
    if not msg.message_flags & 1 or msg.message_flags & ~_CU_MESSAGE_FLAGS:
        raise PolicyViolation("bad_flags", "message_flags")
    if msg.channel_flags & ~_CU_CHANNEL_FLAGS:
        raise PolicyViolation("bad_flags", "channel_flags")
    # BOLT 7: htlc_maximum_msat "MUST set this to greater than or equal to htlc_minimum_msat".
    if msg.htlc_maximum_msat < msg.htlc_minimum_msat:
        raise PolicyViolation("bad_htlc_limits", "htlc_maximum_msat < htlc_minimum_msat")
    _check_timestamp(msg.timestamp, t)


def _check_timestamp(timestamp: int, t: int) -> None:
    if timestamp > t + DAY:
        raise PolicyViolation("bad_timestamp", "more than a day ahead of the signer clock")
