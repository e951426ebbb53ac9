"""Hop payloads for a route: the BOLT 7 "Routing Example" read from the spec, and a
property: every forwarding hop, peeling a real onion, finds its fee and CLTV delta."""

from __future__ import annotations

import re
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.specs import spec_path
from vajra.crypto.secp256k1 import PrivateKey
from vajra.onion import HopPayload, peel
from vajra.onion.route import FinalTerms, RouteHop, build_payment_onion, route_payloads

BOLT7 = spec_path("bolts/07-routing-gossip.md")
HEIGHT = 700_000
KEYS = {name: PrivateKey(bytes([i + 1]) * 32) for i, name in enumerate("ABCD")}


def _example() -> tuple[dict[str, tuple[int, int, int]], int, int, int, list[dict[str, object]]]:
    text = BOLT7.read_text()
    sec = text[text.index("### Routing Example") :]
    updates = {
        a + b: (int(d), int(base), int(ppm))
        for a, b, d, base, ppm in re.findall(
            r"1\. (\w)->(\w): `cltv_expiry_delta` = (\d+), `fee_base_msat` = (\d+), "
            r"`fee_proportional_millionths` = (\d+)",
            sec,
        )
    }
    min_final = re.search(r"`min_final_cltv_expiry_delta` of (\d+)", sec)
    shadow = re.search(r"extra\s+CLTV of (\d+)", sec)
    amount = re.search(r"send ([\d,]+) millisatoshi directly", sec)
    assert min_final and shadow and amount, "routing example text changed"
    cases = []
    for m in re.finditer(r"\*\*([A-D](?:->[A-D])+)\.\*\*(.*?)(?=\*\*[A-D]->|\Z)", sec, re.S):
        body = m.group(2)
        sent = re.search(r"`amount_msat`: (\d+)", body)
        cltv = re.search(r"`cltv_expiry`: current-block-height((?: \+ \d+)+)", body)
        fwd = re.search(r"`amt_to_forward` = (\d+)", body)
        out = re.search(r"`outgoing_cltv_value` = current-block-height((?: \+ \d+)+)", body)
        assert sent and cltv and fwd and out, m.group(1)
        cases.append(
            {
                "path": m.group(1).split("->"),
                "amount_msat": int(sent.group(1)),
                "cltv_add": sum(int(x) for x in re.findall(r"\d+", cltv.group(1))),
                "amt_to_forward": int(fwd.group(1)),
                "outgoing_add": sum(int(x) for x in re.findall(r"\d+", out.group(1))),
            }
        )
    return (
        updates,
        int(min_final.group(1)),
        int(shadow.group(1)),
        int(amount.group(1).replace(",", "")),
        cases,
    )


def test_bolt7_routing_example() -> None:
    updates, min_final, shadow, amount, cases = _example()
    assert len(cases) == 3 and len(updates) == 8
    for case in cases:
        path = case["path"]
        assert isinstance(path, list)
        hops = []
        for i, (a, b) in enumerate(pairwise(path)):
            delta, base, ppm = updates[a + b]
            hops.append(RouteHop(KEYS[b].pubkey, i + 1, base, ppm, delta))
        final = FinalTerms(amount, HEIGHT + min_final + shadow, payment_secret=bytes(32))
        rp = route_payloads(hops, final)
        assert rp.amount_msat == case["amount_msat"], path
        assert rp.cltv_expiry == HEIGHT + case["cltv_add"], path
        first = rp.payloads[0]
        assert first.amt_to_forward == case["amt_to_forward"]
        assert first.outgoing_cltv_value == HEIGHT + case["outgoing_add"]
        assert rp.fee_msat == rp.amount_msat - amount


policies = st.tuples(st.integers(0, 5000), st.integers(0, 10_000), st.integers(0, 200))


@settings(max_examples=40)
@given(st.lists(policies, min_size=1, max_size=12), st.integers(1, 10**12))
def test_each_hop_finds_its_fee_and_delta(route: list[tuple[int, int, int]], amount: int) -> None:
    keys = [PrivateKey((i + 7).to_bytes(32, "big")) for i in range(len(route))]
    hops = [
        RouteHop(k.pubkey, 1000 + i, base, ppm, delta)
        for i, (k, (base, ppm, delta)) in enumerate(zip(keys, route, strict=True))
    ]
    final = FinalTerms(amount, HEIGHT + 18, payment_secret=bytes([3]) * 32)
    payment_hash = bytes([9]) * 32
    onion, rp = build_payment_onion(bytes([5]) * 32, hops, final, payment_hash)
    packet, incoming, expiry = onion.packet, rp.amount_msat, rp.cltv_expiry
    for i, key in enumerate(keys):
        peeled = peel(packet, payment_hash, key.ecdh)
        payload = HopPayload.decode(peeled.payload)
        assert payload.amt_to_forward is not None and payload.outgoing_cltv_value is not None
        if peeled.next_packet is None:
            assert i == len(keys) - 1
            assert (payload.amt_to_forward, payload.outgoing_cltv_value) == (amount, HEIGHT + 18)
            assert payload.total_msat == amount and incoming == amount and expiry == HEIGHT + 18
            break
        out = hops[i + 1]
        assert payload.short_channel_id == out.short_channel_id
        # BOLT 4 forwarding rules hold with equality: fee and delta are exactly the policy.
        assert incoming - payload.amt_to_forward == out.fee_msat(payload.amt_to_forward)
        assert expiry - payload.outgoing_cltv_value == out.cltv_expiry_delta
        packet, incoming, expiry = (
            peeled.next_packet,
            payload.amt_to_forward,
            payload.outgoing_cltv_value,
        )
