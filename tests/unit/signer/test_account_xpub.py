"""BIP 84 accounts (account = node index, decision 0003) and the xpub the signer releases:
the BIP 84 and BIP 32 vectors, read from ../shared/specs/bips/."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from vajra.crypto.bip32 import (
    HARDENED,
    XPUB_MAINNET,
    ZPUB_MAINNET,
    master_key,
    parse_xpub,
)
from vajra.crypto.hashes import sha256
from vajra.errors import DecodeError
from vajra.invoice.address import base58check
from vajra.invoice.bech32 import encode_segwit_address
from vajra.signer.keys import SignerKeys
from vajra.signer.seed import mnemonic_to_seed

SPECS = Path(__file__).resolve().parents[4] / "shared" / "specs" / "bips"
if not SPECS.exists():  # the worktree layout: /work/wt/NAME
    SPECS = Path("/work/shared/specs/bips")


def _vectors(name: str) -> str:
    path = SPECS / name
    if not path.exists():
        pytest.skip(f"spec file {path} is not present")
    return path.read_text()


def _field(text: str, name: str) -> list[str]:
    return re.findall(rf"^\s*{name}\s*=\s*(\S+)", text, re.MULTILINE)


def _p2wpkh_address(hrp: str, pubkey: bytes) -> str:
    return encode_segwit_address(hrp, 0, hashlib.new("ripemd160", sha256(pubkey)).digest())


def test_bip84_vectors_account_zero_is_node_zero() -> None:
    text = _vectors("bip-0084.mediawiki")
    mnemonic = re.search(r"mnemonic = (.+)", text)
    assert mnemonic is not None
    keys = SignerKeys(mnemonic_to_seed(mnemonic.group(1).strip()), "bitcoin")
    node = keys.node(0)
    account = node.account().public()
    assert account.to_base58(ZPUB_MAINNET) == _field(text, "xpub")[0]
    pubkeys = _field(text, "pubkey")
    addresses = _field(text, "address")
    for (change, index), pub, addr in zip(
        ((0, 0), (0, 1), (1, 0)), pubkeys, addresses, strict=True
    ):
        child = account.derive((change, index))
        assert child.pubkey.hex() == pub
        assert _p2wpkh_address("bc", child.pubkey) == addr
        # The signer's private derivation gives the same key the runtime derives publicly.
        assert node.onchain(change, index).pubkey == child.pubkey


def test_serialisation_round_trips_and_other_nodes_differ() -> None:
    keys = SignerKeys(bytes(range(32)), "regtest")
    a0, a1 = keys.node(0).account().public(), keys.node(1).account().public()
    assert a0 != a1
    raw = a0.serialize()
    version, back = parse_xpub(raw)
    assert (version, back) == (XPUB_MAINNET, a0)
    assert back.depth == 3 and back.child_number == 0 + HARDENED
    with pytest.raises(DecodeError):
        parse_xpub(raw[:-1])
    with pytest.raises(DecodeError):
        parse_xpub(raw[:45] + b"\x05" + raw[46:])


def test_bip32_vector_one_public_chain() -> None:
    # BIP 32 test vector 1: seed 000102...0f, chain m/0'/1/2'/2/1000000000. CKDpub from
    # m/0'/1/2' (public) along /2/1000000000 gives the vector's public keys.
    text = _vectors("bip-0032.mediawiki")
    section = text[text.index("===Test vector 1===") : text.index("===Test vector 2===")]
    pubs = re.findall(r"ext pub: (xpub\w+)", section)
    m = master_key(bytes.fromhex("000102030405060708090a0b0c0d0e0f"))
    path = (0 + HARDENED, 1, 2 + HARDENED, 2, 1_000_000_000)
    nodes = [m]
    for i in path:
        nodes.append(nodes[-1].child(i))
    assert [n.public().to_base58() for n in nodes] == pubs
    public = nodes[3].public()
    assert public.derive((2, 1_000_000_000)).to_base58() == pubs[-1]
    assert base58check(public.serialize()) == pubs[3]
    with pytest.raises(ValueError):
        public.child(HARDENED)
