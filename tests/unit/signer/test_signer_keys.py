"""BIP 32 derivation and the signer's key tree (paths in vajra.signer.keys)."""

from __future__ import annotations

import hashlib

import pytest

from vajra.crypto.bip32 import format_path, master_key, parse_path
from vajra.crypto.secp256k1 import pubkey_from_secret
from vajra.signer import keys as signer_keys
from vajra.signer.keys import SignerKeys

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

# BIP 32 "Test vector 1" (seed 000102...0f): the published xprv of each path. The
# Base58Check checksum guards the strings; chain code and key are read out of them.
BIP32_VECTOR_1 = [
    (
        "m",
        "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi",
    ),
    (
        "m/0'",
        "xprv9uHRZZhk6KAJC1avXpDAp4MDc3sQKNxDiPvvkX8Br5ngLNv1TxvUxt4cV1rGL5hj6KCesnDYUhd7oWgT11eZG7XnxHrnYeSvkzY7d2bhkJ7",
    ),
    (
        "m/0'/1",
        "xprv9wTYmMFdV23N2TdNG573QoEsfRrWKQgWeibmLntzniatZvR9BmLnvSxqu53Kw1UmYPxLgboyZQaXwTCg8MSY3H2EU4pWcQDnRnrVA1xe8fs",
    ),
]


def _xprv(s: str) -> tuple[bytes, bytes]:
    n = 0
    for c in s:
        n = n * 58 + _B58.index(c)
    raw = n.to_bytes(82, "big")
    assert hashlib.sha256(hashlib.sha256(raw[:78]).digest()).digest()[:4] == raw[78:]
    return raw[13:45], raw[46:78]  # chain code, private key


@pytest.mark.parametrize(("path", "xprv"), BIP32_VECTOR_1)
def test_bip32_vector_1(path: str, xprv: str) -> None:
    chain_code, secret = _xprv(xprv)
    node = master_key(bytes(range(16))).derive(parse_path(path))
    assert (node.chain_code, node.secret) == (chain_code, secret)
    assert format_path(parse_path(path)) == path


def test_bip32_path_parsing() -> None:
    assert parse_path("m/1017'/0h/5") == (1017 + 2**31, 2**31, 5)
    for bad in ("1017'", "m/x", "m/2147483648", "m/-1"):
        with pytest.raises(ValueError):
            parse_path(bad)


SEED = bytes(range(64))


def test_tree_is_deterministic_and_matches_documented_paths() -> None:
    a, b = SignerKeys(SEED), SignerKeys(SEED)
    m = master_key(SEED)
    n3 = a.node(3)
    assert n3.node_id == b.node(3).node_id
    assert n3.identity.secret == m.derive(parse_path("m/1017'/1'/0'/3'/0'")).secret
    ch = n3.channel(7)
    assert ch.htlc_base == m.derive(parse_path("m/1017'/1'/0'/3'/2'/7'/4'")).secret
    assert ch.per_commitment_seed == m.derive(parse_path("m/1017'/1'/0'/3'/2'/7'/5'")).secret
    assert n3.onchain(0, 9).secret == m.derive(parse_path("m/84'/1'/3'/0/9")).secret
    assert a.audit_key().secret == m.derive(parse_path("m/1017'/1'/1'/0'")).secret
    assert a.link_key().secret == m.derive(parse_path("m/1017'/1'/1'/1'")).secret


def test_every_purpose_node_channel_and_network_is_distinct() -> None:
    keys = SignerKeys(SEED)
    secrets: list[bytes] = [keys.audit_key().secret, keys.link_key().secret]
    for i in range(3):
        node = keys.node(i)
        secrets += [node.identity.secret, node.state_key(), node.onchain(0, 0).secret]
        secrets += [node.onchain(1, 0).secret, node.onchain(0, 1).secret]
        for c in range(3):
            ch = node.channel(c)
            secrets += [ch.funding, ch.revocation_base, ch.payment_base]
            secrets += [ch.delayed_payment_base, ch.htlc_base, ch.per_commitment_seed]
    assert len(set(secrets)) == len(secrets)
    assert SignerKeys(SEED, "bitcoin").node(0).node_id != keys.node(0).node_id
    assert SignerKeys(SEED, "signet").node(0).node_id == keys.node(0).node_id


def test_node_id_is_identity_pubkey_and_nothing_secret_in_repr() -> None:
    node = SignerKeys(SEED).node(0)
    assert node.node_id == pubkey_from_secret(node.identity.secret)
    assert node.identity.secret.hex() not in repr(node)
    assert node.state_key().hex() not in repr(node)
    with pytest.raises(ValueError):
        SignerKeys(SEED).node(2**31)
    with pytest.raises(ValueError):
        SignerKeys(SEED, "litecoin")


def test_node_keys_come_from_a_bounded_cache_and_equal_a_fresh_derivation() -> None:
    keys = SignerKeys(bytes(range(64)))
    first = keys.node(7)
    assert keys.node(7) is first  # cached
    for i in range(signer_keys._NODES_CACHED + 1):
        keys.node(100 + i)
    again = keys.node(7)  # evicted, derived again: the same keys
    assert again is not first
    assert again.node_id == first.node_id and again.state_key() == first.state_key()
    assert again.channel(3) == first.channel(3) == SignerKeys(bytes(range(64))).node(7).channel(3)
