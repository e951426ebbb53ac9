"""BOLT 1 fundamental types: BigSize (Appendix A), signed integers (Appendix D), tu64."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.wire import vectors
from vajra.errors import DecodeError
from vajra.wire.errors import NonCanonical, Truncated
from vajra.wire.primitives import (
    Reader,
    decode_bigsize,
    decode_signed,
    encode_bigsize,
    encode_signed,
    encode_truncated,
    read_bigsize,
    read_truncated,
    scid_from_parts,
    scid_from_str,
    scid_parts,
    scid_to_str,
)

DECODING = vectors.bigsize_decoding()
ENCODING = vectors.bigsize_encoding()


def test_vectors_were_found() -> None:
    assert len(DECODING) == 18 and len(ENCODING) == 8 and len(vectors.signed_ints()) == 23


@pytest.mark.parametrize("case", DECODING, ids=[str(c["name"]) for c in DECODING])
def test_bigsize_decoding(case: dict[str, object]) -> None:
    data = bytes.fromhex(str(case["bytes"]))
    err = case.get("exp_error")
    if err is None:
        assert decode_bigsize(data) == case["value"]
        return
    # The spec's errors: "decoded bigsize is not canonical", "unexpected EOF", "EOF".
    expected = NonCanonical if "canonical" in str(err) else Truncated
    with pytest.raises(expected):
        decode_bigsize(data)


@pytest.mark.parametrize("case", ENCODING, ids=[str(c["name"]) for c in ENCODING])
def test_bigsize_encoding(case: dict[str, object]) -> None:
    value = case["value"]
    assert isinstance(value, int)
    assert encode_bigsize(value).hex() == case["bytes"]


@given(st.integers(0, 2**64 - 1))
def test_bigsize_round_trip_is_minimal(v: int) -> None:
    enc = encode_bigsize(v)
    assert read_bigsize(enc + b"\x00", 0, len(enc) + 1) == (v, len(enc))
    assert len(enc) == (1 if v < 0xFD else 3 if v < 0x10000 else 5 if v < 2**32 else 9)


@pytest.mark.parametrize("case", vectors.signed_ints(), ids=lambda c: str(c["value"]))
def test_signed_integers(case: dict[str, object]) -> None:
    data = bytes.fromhex(str(case["bytes"]))
    value = case["value"]
    assert isinstance(value, int)
    # The vectors use the smallest of s8/s16/s32/s64 that holds the value.
    assert encode_signed(value, len(data)) == data
    assert decode_signed(data) == value
    assert Reader(data).signed(len(data)) == value


@given(st.integers(0, 2**64 - 1))
def test_tu64_round_trip_and_minimal(v: int) -> None:
    enc = encode_truncated(v, 8)
    assert read_truncated(enc, 0, len(enc), 8) == v
    assert enc == b"" or enc[0] != 0


@pytest.mark.parametrize("data", ["00", "0001", "000000000000000001", "ffffffffffffffffff"])
def test_tu64_rejects_non_minimal_or_long(data: str) -> None:
    b = bytes.fromhex(data)
    with pytest.raises(NonCanonical):
        read_truncated(b, 0, len(b), 8)


def test_tu16_width() -> None:
    assert read_truncated(b"\xff\xff", 0, 2, 2) == 0xFFFF
    with pytest.raises(NonCanonical):
        read_truncated(b"\x01\x00\x00", 0, 3, 2)


def test_reader_never_reads_past_the_end() -> None:
    r = Reader(b"\x00\x01\x02")
    assert r.u16() == 1
    with pytest.raises(Truncated):
        r.u16()
    assert r.u8() == 2 and r.at_end()
    with pytest.raises(Truncated):
        r.read(1)
    with pytest.raises(Truncated):
        Reader(bytearray(b"\xfd\x00")).bigsize()


@given(
    st.binary(max_size=40),
    st.lists(
        st.sampled_from(["u8", "u16", "u32", "u64", "bigsize", "point", "read3", "rest"]),
        max_size=8,
    ),
)
def test_reader_raises_only_decode_errors(data: bytes, ops: list[str]) -> None:
    r = Reader(memoryview(data))
    try:
        for op in ops:
            if op == "read3":
                r.read(3)
            else:
                getattr(r, op)()
    except DecodeError:
        pass


def test_short_channel_id_text_form() -> None:
    scid = scid_from_parts(539268, 845, 1)
    assert scid_to_str(scid) == "539268x845x1"
    assert scid_from_str("539268x845x1") == scid
    assert scid_parts(scid) == (539268, 845, 1)
    assert scid_from_str("0x0x550") == 0x226
