"""BIP 39 mnemonics and the sealed seed file."""

from __future__ import annotations

import pytest

from vajra.errors import DecodeError, WrongPassword
from vajra.signer.seed import (
    DEFAULT_PARAMS,
    InvalidMnemonic,
    KdfParams,
    mnemonic_to_seed,
    needs_reseal,
    new_mnemonic,
    normalize_mnemonic,
    open_seed,
    seal_seed,
    sealed_params,
)

FAST = KdfParams(memory_kib=64, iterations=1, lanes=1)  # tests only; real files use DEFAULT
ABANDON = " ".join(["abandon"] * 11 + ["about"])


def test_bip39_reference_vector() -> None:
    # BIP 39 reference vectors (trezor/python-mnemonic vectors.json), passphrase "TREZOR".
    assert new_mnemonic(entropy=bytes(16)) == ABANDON
    assert mnemonic_to_seed(ABANDON, "TREZOR").hex() == (
        "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e5349553"
        "1f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04"
    )


def test_new_mnemonic_is_24_valid_words_and_restores() -> None:
    words = new_mnemonic()
    assert len(words.split()) == 24
    assert normalize_mnemonic("  " + words.upper().replace(" ", "   ") + "\n") == words
    assert mnemonic_to_seed(words) != mnemonic_to_seed(words, "passphrase")


@pytest.mark.parametrize("bad", ["", "abandon " * 12, ABANDON.replace("about", "zoo"), "foo bar"])
def test_invalid_mnemonic(bad: str) -> None:
    with pytest.raises(InvalidMnemonic):
        normalize_mnemonic(bad)


def test_seal_open_roundtrip_and_wrong_password() -> None:
    seed = mnemonic_to_seed(ABANDON)
    blob = seal_seed(seed, "correct horse", FAST)
    assert seed not in blob
    assert open_seed(blob, "correct horse") == seed
    with pytest.raises(WrongPassword):
        open_seed(blob, "correct horse!")
    assert sealed_params(blob) == FAST
    assert needs_reseal(blob) and not needs_reseal(seal_seed(seed, "x", DEFAULT_PARAMS))


def test_every_byte_is_authenticated() -> None:
    blob = seal_seed(bytes(range(64)), b"pw", FAST)
    for i in range(len(blob)):
        bad = bytearray(blob)
        bad[i] ^= 0x01
        with pytest.raises((WrongPassword, DecodeError)):
            open_seed(bytes(bad), b"pw")


def test_two_seals_differ() -> None:
    assert seal_seed(bytes(32), "pw", FAST) != seal_seed(bytes(32), "pw", FAST)


def test_hostile_parameters_are_refused_before_hashing() -> None:
    blob = bytearray(seal_seed(bytes(32), "pw", FAST))
    blob[10:14] = (0xFFFFFFFF).to_bytes(4, "big")  # 4 TiB of memory
    with pytest.raises(DecodeError):
        open_seed(bytes(blob), "pw")
    with pytest.raises(DecodeError):
        open_seed(b"not a seed file", "pw")
    with pytest.raises(DecodeError):  # unknown version
        open_seed(b"VAJRASD\x00\x02" + bytes(100), "pw")
