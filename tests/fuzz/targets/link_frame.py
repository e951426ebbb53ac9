"""Fuzz the signer link's frame decoder (`vajra.signer.link_proto.decode`): every frame
the runtime sends reaches it on the signer, and every answer reaches it in the runtime.

Only `VajraError` subclasses are expected. A frame that decodes must re-encode to exactly
the input (one encoding per value), else the harness raises.
"""

from __future__ import annotations

from vajra.errors import VajraError
from vajra.signer import link_proto as lp

_NODE = bytes.fromhex("02" + "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")


def seeds() -> list[bytes]:
    frames: list[lp.Frame] = [
        lp.Hello(0, (_NODE,)),
        lp.AuditHead(0, 7, bytes(32)),
        lp.Backup(0, 7, b"sealed"),
        lp.PairRequest(0, bytes(32)),
        lp.PairAccept(0, _NODE, 1, bytes(32)),
        lp.Ping(7),
        lp.CreateNodes(1, 3),
        lp.IdentitySecrets(2, 5, (_NODE, _NODE)),
        lp.StateKey(3, _NODE, 5),
        lp.Ecdh(4, _NODE, 5, _NODE),
        lp.SignNodeAnnouncement(5, _NODE, 5, b"\x01\x01" + bytes(100)),
        lp.SignChannelUpdate(6, _NODE, 5, b"\x01\x02" + bytes(100)),
        lp.SignInvoice(7, _NODE, 5, "lnbcrt1u", bytes(range(32))),
        lp.AuthorisePayment(8, _NODE, 5, bytes(195), bytes(129)),
        lp.DeviceCommandReq(9, bytes(146)),
        lp.Pong(7),
        lp.NodesCreated(1, ((_NODE, bytes(32)),)),
        lp.Secrets(2, (bytes(32),)),
        lp.Secret(3, bytes(32)),
        lp.Signature(5, bytes(64)),
        lp.InvoiceSigned(7, "lnbcrt1..."),
        lp.DecisionFrame(
            8,
            "approve",
            "auto_approved",
            "payment",
            bytes(32),
            bytes(32),
            9,
            5,
            bytes(32),
            bytes(64),
        ),
        lp.Error(9, "stale_epoch", "epoch 1 < newest 2"),
        lp.AccountXpub(10, _NODE, 1),
        lp.SignOnchain(11, _NODE, 1, bytes(195), b"", b"psbt\xff\x01\x00"),
        lp.Xpub(10, bytes(78), bytes(4)),
        lp.OnchainSigned(
            11,
            "deny",
            "onchain-no-unknown-outputs",
            "onchain",
            bytes(32),
            bytes(32),
            12,
            psbt=b"",
        ),
        lp.NewChannel(12, _NODE, 1),
        lp.ChannelRequestFrame(13, _NODE, 1, 2, b"\x03" + bytes(8)),
        lp.ChannelKeys(12, 2, b"\x90" + bytes(231)),
        lp.ChannelResult(13, b"\x82"),
        lp.AuthoriseHtlc(14, _NODE, 1, 2, bytes(195), b""),
    ]
    return [f.encode() for f in frames]


def fuzz_one(data: bytes) -> None:
    try:
        frame = lp.decode(data)
    except VajraError:
        return
    if frame.encode() != data:
        raise AssertionError("decoded frame does not re-encode to its input")
