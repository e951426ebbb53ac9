"""bech32 / bech32m against the test vectors of BIP 173 and BIP 350, and our regrouping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vajra.invoice import Fallback, InvoiceError, Reason, bech32

BECH32_VALID = [
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
]
BECH32M_VALID = [
    "A1LQFN3A",
    "a1lqfn3a",
    "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
    "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
    "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
    "?1v759aa",
]
INVALID = [
    ("\x201nwldj5", Reason.INVALID_CHARACTER),
    ("\x7f1axkwrx", Reason.INVALID_CHARACTER),
    ("pzry9x0s0muk", Reason.NO_SEPARATOR),
    ("1pzry9x0s0muk", Reason.NO_SEPARATOR),  # empty hrp
    ("x1b4n0q5v", Reason.INVALID_CHARACTER),
    ("li1dgmt3", Reason.TOO_SHORT),
    ("de1lg7wt\xff", Reason.INVALID_CHARACTER),
    ("A1G7SGD8", Reason.INVALID_CHECKSUM),  # checksum made with the upper-case hrp
    ("10a06t8", Reason.NO_SEPARATOR),
    ("1qzzfhee", Reason.NO_SEPARATOR),
    ("A12UEL5l", Reason.MIXED_CASE),
]


@pytest.mark.parametrize("s", BECH32_VALID)
def test_bech32_vectors(s: str) -> None:
    hrp, words, encoding = bech32.decode(s)
    assert encoding is bech32.Encoding.BECH32
    assert bech32.encode(hrp, words, encoding) == s.lower()


@pytest.mark.parametrize("s", BECH32M_VALID)
def test_bech32m_vectors(s: str) -> None:
    hrp, words, encoding = bech32.decode(s)
    assert encoding is bech32.Encoding.BECH32M
    assert bech32.encode(hrp, words, encoding) == s.lower()


@pytest.mark.parametrize(("s", "reason"), INVALID)
def test_invalid_vectors(s: str, reason: Reason) -> None:
    with pytest.raises(InvoiceError) as e:
        bech32.decode(s)
    assert e.value.reason == reason


def test_length_limit_is_optional() -> None:
    long = bech32.encode("ln", bytes(200))
    with pytest.raises(InvoiceError) as e:
        bech32.decode(long)
    assert e.value.reason == Reason.TOO_LONG
    assert bech32.decode(long, max_length=None)[1] == bytes(200)


@pytest.mark.parametrize(
    ("fallback", "address"),
    [
        (
            Fallback(0, bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6")),
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        ),
        (
            Fallback(
                1, bytes.fromhex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
            ),
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        ),
    ],
)
def test_segwit_addresses(fallback: Fallback, address: str) -> None:
    assert fallback.address("bc") == address


@given(st.binary(max_size=100))
def test_regrouping_round_trip(data: bytes) -> None:
    words = bech32.bytes_to_words(data)
    assert bech32.words_to_bytes(words) == data
    assert bech32.convertbits(words, 5, 8, pad=False) == data


def test_convertbits_rejects_non_zero_padding() -> None:
    with pytest.raises(ValueError):
        bech32.convertbits(b"\x01", 5, 8, pad=False)
