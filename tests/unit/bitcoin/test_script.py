"""Output scripts and addresses: BIP 350's valid and invalid segwit addresses, verbatim."""

from __future__ import annotations

import pytest

from tests.unit.bitcoin.bip_vectors import bip350_invalid_addresses, bip350_valid_addresses
from vajra.bitcoin.script import (
    AddressError,
    address_to_script,
    p2pkh,
    p2sh,
    p2tr,
    p2wpkh,
    p2wsh,
    script_to_address,
    witness_program,
)
from vajra.crypto.hashes import hash160, sha256

CHAIN_OF_HRP = {"bc": "bitcoin", "tb": "testnet"}
VALID = bip350_valid_addresses()
INVALID = bip350_invalid_addresses()


def test_vectors_were_read() -> None:
    assert len(VALID) >= 8 and len(INVALID) >= 14


@pytest.mark.parametrize(("address", "script"), VALID)
def test_valid_address(address: str, script: bytes) -> None:
    chain = CHAIN_OF_HRP[address[:2].lower()]
    assert address_to_script(address, chain) == script
    assert script_to_address(script, chain) == address.lower()
    assert witness_program(script) is not None
    # an address of one chain is refused on another
    other = "regtest"
    with pytest.raises(AddressError):
        address_to_script(address, other)


@pytest.mark.parametrize(("address", "reason"), INVALID)
def test_invalid_address(address: str, reason: str) -> None:
    for chain in ("bitcoin", "testnet", "regtest"):
        with pytest.raises(AddressError):
            address_to_script(address, chain)


def test_templates() -> None:
    pub = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
    assert p2wpkh(pub) == b"\x00\x14" + hash160(pub)
    # BIP 173's example: the P2WPKH address of the generator point
    assert script_to_address(p2wpkh(pub), "bitcoin") == "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    ws = b"\x21" + pub + b"\xac"
    assert p2wsh(ws) == b"\x00\x20" + sha256(ws)
    assert p2tr(pub[1:]) == b"\x51\x20" + pub[1:]
    for chain in ("bitcoin", "testnet", "regtest"):
        for s in (p2wpkh(pub), p2wsh(ws), p2tr(pub[1:]), p2pkh(pub), p2sh(ws)):
            assert address_to_script(script_to_address(s, chain), chain) == s
    assert script_to_address(p2wpkh(pub), "regtest").startswith("bcrt1q")
    # BIP 13 / base58: the P2PKH address of the generator point
    assert script_to_address(p2pkh(pub), "bitcoin") == "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"
    with pytest.raises(ValueError):
        script_to_address(b"\x6a\x00", "bitcoin")
    for bad in ("", "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMh", "0OIl", "bcrt1"):
        with pytest.raises(AddressError):
            address_to_script(bad, "bitcoin")
