"""A node-level channel signer for unit tests: the real reference validating signer
(`vajra.signer.channels.ChannelSigner`) per channel index, keys from fixed seeds."""

from __future__ import annotations

from vajra.channel import signer_io as io
from vajra.channel.establish_io import LocalKeys
from vajra.channel.keys import ChannelSecrets
from vajra.crypto.hashes import sha256
from vajra.node import Node
from vajra.node.requests import ChannelSignerCall, CloseScript, LookupInvoice, NewChannelKeys
from vajra.signer.channels import ChannelSigner


def secrets(tag: bytes) -> ChannelSecrets:
    return ChannelSecrets(*(sha256(tag + bytes([i])) for i in range(6)))


def local_keys(s: ChannelSecrets) -> LocalKeys:
    return LocalKeys(s.basepoints(), s.per_commitment_point(1))


class RefSigner:
    """Answers a `Node`'s requests like `ChannelSignerClient` would, in process."""

    def __init__(self, tag: bytes = b"node") -> None:
        self.tag = tag
        self.next_index = 0
        self.secrets: dict[int, ChannelSecrets] = {}
        self.signers: dict[int, ChannelSigner] = {}
        self.refuse: str | None = None
        self.unavailable = False
        self.asked = 0
        self.invoices: dict[bytes, bytes] = {}
        """Invoice records by payment hash: the runtime's store for `LookupInvoice`."""
        self.close_script: bytes | None = None
        """The wallet script the runtime answers `CloseScript` with (None: no wallet)."""
        self.wallet_scripts: set[bytes] = set()
        """The signer's mutual-close allow-list (decision 0017)."""

    def drive(self, node: Node, now: int = 0) -> None:
        while (req := node.next_request()) is not None:
            if isinstance(req, LookupInvoice):
                node.invoice_found(req.payment_hash, self.invoices.get(req.payment_hash), now)
                continue
            if isinstance(req, CloseScript):
                node.close_script(req.channel_id, self.close_script, now)
                continue
            self.asked += 1
            if self.unavailable:
                node.request_failed(req, "signer_unavailable")
            elif isinstance(req, NewChannelKeys):
                i, self.next_index = self.next_index, self.next_index + 1
                self.secrets[i] = secrets(self.tag + i.to_bytes(4, "big"))
                node.channel_keys(req, i, local_keys(self.secrets[i]), now)
            else:
                node.signer_answer(req, self._answer(req), now)

    def _answer(self, call: ChannelSignerCall) -> io.SignerResult:
        i, req = call.channel_index, call.request
        if isinstance(req, io.SetupChannel):
            self.signers[i] = ChannelSigner.setup(self.secrets[i], req)
            return io.ChannelSetUp()
        if self.refuse:
            return io.SignerRefused(self.refuse)
        return self.signers[i].handle(req, allowlisted=self.wallet_scripts)
