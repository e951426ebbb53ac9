"""BIP 32 test vectors 1-5, read from the BIP: private and public derivation, extended key
serialization both ways, and every invalid key of vector 5 refused."""

from __future__ import annotations

import pytest

from tests.unit.bitcoin.bip_vectors import bip32_chains, bip32_invalid_keys
from vajra.crypto.bip32 import (
    HARDENED,
    Bip32Error,
    ExtendedPrivateKey,
    ExtendedPublicKey,
    master_key,
    parse_extended_key,
    parse_path,
)

CHAINS = bip32_chains()


def test_vectors_were_read() -> None:
    assert {c[0] for c in CHAINS} == {f"Test vector {n}" for n in (1, 2, 3, 4)}
    assert len(CHAINS) >= 17 and len(bip32_invalid_keys()) >= 16


@pytest.mark.parametrize(("vector", "seed", "path", "xpub", "xprv"), CHAINS)
def test_chain(vector: str, seed: bytes, path: str, xpub: str, xprv: str) -> None:
    indices = parse_path(path)
    node = master_key(seed).derive(indices, fingerprint=True)
    assert node.serialize("xprv") == xprv
    assert node.public().serialize("xpub") == xpub
    # parsing round-trips
    kind, parsed = parse_extended_key(xprv)
    assert kind == "xprv" and isinstance(parsed, ExtendedPrivateKey)
    assert (parsed.secret, parsed.chain_code, parsed.depth) == (
        node.secret,
        node.chain_code,
        node.depth,
    )
    assert parsed.serialize() == xprv
    kind, pub = parse_extended_key(xpub)
    assert kind == "xpub" and isinstance(pub, ExtendedPublicKey)
    assert pub == node.public()
    # public derivation from the deepest hardened step's xpub reaches the same keys
    last_hardened = max((k + 1 for k, i in enumerate(indices) if i >= HARDENED), default=0)
    base = master_key(seed).derive(indices[:last_hardened], fingerprint=True).public()
    assert base.derive(indices[last_hardened:]).serialize() == xpub


def test_fast_derivation_refuses_to_serialize_without_the_fingerprint() -> None:
    _, seed, path, _, _ = CHAINS[2]
    fast = master_key(seed).derive(parse_path(path))
    assert fast.parent_fingerprint is None
    with pytest.raises(ValueError):
        fast.serialize()
    with pytest.raises(ValueError):
        ExtendedPublicKey(fast.pubkey, fast.chain_code).child(HARDENED)


@pytest.mark.parametrize(("key", "reason"), bip32_invalid_keys())
def test_invalid_keys(key: str, reason: str) -> None:
    with pytest.raises(Bip32Error):
        parse_extended_key(key)
