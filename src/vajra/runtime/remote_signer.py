"""`RemoteSigner`: one paired signer, as the runtime sees it, over the signer link.

Implements `vajra.runtime.signer_api.SignerClient` plus the signing and device requests.
The object outlives connections: the hub attaches a link when the signer dials in and
detaches it when the link drops, so the runtime can hold one object per signer. A
request is a frame with a fresh id; its future resolves when the response with that id
arrives. No link, a link lost mid-request, or no answer within `timeout` raise
`SignerUnavailable`; a refusal raises `PolicyViolation` with the signer's reason.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import TYPE_CHECKING, TypeVar

from vajra.channel import signer_codec
from vajra.channel import signer_io as io
from vajra.channel.establish_io import LocalKeys
from vajra.errors import DecodeError, PolicyViolation, VajraError
from vajra.invoice import InvoiceFields, unsigned_parts
from vajra.runtime.signer_api import NodeGrant
from vajra.signer import link_proto as lp
from vajra.signer.link_io import FramedLink, LinkClosed

log = logging.getLogger("vajra.runtime.signer")

DEFAULT_TIMEOUT = 10.0
_F = TypeVar("_F", bound=lp.Frame)


class SignerUnavailable(VajraError):
    """No live link to the signer, or it did not answer in time."""

    def __init__(self, signer_id: int, detail: str) -> None:
        self.signer_id = signer_id
        self.detail = detail
        super().__init__(f"signer {signer_id} unavailable: {detail}")


class RemoteSigner:
    """A paired signer; requests travel over whichever link is attached."""

    def __init__(self, signer_id: int, link_pubkey: bytes, timeout: float = DEFAULT_TIMEOUT):
        self._signer_id = signer_id
        self.link_pubkey = link_pubkey
        self.timeout = timeout
        self.node_ids: frozenset[bytes] = frozenset()
        """The nodes the signer said it serves (HELLO) plus those created since."""
        self._link: FramedLink | None = None
        self._pending: dict[int, asyncio.Future[lp.Frame]] = {}
        self._ids = itertools.count(1)
        self._connected = asyncio.Event()

    @property
    def signer_id(self) -> int:
        return self._signer_id

    @property
    def connected(self) -> bool:
        return self._link is not None

    async def wait_connected(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            raise SignerUnavailable(self._signer_id, "did not connect in time") from None

    # --- the hub's side ---------------------------------------------------------------------

    def attach(self, link: FramedLink, node_ids: tuple[bytes, ...]) -> None:
        """A new link from this signer; it replaces (and closes) any older one."""
        old = self._link
        if old is not None and old is not link:
            self.detach(old, "replaced by a newer link")
            old.writer.close()
        self._link = link
        self.node_ids = frozenset(node_ids)
        self._connected.set()

    def add_nodes(self, node_ids: tuple[bytes, ...]) -> None:
        """More of the signer's nodes (a further HELLO frame)."""
        self.node_ids = self.node_ids | set(node_ids)

    def detach(self, link: FramedLink, reason: str) -> None:
        """The link is gone: fail every request still waiting on it."""
        if self._link is not link:
            return
        self._link = None
        self._connected.clear()
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(SignerUnavailable(self._signer_id, f"link lost: {reason}"))

    def on_frame(self, frame: lp.Frame) -> bool:
        """A response arrived; False if nothing was waiting for its id."""
        fut = self._pending.pop(frame.id, None)
        if fut is None or fut.done():
            return False
        fut.set_result(frame)
        return True

    # --- requests ---------------------------------------------------------------------------

    async def _request(self, req: lp.Frame, expect: type[_F]) -> _F:
        link = self._link
        if link is None:
            raise SignerUnavailable(self._signer_id, "not connected")
        fut: asyncio.Future[lp.Frame] = asyncio.get_running_loop().create_future()
        self._pending[req.id] = fut
        try:
            link.send(req)
        except LinkClosed as e:
            self._pending.pop(req.id, None)
            raise SignerUnavailable(self._signer_id, str(e)) from None
        try:
            resp = await asyncio.wait_for(fut, self.timeout)
        except TimeoutError:
            self._pending.pop(req.id, None)
            raise SignerUnavailable(self._signer_id, f"no answer in {self.timeout} s") from None
        if isinstance(resp, lp.Error):
            raise PolicyViolation(resp.reason, resp.detail)
        if not isinstance(resp, expect):
            raise SignerUnavailable(self._signer_id, f"unexpected {type(resp).__name__}")
        return resp

    def _id(self) -> int:
        return next(self._ids)

    async def ping(self) -> None:
        await self._request(lp.Ping(self._id()), lp.Pong)

    async def create_nodes(self, count: int) -> list[NodeGrant]:
        grants: list[NodeGrant] = []
        while count > 0:
            n = min(count, lp.MAX_NODES)
            resp = await self._request(lp.CreateNodes(self._id(), n), lp.NodesCreated)
            if len(resp.nodes) != n:
                raise SignerUnavailable(self._signer_id, "wrong number of nodes created")
            grants += [NodeGrant(node_id, secret) for node_id, secret in resp.nodes]
            count -= n
        self.node_ids = self.node_ids | {g.node_id for g in grants}
        return grants

    async def identity_secrets(self, node_ids: list[bytes], epoch: int) -> list[bytes]:
        out: list[bytes] = []
        for i in range(0, len(node_ids), lp.MAX_NODES):
            chunk = tuple(node_ids[i : i + lp.MAX_NODES])
            resp = await self._request(lp.IdentitySecrets(self._id(), epoch, chunk), lp.Secrets)
            if len(resp.secrets) != len(chunk):
                raise SignerUnavailable(self._signer_id, "wrong number of secrets")
            out += resp.secrets
        return out

    async def state_key(self, node_id: bytes, epoch: int) -> bytes:
        return (await self._request(lp.StateKey(self._id(), node_id, epoch), lp.Secret)).secret

    async def ecdh(self, node_id: bytes, point: bytes, epoch: int) -> bytes:
        req = lp.Ecdh(self._id(), node_id, epoch, point)
        return (await self._request(req, lp.Secret)).secret

    async def sign_node_announcement(self, node_id: bytes, message: bytes, epoch: int) -> bytes:
        """The node's signature for a node_announcement (its signature field ignored)."""
        req = lp.SignNodeAnnouncement(self._id(), node_id, epoch, message)
        return (await self._request(req, lp.Signature)).signature

    async def sign_channel_update(self, node_id: bytes, message: bytes, epoch: int) -> bytes:
        req = lp.SignChannelUpdate(self._id(), node_id, epoch, message)
        return (await self._request(req, lp.Signature)).signature

    async def sign_invoice(self, node_id: bytes, fields: InvoiceFields, epoch: int) -> str:
        """The BOLT 11 string for `fields`, signed by the node's key on the signer."""
        hrp, words = unsigned_invoice(fields)
        req = lp.SignInvoice(self._id(), node_id, epoch, hrp, words)
        return (await self._request(req, lp.InvoiceSigned)).invoice

    async def authorise_payment(
        self, node_id: bytes, authorisation: bytes, epoch: int, confirmation: bytes = b""
    ) -> lp.DecisionFrame:
        """The signer's decision on a device's payment authorisation."""
        req = lp.AuthorisePayment(self._id(), node_id, epoch, authorisation, confirmation)
        return await self._request(req, lp.DecisionFrame)

    async def authorise_htlc(
        self, node_id: bytes, epoch: int, channel_index: int, authorisation: bytes,
        confirmation: bytes = b"",
    ) -> lp.DecisionFrame:  # fmt: skip
        """The signer's decision on a device's payment authorisation for one outgoing
        HTLC of channel `channel_index`; approved, the channel may carry it."""
        req = lp.AuthoriseHtlc(
            self._id(), node_id, epoch, channel_index, authorisation, confirmation
        )
        return await self._request(req, lp.DecisionFrame)

    async def account_xpub(self, node_id: bytes, epoch: int) -> tuple[bytes, bytes]:
        """The node's BIP 84 account xpub (78 bytes) and the signer's master key
        fingerprint (public data; decision 0011)."""
        r = await self._request(lp.AccountXpub(self._id(), node_id, epoch), lp.Xpub)
        return r.xpub, r.master_fingerprint

    async def sign_onchain(
        self, node_id: bytes, authorisation: bytes, psbt: bytes, epoch: int,
        confirmation: bytes = b"",
    ) -> lp.OnchainSigned:  # fmt: skip
        """The signer's decision on an on-chain spend and, if approved, the signed PSBT."""
        req = lp.SignOnchain(self._id(), node_id, epoch, authorisation, confirmation, psbt)
        return await self._request(req, lp.OnchainSigned)

    async def new_channel(self, node_id: bytes, epoch: int) -> tuple[int, LocalKeys]:
        """Allocate the node's next channel key set (decision 0017)."""
        index, keys = await self.new_channel_bytes(node_id, epoch)
        try:
            return index, signer_codec.decode_local_keys(keys)
        except DecodeError:
            raise SignerUnavailable(self._signer_id, "malformed channel keys") from None

    async def channel_request(
        self, node_id: bytes, epoch: int, channel_index: int, request: io.SignerRequest
    ) -> io.SignerResult:
        """One channel core request; a policy refusal comes back as `SignerRefused`."""
        data = signer_codec.encode_request(request)
        raw = await self.channel_request_bytes(node_id, epoch, channel_index, data)
        try:
            return signer_codec.decode_result(raw)
        except DecodeError:
            raise SignerUnavailable(self._signer_id, "malformed channel result") from None

    async def channel_request_bytes(
        self, node_id: bytes, epoch: int, channel_index: int, request: bytes
    ) -> bytes:
        """`channel_request` on bytes, both ways (the supervisor forwards a worker's
        request and the signer's result unchanged). PolicyViolation `request_too_large`
        past one frame (`lp.MAX_CHANNEL_REQUEST`)."""
        if len(request) > lp.MAX_CHANNEL_REQUEST:
            raise PolicyViolation("request_too_large", f"{len(request)} bytes")
        req = lp.ChannelRequestFrame(self._id(), node_id, epoch, channel_index, request)
        return (await self._request(req, lp.ChannelResult)).result

    async def new_channel_bytes(self, node_id: bytes, epoch: int) -> tuple[int, bytes]:
        """`new_channel` with the keys still encoded (the supervisor forwards them)."""
        r = await self._request(lp.NewChannel(self._id(), node_id, epoch), lp.ChannelKeys)
        return r.channel_index, r.keys

    async def device_command(self, command: bytes) -> lp.DecisionFrame:
        """Relay an owner-signed registry command; the signer's decision."""
        return await self._request(lp.DeviceCommandReq(self._id(), command), lp.DecisionFrame)


if TYPE_CHECKING:
    from vajra.runtime.signer_api import SignerClient

    _conforms: SignerClient = RemoteSigner(0, b"")


def unsigned_invoice(fields: InvoiceFields) -> tuple[str, bytes]:
    """BOLT 11 human-readable part and data words, unsigned: what the signer signs after
    recomputing the digest itself (`vajra.invoice.unsigned_parts`)."""
    return unsigned_parts(fields)
