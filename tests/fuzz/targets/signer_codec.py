"""Fuzz the channel signer codec (`vajra.channel.signer_codec`): the signer decodes every
channel request the runtime sends, the runtime every result and LocalKeys the signer
answers (decision 0017).

Only `DecodeError` is expected. A value that decodes must re-encode to exactly the input.
"""

from __future__ import annotations

from vajra.bitcoin.tx import OutPoint
from vajra.channel import signer_codec as codec
from vajra.channel import signer_io as io
from vajra.channel.establish_io import LocalKeys
from vajra.channel.keys import Basepoints
from vajra.channel.spec import ChannelParams, CommitSpec, HtlcEntry, Side, SideParams
from vajra.errors import DecodeError

_P = bytes.fromhex("02" + "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")


def seeds() -> list[bytes]:
    bp = Basepoints(_P, _P, _P, _P, _P, _P)
    side = SideParams(546, 10_000, 1_000, 30, 500_000_000, 144)
    params = ChannelParams(bytes(32), OutPoint(bytes(32), 1), 1_000_000, Side.LOCAL, True,
                           (side, side), (bp, bp))  # fmt: skip
    spec = CommitSpec(253, (700_000_000, 300_000_000),
                      (HtlcEntry(Side.LOCAL, 0, 5_000, bytes(32), 500),))  # fmt: skip
    requests: list[io.SignerRequest] = [
        io.SetupChannel(params, spec),
        io.SignCounterpartyCommitment(1, spec, _P, (0, bytes(32)), (bytes(32),)),
        io.ValidateHolderCommitment(1, spec, bytes(64), (bytes(64),)),
        io.RevokeHolderCommitment(0),
        io.SignMutualClose(b"\x00\x14" + bytes(20), b"\x00\x14" + bytes(20), 500),
    ]
    results: list[io.SignerResult] = [
        io.CounterpartySigned(bytes(64), (bytes(64),)),
        io.HolderValidated(),
        io.HolderRevoked(bytes(32), _P),
        io.ChannelSetUp(),
        io.MutualCloseSigned(bytes(64)),
        io.SignerRefused("policy-commitment-balance", "detail"),
    ]
    return (
        [codec.encode_request(r) for r in requests]
        + [codec.encode_result(r) for r in results]
        + [codec.encode_local_keys(LocalKeys(bp, _P))]
    )


def fuzz_one(data: bytes) -> None:
    for decode, encode in (
        (codec.decode_request, codec.encode_request),
        (codec.decode_result, codec.encode_result),
        (codec.decode_local_keys, codec.encode_local_keys),
    ):
        try:
            value = decode(data)
        except DecodeError:
            continue
        if encode(value) != data:  # type: ignore[operator]
            raise AssertionError("decoded value does not re-encode to its input")
