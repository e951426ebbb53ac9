"""BOLT 7 `bolt07/extended-queries.json`: decode every vector, encode the uncompressed ones."""

from __future__ import annotations

import zlib
from typing import Any

import pytest

from tests.unit.wire import vectors
from vajra.wire import (
    ChannelUpdateChecksums,
    ChannelUpdateTimestamps,
    QueryChannelRange,
    QueryChannelRangeTlvs,
    QueryFlags,
    QueryShortChannelIds,
    QueryShortChannelIdsTlvs,
    ReplyChannelRange,
    ReplyChannelRangeTlvs,
    TimestampsTlv,
    decode_message,
    encode_message,
    scid_from_str,
)
from vajra.wire.errors import InvalidValue
from vajra.wire.gossip_queries import (
    UNCOMPRESSED,
    ZLIB,
    decode_query_flags,
    decode_short_ids,
    decode_timestamps,
    encode_query_flags,
    encode_short_ids,
    encode_timestamps,
)

CASES = vectors.extended_queries()
ENCODING = {"UNCOMPRESSED": UNCOMPRESSED, "COMPRESSED_ZLIB": ZLIB}
# The JSON names `query_option_flags` bits (BOLT 7 `query_channel_range`).
QUERY_OPTION = {"WANT_TIMESTAMPS": 1, "WANT_CHECKSUMS": 2}


def _encode_array(encoding: str, raw: bytes) -> tuple[int, bytes]:
    if encoding == "UNCOMPRESSED":
        return UNCOMPRESSED, raw
    return ZLIB, zlib.compress(raw)


def _short_ids(j: dict[str, Any]) -> bytes:
    scids = [scid_from_str(s) for s in j["array"]]
    enc, data = _encode_array(j["encoding"], encode_short_ids(scids)[1:])
    return bytes((enc,)) + data


Query = QueryChannelRange | QueryShortChannelIds | ReplyChannelRange


def build(j: dict[str, Any]) -> Query:
    """The message the JSON describes, built with our classes."""
    chain = bytes.fromhex(j["chainHash"])
    if j["type"] == "QueryChannelRange":
        recs = j["tlvStream"]["records"]
        opt = None
        if recs:
            opt = 0
            for name in recs[0].split("|"):
                opt |= QUERY_OPTION[name.strip()]
        tlvs = QueryChannelRangeTlvs(query_option=opt)
        return QueryChannelRange(chain, j["firstBlockNum"], j["numberOfBlocks"], tlvs)
    if j["type"] == "QueryShortChannelIds":
        flags = None
        for rec in j["tlvStream"]["records"]:
            raw = encode_query_flags(rec["array"])[1]
            flags = QueryFlags(*_encode_array(rec["encoding"], raw))
        return QueryShortChannelIds(
            chain, _short_ids(j["shortChannelIds"]), QueryShortChannelIdsTlvs(query_flags=flags)
        )
    assert j["type"] == "ReplyChannelRange"
    ts = None
    if "timestamps" in j:
        items = tuple(
            ChannelUpdateTimestamps(t["timestamp1"], t["timestamp2"])
            for t in j["timestamps"]["timestamps"]
        )
        ts = TimestampsTlv(*_encode_array(j["timestamps"]["encoding"], encode_timestamps(items)[1]))
    cs = None
    if "checksums" in j:
        cs = tuple(
            ChannelUpdateChecksums(c["checksum1"], c["checksum2"])
            for c in j["checksums"]["checksums"]
        )
    return ReplyChannelRange(
        chain,
        j["firstBlockNum"],
        j["numberOfBlocks"],
        j["complete"],
        _short_ids(j["shortChannelIds"]),
        ReplyChannelRangeTlvs(timestamps_tlv=ts, checksums_tlv=cs),
    )


@pytest.mark.parametrize("case", CASES, ids=[c["hex"][:12] + str(i) for i, c in enumerate(CASES)])
def test_decode_matches_json(case: dict[str, Any]) -> None:
    wire = bytes.fromhex(case["hex"])
    msg = decode_message(wire)
    j = case["msg"]
    assert isinstance(msg, Query) and type(msg).__name__ == j["type"]
    assert msg.chain_hash.hex() == j["chainHash"]
    if isinstance(msg, QueryShortChannelIds | ReplyChannelRange):
        ids = decode_short_ids(msg.encoded_short_ids)
        assert ids == tuple(scid_from_str(s) for s in j["shortChannelIds"]["array"])
        assert msg.encoded_short_ids[0] == ENCODING[j["shortChannelIds"]["encoding"]]
    if isinstance(msg, QueryShortChannelIds) and j["tlvStream"]["records"]:
        qf = msg.tlvs.query_flags
        assert qf is not None
        rec = j["tlvStream"]["records"][0]
        assert decode_query_flags(qf.encoding_type, qf.encoded_query_flags) == tuple(rec["array"])
    if isinstance(msg, ReplyChannelRange):
        assert msg.sync_complete == j["complete"]
        if "timestamps" in j:
            t = msg.tlvs.timestamps_tlv
            assert t is not None and t.encoding_type == ENCODING[j["timestamps"]["encoding"]]
            got = decode_timestamps(t.encoding_type, t.encoded_timestamps)
            assert [(x.timestamp_node_id_1, x.timestamp_node_id_2) for x in got] == [
                (x["timestamp1"], x["timestamp2"]) for x in j["timestamps"]["timestamps"]
            ]
        if "checksums" in j:
            assert msg.tlvs.checksums_tlv == tuple(
                ChannelUpdateChecksums(c["checksum1"], c["checksum2"])
                for c in j["checksums"]["checksums"]
            )
    # Whatever the encoding, the decoded message re-encodes to the same bytes.
    assert encode_message(msg) == wire


@pytest.mark.parametrize("case", CASES, ids=[c["hex"][:12] + str(i) for i, c in enumerate(CASES)])
def test_encode_matches_hex(case: dict[str, Any]) -> None:
    # The zlib vectors were made with zlib's default level, which `zlib.compress` matches
    # byte for byte; we only build them here, the codec never compresses.
    built = build(case["msg"])
    assert encode_message(built).hex() == case["hex"]
    assert decode_message(bytes.fromhex(case["hex"])) == built


def test_vectors_were_found() -> None:
    assert len(CASES) == 10


def test_malformed_arrays() -> None:
    with pytest.raises(InvalidValue):
        decode_short_ids(b"")
    with pytest.raises(InvalidValue):
        decode_short_ids(b"\x00" + bytes(7))
    with pytest.raises(InvalidValue):
        decode_short_ids(b"\x02")
    with pytest.raises(InvalidValue):
        decode_short_ids(b"\x01not zlib")
    bomb = zlib.compress(bytes(10 * 8 * 65535))
    with pytest.raises(InvalidValue):
        decode_short_ids(b"\x01" + bomb)
