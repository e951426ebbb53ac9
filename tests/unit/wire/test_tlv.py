"""BOLT 1 TLV streams: every Appendix B vector, read from the spec, plus properties."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.wire import vectors
from vajra.errors import DecodeError
from vajra.wire import N1, N2, ExtensionTlvs, Tlv3, scid_from_str
from vajra.wire.errors import EncodeError, TlvOrderError, UnknownEvenTlv
from vajra.wire.primitives import encode_bigsize
from vajra.wire.tlv import TlvStream, iter_records

STREAMS: dict[str, type[TlvStream]] = {"n1": N1, "n2": N2}
ALL = vectors.tlv_vectors()
INVALID = [(v, ns) for v in ALL if not v.valid for ns in v.namespaces]
VALID = [(v, ns) for v in ALL if v.valid for ns in v.namespaces]


def _id(item: tuple[vectors.TlvVector, str]) -> str:
    v, ns = item
    return f"{ns}:{v.stream.hex() or 'empty'}"[:40]


def test_appendix_b_was_found() -> None:
    assert len(ALL) == 57
    assert {v.section for v in ALL} == {
        "TLV Decoding Failures",
        "TLV Decoding Successes",
        "TLV Stream Decoding Failure",
    }


@pytest.mark.parametrize("item", INVALID, ids=[_id(i) for i in INVALID])
def test_invalid_streams(item: tuple[vectors.TlvVector, str]) -> None:
    v, ns = item
    with pytest.raises(DecodeError):
        STREAMS[ns].decode(v.stream)


def _expected_n1(note: str) -> N1:
    """Turn "`tlv3` `node_id`=02.. `amount_msat_1`=1 ..." into the N1 it describes."""
    rec = re.match(r"`(\w+)`", note)
    assert rec
    values: dict[str, object] = {}
    for name, text in re.findall(r"`(\w+)`=(\S+)", note):
        if name == "scid":
            values[name] = scid_from_str(text)  # "0x0x550": block 0, tx 0, output 550
        elif name == "node_id":
            values[name] = bytes.fromhex(text)
        else:
            values[name] = int(text)
    if rec.group(1) == "tlv3":
        return N1(tlv3=Tlv3(**values))  # type: ignore[arg-type]
    (value,) = values.values()
    return N1(**{rec.group(1): value})  # type: ignore[arg-type]


@pytest.mark.parametrize("item", VALID, ids=[_id(i) for i in VALID])
def test_valid_streams(item: tuple[vectors.TlvVector, str]) -> None:
    v, ns = item
    decoded = STREAMS[ns].decode(v.stream)
    if v.note.startswith("`"):
        assert decoded == _expected_n1(v.note)
    else:
        # "should correctly decode, and be ignored": nothing known, only unknown odd.
        assert all(getattr(decoded, r.name) in (None, False) for r in decoded.SCHEMA.records)
        assert all(t & 1 for t, _ in decoded.unknown)
    # Canonical form: re-encoding what we decoded gives the same bytes.
    assert decoded.encode() == v.stream


def test_invalid_appended_to_valid_fails() -> None:
    """Appendix B: "Any appending of an invalid stream to a valid stream should trigger a
    decoding failure"."""
    for (good, ns), (bad, ns2) in itertools.product(VALID, INVALID):
        if ns == ns2:
            with pytest.raises(DecodeError):
                STREAMS[ns].decode(good.stream + bad.stream)


def test_higher_valid_appended_to_lower_valid_decodes() -> None:
    """Appendix B: "Any appending of a higher-numbered valid stream to a lower-numbered
    valid stream should not trigger a decoding failure"."""
    n1_valid = [v.stream for v, ns in VALID if ns == "n1" and v.stream]
    pairs = 0
    for a, b in itertools.product(n1_valid, n1_valid):
        ta = [t for t, _, _ in _records(a)]
        tb = [t for t, _, _ in _records(b)]
        if max(ta) < min(tb):
            pairs += 1
            joined = N1.decode(a + b)
            assert joined.encode() == a + b
    assert pairs > 10


def _records(stream: bytes) -> list[tuple[int, int, int]]:
    return list(iter_records(stream, 0, len(stream)))


# --- properties ------------------------------------------------------------------------

records = st.dictionaries(st.integers(0, 2**64 - 1), st.binary(max_size=40), max_size=6)


def _frame(recs: dict[int, bytes]) -> bytes:
    return b"".join(encode_bigsize(t) + encode_bigsize(len(v)) + v for t, v in sorted(recs.items()))


@given(records)
def test_unknown_odd_records_are_kept_and_re_encoded(recs: dict[int, bytes]) -> None:
    odd = {t | 1: v for t, v in recs.items() if t | 1 < 2**64}
    data = _frame(odd)
    decoded = ExtensionTlvs.decode(data)
    assert decoded.unknown == tuple(sorted(odd.items()))
    assert decoded.encode() == data


@given(records)
def test_unknown_even_record_fails(recs: dict[int, bytes]) -> None:
    if any(not t & 1 for t in recs):
        with pytest.raises(UnknownEvenTlv):
            ExtensionTlvs.decode(_frame(recs))


@given(st.binary(max_size=64))
def test_random_streams_raise_only_decode_errors(data: bytes) -> None:
    for cls in (N1, N2, ExtensionTlvs):
        try:
            decoded = cls.decode(data)
        except DecodeError:
            continue
        # A stream that decodes is canonical: it re-encodes to exactly the input.
        assert decoded.encode() == data


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_n1_round_trip(amount: int, scid: int, delta: int) -> None:
    t = N1(tlv1=amount, tlv2=scid, tlv4=delta & 0xFFFF, unknown=((2**64 - 1, b"x"),))
    assert N1.decode(t.encode()) == t


def test_out_of_order_unknown_is_rejected() -> None:
    with pytest.raises(TlvOrderError):
        ExtensionTlvs.decode(bytes.fromhex("03000100"))


def test_encoder_refuses_known_type_as_unknown() -> None:
    with pytest.raises(EncodeError):
        N1(unknown=((1, b""),)).encode()
    with pytest.raises(EncodeError):
        ExtensionTlvs(unknown=((5, b""), (5, b""))).encode()
