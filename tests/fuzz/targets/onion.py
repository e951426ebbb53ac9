"""Fuzz target: BOLT 4 onions, hop payloads, failure messages and failure packets.

The first byte picks the decoder for the rest:

0. `peel` of a 1366-byte packet with the vector's first hop key (a forged HMAC is rare,
   so this mostly covers the version/key/HMAC gate);
1. `HopPayload.decode`: a payload that decodes re-encodes to exactly the input;
2. `FailureMessage.decode`: one that re-encodes decodes to itself;
3. `decode_failure_packet` against the vector route's shared secrets;
4. the input as the final hop's payload of a real onion (built here, so the HMAC is good),
   through `receive_htlc`: every outcome is Accept, Fail or Malformed, never an exception.

Only `VajraError`s are expected; anything else escapes and is a crash.
"""

from __future__ import annotations

import json

from tests.specs import spec_path
from vajra.crypto.secp256k1 import PrivateKey
from vajra.errors import VajraError
from vajra.onion import (
    Accept,
    Fail,
    FailureMessage,
    HopPayload,
    IncomingHtlc,
    InvoiceTerms,
    Malformed,
    create_onion,
    decode_failure_packet,
    peel,
    receive_htlc,
)
from vajra.wire.primitives import read_bigsize

_ONION = json.loads(spec_path("bolts/bolt04/onion-test.json").read_text())
_ERROR = json.loads(spec_path("bolts/bolt04/onion-error-test.json").read_text())
_AD = bytes.fromhex(_ONION["generate"]["associated_data"])
_HOP0 = PrivateKey(bytes.fromhex(_ONION["decode"][0]))
_SECRETS = [bytes.fromhex(h["hop_shared_secret"]) for h in _ERROR["generate"]["hops"]]
_NODE = PrivateKey(bytes([0x22]) * 32)
_SESSION = bytes([0x44]) * 32
_INVOICE = InvoiceTerms(_AD, bytes(32), 1000, 0, 3600)


def _vector_payloads() -> list[bytes]:
    out = []
    for h in _ONION["generate"]["hops"]:
        raw = bytes.fromhex(h["payload"])
        n, p = read_bigsize(raw, 0, len(raw))
        out.append(raw[p : p + n])
    return out


def seeds() -> list[bytes]:
    failures = [
        bytes.fromhex(_ERROR["generate"]["failure_message"]),
        bytes.fromhex("400f0000000000000064000c3500"),
        bytes.fromhex("10070000"),
    ]
    return [
        b"\x00" + bytes.fromhex(_ONION["onion"]),
        *(b"\x01" + p for p in _vector_payloads()),
        *(b"\x02" + f for f in failures),
        b"\x03" + bytes.fromhex(_ERROR["errorpacket"]),
        *(b"\x04" + p for p in _vector_payloads()),
    ]


def fuzz_one(data: bytes) -> None:
    if not data:
        return
    mode, body = data[0] % 5, data[1:]
    try:
        if mode == 0:
            # Short inputs are zero-padded to a packet's size so they reach the key and
            # HMAC checks; longer ones keep testing the size check.
            peeled = peel(body.ljust(1366, b"\x00"), _AD, _HOP0.ecdh)
            assert len(peeled.payload) >= 2
            assert peeled.next_packet is None or len(peeled.next_packet) == 1366
        elif mode == 1:
            if HopPayload.decode(body).encode() != body:
                raise AssertionError("re-encoding a hop payload changed the bytes")
        elif mode == 2:
            msg = FailureMessage.decode(body)
            if FailureMessage.decode(msg.encode()) != msg:
                raise AssertionError("failure message does not survive a round trip")
        elif mode == 3:
            decode_failure_packet(_SECRETS, body)
        else:
            _final_hop(body)
    except VajraError:
        return


def _final_hop(payload: bytes) -> None:
    if len(payload) < 2 or len(payload) > 1300 - 3 - 32:
        return
    onion = create_onion(_SESSION, [(_NODE.pubkey, payload)], _AD)
    htlc = IncomingHtlc(_AD, 1000, 800_100, onion.packet)
    out = receive_htlc(htlc, _NODE.ecdh, {_AD: _INVOICE}.get, height=800_000, now=1000)
    assert isinstance(out, Accept | Fail | Malformed)
    if isinstance(out, Fail):
        out.packet()
