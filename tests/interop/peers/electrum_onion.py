"""Electrum's BOLT 4 code (Debian's python3-electrum 4.3.4, `electrum.lnonion`) as an
independent implementation, for the onion interop test.

Runs under the test bed's Electrum interpreter, not Vajra's: reads one JSON object of
cases on stdin, prints one JSON object of answers on stdout. Every byte string is hex.

    {"build":   [{"session_key", "hops": [[pubkey, payload]], "ad"}],
     "peel":    [{"packet", "ad", "keys": [privkey, ...]}],
     "error":   [{"session_key", "pubkeys", "keys", "ad", "erring", "failure"}],
     "decode":  [{"session_key", "pubkeys", "packet"}]}
"""

from __future__ import annotations

import json
import sys

from electrum.lnonion import (
    OnionHopsDataSingle,
    OnionPacket,
    OnionRoutingFailure,
    construct_onion_error,
    decode_onion_error,
    generate_cipher_stream,
    get_bolt04_onion_key,
    get_shared_secrets_along_route,
    new_onion_packet,
    process_onion_packet,
)
from electrum.util import xor_bytes


def build(case: dict) -> str:
    hops = []
    for _, payload in case["hops"]:
        h = OnionHopsDataSingle(is_tlv_payload=True)
        h._raw_bytes_payload = bytes.fromhex(payload)  # Electrum's own test hook
        hops.append(h)
    pubkeys = [bytes.fromhex(pk) for pk, _ in case["hops"]]
    packet = new_onion_packet(
        pubkeys, bytes.fromhex(case["session_key"]), hops, bytes.fromhex(case["ad"])
    )
    return packet.to_bytes().hex()


def peel(case: dict) -> list[dict]:
    packet = OnionPacket.from_bytes(bytes.fromhex(case["packet"]))
    out = []
    for key in case["keys"]:
        r = process_onion_packet(packet, bytes.fromhex(case["ad"]), bytes.fromhex(key))
        p = r.hop_data.payload
        out.append(
            {
                "final": r.are_we_final,
                "amt_to_forward": p["amt_to_forward"]["amt_to_forward"],
                "outgoing_cltv_value": p["outgoing_cltv_value"]["outgoing_cltv_value"],
                "short_channel_id": p.get("short_channel_id", {})
                .get("short_channel_id", b"")
                .hex(),
                "payment_secret": p.get("payment_data", {}).get("payment_secret", b"").hex(),
            }
        )
        packet = r.next_packet
    return out


def error(case: dict) -> str:
    """Hop `erring` fails with `failure` (Electrum's construct_onion_error); the hops
    before it add their `ammag` layer (Electrum's stream and xor)."""
    ad = bytes.fromhex(case["ad"])
    pubkeys = [bytes.fromhex(k) for k in case["pubkeys"]]
    keys = [bytes.fromhex(k) for k in case["keys"]]
    session = bytes.fromhex(case["session_key"])
    hops = []
    for _ in pubkeys:
        h = OnionHopsDataSingle(is_tlv_payload=True)
        h._raw_bytes_payload = bytes.fromhex("020101040101")
        hops.append(h)
    packet = new_onion_packet(pubkeys, session, hops, ad)
    for _ in range(case["erring"]):
        packet = process_onion_packet(packet, ad, keys.pop(0)).next_packet
    failure = OnionRoutingFailure.from_bytes(bytes.fromhex(case["failure"]))
    err = construct_onion_error(failure, packet, keys[0])
    secrets = get_shared_secrets_along_route(pubkeys, session)
    for ss in reversed(secrets[: case["erring"]]):
        ammag = get_bolt04_onion_key(b"ammag", ss)
        err = xor_bytes(err, generate_cipher_stream(ammag, len(err)))
    return err.hex()


def decode(case: dict) -> dict:
    failure, index = decode_onion_error(
        bytes.fromhex(case["packet"]),
        [bytes.fromhex(k) for k in case["pubkeys"]],
        bytes.fromhex(case["session_key"]),
    )
    return {"index": index, "failure": failure.to_bytes().hex()}


def main() -> None:
    cases = json.load(sys.stdin)
    json.dump(
        {
            "build": [build(c) for c in cases.get("build", [])],
            "peel": [peel(c) for c in cases.get("peel", [])],
            "error": [error(c) for c in cases.get("error", [])],
            "decode": [decode(c) for c in cases.get("decode", [])],
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
