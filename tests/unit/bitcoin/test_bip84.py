"""BIP 84 test vectors, read from the BIP: mnemonic -> root zprv/zpub -> account key ->
receive and change addresses, the addresses derived from the account zpub alone (as the
runtime derives a node's addresses from the xpub its signer releases)."""

from __future__ import annotations

from mnemonic import Mnemonic

from tests.unit.bitcoin.bip_vectors import bip84_vectors
from vajra.bitcoin.script import p2wpkh, script_to_address
from vajra.crypto.base58 import base58check_decode
from vajra.crypto.bip32 import ExtendedPublicKey, master_key, parse_extended_key, parse_path


def test_bip84() -> None:
    header, steps = bip84_vectors()
    assert len(steps) == 4
    root = master_key(Mnemonic("english").to_seed(header["mnemonic"], ""))
    assert root.serialize("zprv") == header["rootpriv"]
    assert root.public().serialize("zpub") == header["rootpub"]
    account_zpub: ExtendedPublicKey | None = None
    for path, fields in steps:
        indices = parse_path(path)
        if "xpub" in fields:
            node = root.derive(indices, fingerprint=True)
            assert node.serialize("zprv") == fields["xpriv"]
            assert node.public().serialize("zpub") == fields["xpub"]
            _, parsed = parse_extended_key(fields["xpub"])
            assert isinstance(parsed, ExtendedPublicKey)
            account_zpub = parsed
            continue
        assert account_zpub is not None
        # watch-only: change/index below the account, public derivation only
        pub = account_zpub.derive(indices[3:]).pubkey
        assert pub.hex() == fields["pubkey"]
        assert script_to_address(p2wpkh(pub), "bitcoin") == fields["address"]
        wif = base58check_decode(fields["privkey"])
        assert wif[0] == 0x80 and wif[33] == 1  # mainnet, compressed
        assert root.derive(indices).secret == wif[1:33]
