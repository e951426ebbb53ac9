"""The BOLT 4 test vectors, read from ../shared/specs (never retyped).

- `bolt04/onion-test.json`: a 5-hop onion (session key, associated data, per-hop node ids
  and length-prefixed payloads), the resulting packet, and the hops' private keys.
- `bolt04/onion-error-test.json`: the same route's shared secrets, `um`/`ammag` keys, a
  `temporary_node_failure` from hop 4 and the packet the origin receives.
- `04-onion-routing.md` "Test Vector / Returning Errors": an
  `incorrect_or_unknown_payment_details` with a 300-byte TLV from hop 4, padded to 1024,
  traced through every hop back (the `attribution_data` lines are not used: we do not
  implement `option_attribution_data`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from tests.specs import spec_path
from vajra.wire.primitives import read_bigsize

ONION_TEST = spec_path("bolts/bolt04/onion-test.json")
ERROR_TEST = spec_path("bolts/bolt04/onion-error-test.json")
BOLT4 = spec_path("bolts/04-onion-routing.md")


def _json(path: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@dataclass(frozen=True)
class OnionVector:
    session_key: bytes
    associated_data: bytes
    hops: list[tuple[bytes, bytes]]  # (node id, payload without its length prefix)
    onion: bytes
    private_keys: list[bytes]


def onion_vector() -> OnionVector:
    d = _json(ONION_TEST)
    g = d["generate"]
    hops = []
    for h in g["hops"]:
        raw = bytes.fromhex(h["payload"])
        n, p = read_bigsize(raw, 0, len(raw))  # "All the payloads already have the length"
        assert p + n == len(raw)
        hops.append((bytes.fromhex(h["pubkey"]), raw[p:]))
    return OnionVector(
        bytes.fromhex(g["session_key"]),
        bytes.fromhex(g["associated_data"]),
        hops,
        bytes.fromhex(d["onion"]),
        [bytes.fromhex(k) for k in d["decode"]],
    )


@dataclass(frozen=True)
class ErrorVector:
    session_key: bytes
    failure_message: bytes
    node_ids: list[bytes]
    shared_secrets: list[bytes]
    ammag_keys: list[bytes]
    um_key: bytes
    erring_payload: bytes  # failure_len || failuremsg || pad_len || pad (no HMAC)
    error_packet: bytes


def error_vector() -> ErrorVector:
    d = _json(ERROR_TEST)
    g = d["generate"]
    hops = g["hops"]
    return ErrorVector(
        bytes.fromhex(g["session_key"]),
        bytes.fromhex(g["failure_message"]),
        [bytes.fromhex(h["pubkey"]) for h in hops],
        [bytes.fromhex(h["hop_shared_secret"]) for h in hops],
        [bytes.fromhex(h["ammag_key"]) for h in hops],
        bytes.fromhex(hops[-1]["um_key"]),
        bytes.fromhex(hops[-1]["payload"]),
        bytes.fromhex(d["errorpacket"]),
    )


@dataclass(frozen=True)
class ForwardStep:
    shared_secret: bytes
    ammag_key: bytes
    stream: bytes
    node: int
    packet: bytes  # "error packet for node N"


@dataclass(frozen=True)
class MarkdownErrorVector:
    htlc_msat: int
    height: int
    tlv_type: int
    tlv_value: bytes
    encoded_failure_message: bytes
    shared_secret: bytes
    payload: bytes
    um_key: bytes
    raw_error_packet: bytes
    steps: list[ForwardStep]


_HEX = re.compile(r"^\s*([a-z_ 0-9]+?)\s*[=:]\s*([0-9a-f]{20,})\s*$", re.M)


def markdown_error_vector() -> MarkdownErrorVector:
    text = BOLT4.read_text()
    sec = text[text.index("# Test Vector") : text.index("## Returning success")]
    params = dict(re.findall(r"^\s*(htlc_msat|height|type)\s*=\s*(\d+)\s*$", sec, re.M))
    value = re.search(r"value\s*=\s*\[(\d+), \d+, \.\.\., \d+\]\s*\((\d+) bytes\)", sec)
    assert value is not None, "tlv value line not found"
    pairs = [(k, bytes.fromhex(v)) for k, v in _HEX.findall(sec)]
    # The trace: the erring node's lines, then one block per hop back, each opened by
    # its `shared_secret` line (the first block repeats the erring node's secret).
    first_step = next(i for i, (k, _) in enumerate(pairs) if k == "ammag_key") - 1
    head = dict(pairs[:first_step])
    blocks: list[dict[str, bytes]] = []
    for k, v in pairs[first_step:]:
        if k == "shared_secret":
            blocks.append({})
        blocks[-1][k] = v
    steps: list[ForwardStep] = []
    for block in blocks:
        node_key = next(k for k in block if k.startswith("error packet for node"))
        steps.append(
            ForwardStep(
                block["shared_secret"],
                block["ammag_key"],
                block["stream"],
                int(node_key.rsplit(" ", 1)[1]),
                block[node_key],
            )
        )
    return MarkdownErrorVector(
        int(params["htlc_msat"]),
        int(params["height"]),
        int(params["type"]),
        bytes([int(value.group(1))]) * int(value.group(2)),
        head["encoded_failure_message"],
        head["shared_secret"],
        head["payload"],
        head["um_key"],
        head["raw_error_packet"],
        steps,
    )
