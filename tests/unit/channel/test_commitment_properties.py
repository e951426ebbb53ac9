"""Properties of commitment construction over random channel states: no value created,
the funder pays at least the base fee, every HTLC is an output or trimmed by the rule,
outputs in BOLT 3 order, anchors by the rule, the commitment number recoverable."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.channel.test_bolt3_transactions import KEYS
from vajra.bitcoin.tx import OutPoint
from vajra.channel.commitment import (
    ANCHOR_OUTPUT_SAT,
    Commitment,
    Htlc,
    build_commitment,
    commitment_number_of,
    is_trimmed,
)

htlcs = st.lists(
    st.builds(
        Htlc,
        st.booleans(),
        st.integers(0, 50_000_000),
        st.binary(min_size=32, max_size=32),
        st.integers(0, 1_000_000),
    ),
    max_size=8,
)


def _build(
    hs: list[Htlc],
    to_local_msat: int,
    to_remote_msat: int,
    feerate: int,
    dust: int,
    opener: bool,
    anchors: bool,
    number: int,
    factor: int,
) -> Commitment:
    return build_commitment(
        funding_outpoint=OutPoint(b"\x01" * 32, 0),
        keys=KEYS,
        to_self_delay=144,
        dust_limit_sat=dust,
        feerate_per_kw=feerate,
        to_local_msat=to_local_msat,
        to_remote_msat=to_remote_msat,
        owner_is_opener=opener,
        htlcs=hs,
        commitment_number=number,
        obscuring_factor=factor,
        anchors=anchors,
    )


@settings(max_examples=200, deadline=None)
@given(
    htlcs,
    st.integers(0, 10**10),
    st.integers(0, 10**10),
    st.integers(0, 50_000),
    st.integers(354, 5_000),  # BOLT 2: dust_limit_satoshis is at least 354
    st.booleans(),
    st.booleans(),
    st.integers(0, 2**48 - 1),
    st.integers(0, 2**48 - 1),
)
def test_commitment_invariants(
    hs: list[Htlc],
    to_local_msat: int,
    to_remote_msat: int,
    feerate: int,
    dust: int,
    opener: bool,
    anchors: bool,
    number: int,
    factor: int,
) -> None:
    funder_msat = to_local_msat if opener else to_remote_msat
    if anchors and funder_msat < 2 * ANCHOR_OUTPUT_SAT * 1000:
        with pytest.raises(ValueError):
            _build(
                hs, to_local_msat, to_remote_msat, feerate, dust, opener, anchors, number, factor
            )
        return
    c = _build(hs, to_local_msat, to_remote_msat, feerate, dust, opener, anchors, number, factor)
    funding_sat = (to_local_msat + to_remote_msat + sum(h.amount_msat for h in hs)) // 1000
    total_out = sum(o.amount_sat for o in c.tx.outputs)
    assert total_out <= funding_sat
    charge = c.base_fee_sat + (2 * ANCHOR_OUTPUT_SAT if anchors else 0)
    if funder_msat >= charge * 1000:
        assert funding_sat - total_out >= c.base_fee_sat

    # every HTLC is an output exactly when it is not trimmed
    in_outputs = sorted((o.htlc for o in c.outputs if o.htlc is not None), key=repr)
    expected = sorted(
        (h for h in hs if not is_trimmed(h, dust, feerate, anchors=anchors)), key=repr
    )
    assert in_outputs == expected
    # BOLT 3 order
    keys = [
        (o.txout.amount_sat, o.txout.script_pubkey, o.htlc.cltv_expiry if o.htlc else 0)
        for o in c.outputs
    ]
    assert keys == sorted(keys)
    kinds = [o.kind for o in c.outputs]
    for kind in ("to_local", "to_remote", "local_anchor", "remote_anchor"):
        assert kinds.count(kind) <= 1
    if anchors:
        assert ("local_anchor" in kinds) == ("to_local" in kinds or bool(expected))
        assert ("remote_anchor" in kinds) == ("to_remote" in kinds or bool(expected))
    else:
        assert "local_anchor" not in kinds and "remote_anchor" not in kinds
    for o in c.outputs:
        if o.kind in ("to_local", "to_remote"):
            assert o.txout.amount_sat >= dust
    assert commitment_number_of(c.tx, factor) == number
