"""BIP 84 accounts (account = node index, decision 0003) and the xpub the signer releases:
the BIP 84 vectors, read from ../shared/specs/bips/."""

from __future__ import annotations

import re

from tests.specs import spec_path
from vajra.bitcoin.script import p2wpkh, script_to_address
from vajra.crypto.bip32 import HARDENED, parse_extended_key
from vajra.signer.keys import SignerKeys
from vajra.signer.seed import mnemonic_to_seed


def _vectors(name: str) -> str:
    return spec_path(f"bips/{name}").read_text()


def _field(text: str, name: str) -> list[str]:
    return re.findall(rf"^\s*{name}\s*=\s*(\S+)", text, re.MULTILINE)


def test_bip84_vectors_account_zero_is_node_zero() -> None:
    text = _vectors("bip-0084.mediawiki")
    mnemonic = re.search(r"mnemonic = (.+)", text)
    assert mnemonic is not None
    keys = SignerKeys(mnemonic_to_seed(mnemonic.group(1).strip()), "bitcoin")
    node = keys.node(0)
    account = node.account().public()
    assert account.serialize("zpub") == _field(text, "xpub")[0]
    pubkeys = _field(text, "pubkey")
    addresses = _field(text, "address")
    for (change, index), pub, addr in zip(
        ((0, 0), (0, 1), (1, 0)), pubkeys, addresses, strict=True
    ):
        child = account.derive((change, index))
        assert child.pubkey.hex() == pub
        assert script_to_address(p2wpkh(child.pubkey), "bitcoin") == addr
        # The signer's private derivation gives the key the runtime derives publicly.
        assert node.onchain(change, index).pubkey == child.pubkey


def test_each_node_has_its_own_account() -> None:
    keys = SignerKeys(bytes(range(32)), "regtest")
    a0, a1 = keys.node(0).account().public(), keys.node(1).account().public()
    assert a0 != a1
    name, back = parse_extended_key(a1.serialize("tpub"))
    assert (name, back) == ("tpub", a1)
    assert back.depth == 3 and back.child_number == 1 + HARDENED
    assert keys.node(0).account_path() == (84 + HARDENED, 1 + HARDENED, 0 + HARDENED)
