"""The signer's side of the node wallets (decision 0011): the account xpub and signed
on-chain spends. Sans-IO, like `SignerCore`, whose policy and keys it uses.

- `account_xpub`: the node's BIP 84 account public key m/84'/coin'/node' (decision 0003:
  account = node index), serialised (BIP 32). Public data: it lets the runtime derive
  receive and change addresses and watch them; no private key leaves the signer. Not
  fenced per lease tenure (like identity release, decision 0008): it serves the wallet
  of a sleeping node, not one lease holder; every release is audited (`account_xpub`).
- `sign_onchain`: one decision (`Policy.decide_consent`, kind "onchain") that checks the
  lease epoch, the device's on-chain authorisation (signature, status, counter, node,
  expiry, per-payment max, rolling hour and day, tier) and that the PSBT is exactly what
  the authorisation consents to (`vajra.signer.onchain.check_spend`), and that no
  output funds one of the node's channels before its holder commitment 0 is validated
  (`channel_requests.check_funding`, decision 0017); only if approved does it sign. The audit subject is the authorisation followed by the txid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vajra.errors import DecodeError, PolicyViolation
from vajra.signer import onchain
from vajra.signer.channel_requests import check_funding
from vajra.signer.core import SignerCore
from vajra.signer.keys import NodeKeys
from vajra.signer.onchain_messages import OnchainAuthorisation, decode_onchain_authorisation
from vajra.signer.policy import Decision
from vajra.signer.psbt_view import PsbtCodec, psbt_codec
from vajra.signer.state import HostedNode, StateTxn


@dataclass(frozen=True, slots=True)
class OnchainResult:
    """The decision, and the PSBT with the node's signatures if it is approved (else b"")."""

    decision: Decision
    psbt: bytes


class SignerWallet:
    """Account xpubs and on-chain signing for every node of one signer."""

    def __init__(self, core: SignerCore, network: str = "regtest", codec: PsbtCodec | None = None):
        self.core = core
        self.network = network
        self.codec = codec or psbt_codec()

    def _node(self, txn: StateTxn, node_id: bytes) -> HostedNode:
        node = txn.node(node_id)
        if node is None:
            raise PolicyViolation("unknown_node", node_id.hex())
        return node

    def account_xpub(self, node_id: bytes, *, epoch: int, now: int) -> tuple[bytes, bytes]:
        """78-byte BIP 32 serialisation of m/84'/coin'/node' (xpub on mainnet, tpub else)
        and the master key's fingerprint."""
        found: list[HostedNode] = []
        d = self.core.policy.authorise_request(
            "account_xpub", node_id=node_id, epoch=epoch, subject=b"", now=now,
            check=lambda txn: found.append(self._node(txn, node_id)), fenced=False,
        )  # fmt: skip
        if not d.approved:
            raise PolicyViolation(d.reason, "account_xpub refused")
        keys = self.core.keys.node(found[0].index)
        kind = "xpub" if keys.coin == 0 else "tpub"
        return keys.account().public().to_bytes(kind), keys.master_fingerprint

    def sign_onchain(
        self,
        node_id: bytes,
        authorisation: bytes,
        psbt: bytes,
        *,
        epoch: int,
        now: int,
        confirmation: bytes | None = None,
    ) -> OnchainResult:
        """Decide and, if approved, sign. A PSBT that does not parse is refused with
        `onchain-bad-psbt` (audited, consent not used up)."""
        state: dict[str, Any] = {}

        def cover(auth: OnchainAuthorisation, txn: StateTxn) -> bytes:
            try:
                parsed = self.codec.parse(psbt)
            except DecodeError as e:
                raise PolicyViolation(onchain.BAD_PSBT, str(e)) from None
            keys: NodeKeys = self.core.keys.node(self._node(txn, node_id).index)
            paths = onchain.check_spend(parsed.view, auth, keys)
            check_funding(self.core, txn, node_id, parsed.view.tx)
            state.update(parsed=parsed, keys=keys, paths=paths)
            return parsed.view.tx.txid

        d = self.core.policy.decide_consent(
            "onchain", authorisation, decode_onchain_authorisation, node_id=node_id, now=now,
            confirmation=confirmation, epoch=epoch, cover=cover,
        )  # fmt: skip
        if not d.approved:
            return OnchainResult(d, b"")
        parsed, keys = state["parsed"], state["keys"]
        sigs = onchain.sign_inputs(parsed.view, keys, state["paths"])
        return OnchainResult(d, self.codec.with_signatures(parsed, sigs))
