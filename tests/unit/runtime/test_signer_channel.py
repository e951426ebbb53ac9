"""The worker -> supervisor signer channel: packets, and a round trip over a socket pair."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

import pytest

from vajra.errors import PolicyViolation
from vajra.runtime import signer_channel as sc
from vajra.runtime.remote_signer import SignerUnavailable

NODE = b"\x02" + bytes(range(32))
KEY = bytes(range(100, 132))


def test_request_round_trip_and_rejects() -> None:
    req = sc.ChannelRequest(7, sc.OP_STATE_KEY, 42, NODE)
    assert sc.ChannelRequest.decode(req.encode()) == req
    ecdh = sc.ChannelRequest(8, sc.OP_ECDH, 1, NODE, b"\x03" * 33)
    assert sc.ChannelRequest.decode(ecdh.encode()) == ecdh
    for bad in (b"", req.encode()[:-1], req.encode() + b"x", ecdh.encode()[:-1],
                sc.ChannelRequest(9, 99, 1, NODE).encode(), b"\x00" * 600):  # fmt: skip
        with pytest.raises(sc.ChannelDecodeError):
            sc.ChannelRequest.decode(bad)


def test_responses() -> None:
    assert sc.decode_response(sc.encode_ok(5, KEY)) == (5, KEY)
    rid, e = sc.decode_response(sc.encode_refused(6, "stale_epoch", "epoch 1 < newest 2"))
    assert rid == 6 and isinstance(e, PolicyViolation) and e.reason == "stale_epoch"
    rid, e = sc.decode_response(sc.encode_unavailable(7, "not connected"))
    assert rid == 7 and isinstance(e, SignerUnavailable) and e.detail == "not connected"
    for bad in (b"", b"\x00" * 8 + b"\x09", b"\x00" * 8 + b"\x01"):
        with pytest.raises(sc.ChannelDecodeError):
            sc.decode_response(bad)


def test_client_and_server_over_a_socket_pair() -> None:
    seen: list[sc.ChannelRequest] = []

    async def resolve(req: sc.ChannelRequest) -> bytes:
        seen.append(req)
        if req.epoch == 0:
            raise PolicyViolation("stale_epoch", "old")
        if req.epoch == 1:
            raise SignerUnavailable(3, "not connected")
        if req.epoch == 2:
            raise RuntimeError("a bug")
        return KEY

    async def main() -> None:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        server = sc.ChannelServer([a], resolve)
        server.start()
        # Generous: 20 answers from a thread on a loaded 2-core machine (no timeout is tested here).
        client = sc.SupervisorSignerClient(b.detach(), timeout=60.0)
        got = await asyncio.gather(*(client.state_key(NODE, 5 + i) for i in range(20)))
        assert got == [KEY] * 20
        assert sorted(r.epoch for r in seen) == list(range(5, 25))  # epochs pass through
        with pytest.raises(PolicyViolation) as v:
            await client.state_key(NODE, 0)
        assert v.value.reason == "stale_epoch"
        with pytest.raises(SignerUnavailable):
            await client.state_key(NODE, 1)
        with pytest.raises(SignerUnavailable):  # no detail of the bug crosses over
            await client.state_key(NODE, 2)
        assert await client.ecdh(NODE, b"\x02" * 33, 9) == KEY
        assert seen[-1].op == sc.OP_ECDH and seen[-1].extra == b"\x02" * 33
        server.close()
        a.close()

    asyncio.run(main())


def test_client_times_out_without_an_answer() -> None:
    async def main() -> None:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        client = sc.SupervisorSignerClient(b.detach(), timeout=0.2)
        with pytest.raises(SignerUnavailable):
            await client.state_key(NODE, 1)
        a.close()

    asyncio.run(main())


def test_channel_ops_cross_opaque_and_a_short_secret_is_refused() -> None:
    """new_channel and channel_request: the worker encodes, the supervisor sees opaque
    bytes (index + request) and answers with the signer's bytes; the worker decodes. A
    state key answer that is not 32 bytes is not taken for a secret."""
    from vajra.channel import signer_codec as codec
    from vajra.channel import signer_io as io
    from vajra.channel.establish_io import LocalKeys
    from vajra.signer.keys import SignerKeys

    secrets = SignerKeys(bytes(64)).node(0).channel(4)
    keys = LocalKeys(secrets.basepoints(), secrets.per_commitment_point(1))
    seen: list[sc.ChannelRequest] = []

    async def resolve(req: sc.ChannelRequest) -> bytes:
        seen.append(req)
        if req.op == sc.OP_NEW_CHANNEL:
            return (4).to_bytes(4, "big") + codec.encode_local_keys(keys)
        if req.op == sc.OP_CHANNEL_REQUEST:
            return codec.encode_result(io.SignerRefused("policy-x", "why"))
        return KEY[:-1]

    async def main() -> None:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        server = sc.ChannelServer([a], resolve)
        server.start()
        client = sc.SupervisorSignerClient(b.detach(), timeout=60.0)
        assert await client.new_channel(NODE, 7) == (4, keys)
        big = io.ValidateHolderCommitment(3, _spec(400), bytes(64), (bytes(64),) * 400)
        r = await client.channel_request(NODE, 7, 4, big)
        assert r == io.SignerRefused("policy-x", "why")
        assert seen[-1].extra == (4).to_bytes(4, "big") + codec.encode_request(big)
        assert len(seen[-1].extra) > 40_000  # large requests fit one packet
        with pytest.raises(PolicyViolation, match="request_too_large"):
            await client.channel_request(
                NODE, 7, 4, replace(big, htlc_signatures=(bytes(64),) * 966)
            )
        with pytest.raises(SignerUnavailable, match="32 bytes"):
            await client.state_key(NODE, 7)
        server.close()
        a.close()

    asyncio.run(main())


def _spec(n: int) -> object:
    from vajra.channel.spec import CommitSpec, HtlcEntry, Side

    htlcs = tuple(HtlcEntry(Side.LOCAL, i, 1000, bytes(32), 500) for i in range(n))
    return CommitSpec(253, (1, 2), htlcs)
