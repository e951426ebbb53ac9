"""BOLT 9 features: our table against the spec's, vectors, dependencies, our own set."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.wire.vectors import spec_text
from vajra.wire import features as F


def spec_table() -> list[tuple[int, str, str, str, bool]]:
    """(even bit, name, context, dependencies, assumed) for each row of the BOLT 9 table."""
    rows = []
    for line in spec_text("09-features.md").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not re.fullmatch(r"\d+/\d+", cells[0]):
            continue
        even, odd = (int(x) for x in cells[0].split("/"))
        assert odd == even + 1 and even % 2 == 0
        deps = ",".join(re.findall(r"`(\w+)`", cells[4]))
        rows.append((even, cells[1].strip("`"), cells[3], deps, cells[2] == "ASSUMED"))
    return rows


def test_table_matches_spec() -> None:
    ours = [
        (
            f.bit,
            f.name,
            "".join(sorted(c for c in f.contexts if len(c) == 1))
            + "".join(sorted(c for c in f.contexts if len(c) == 2)),
            ",".join(f.depends),
            f.assumed,
        )
        for f in F.FEATURES
    ]

    def norm(ctx: str) -> str:
        two = re.findall(r"C[-+]", ctx)
        one = re.sub(r"C[-+]", "", ctx)
        return "".join(sorted(one)) + "".join(sorted(two))

    spec = [(b, n, norm(c), d, a) for b, n, c, d, a in spec_table()]
    assert len(spec) == 23
    assert ours == spec


def test_contexts_listed_in_spec_legend() -> None:
    legend = set(re.findall(r"^\* `([^`]+)`:", spec_text("09-features.md"), re.M))
    assert legend == {"I", "N", "C", "C-", "C+", "9", "B", "T"}
    for f in F.FEATURES:
        assert f.contexts <= legend


@given(st.sets(st.integers(0, 300)))
def test_bit_vector_round_trip(bits: set[int]) -> None:
    data = F.bits_to_bytes(bits)
    assert F.bits_from_bytes(data) == bits
    # BOLT 1: "SHOULD use the minimum length required to represent the features field".
    assert data == b"" or data[0] != 0


def test_bit_numbering() -> None:
    assert F.bits_to_bytes({0}) == b"\x01"
    assert F.bits_to_bytes({8}) == b"\x01\x00"
    assert F.bits_from_bytes(b"\x02\x00") == {9}
    assert F.bits_from_bytes(b"\x00\x00\x01") == {0}  # leading zero bytes are padding
    assert F.combine_init(b"\x01", b"\x02\x00") == {0, 9}


def test_unknown_required() -> None:
    known = {F.BY_NAME["var_onion_optin"].bit + 1, F.BY_NAME["payment_secret"].bit}
    assert F.unknown_required({8, 15, 100, 101, 103}, known) == {100}
    # Odd unknown bits are never a problem ("it's OK to be odd").
    assert F.unknown_required({1001, 999}, set()) == frozenset()
    assert F.unknown_required(F.our_bits(F.INIT)) == frozenset()


def test_dependencies() -> None:
    assert F.missing_dependencies(frozenset({17})) == [("basic_mpp", "payment_secret")]
    assert F.missing_dependencies(frozenset({17, 15})) == []
    assert F.missing_dependencies(frozenset({51})) == [("option_zeroconf", "option_scid_alias")]
    assert F.missing_dependencies(frozenset({61})) == [
        ("option_simple_close", "option_shutdown_anysegwit")
    ]
    with pytest.raises(F.FeatureError):
        F.check_peer_features(frozenset({17}))
    with pytest.raises(F.FeatureError):
        F.check_peer_features(frozenset({200}))
    F.check_peer_features(frozenset({201, 8, 13}))


def test_our_features_obey_bolt9() -> None:
    init = F.our_bits(F.INIT)
    # "MUST NOT set both the optional and mandatory bits".
    assert not any(b & ~1 in init and b | 1 in init for b in init)
    # "MUST set all transitive feature dependencies".
    assert F.missing_dependencies(init) == []
    # "MUST support: var_onion_optin".
    assert F.has(init, "var_onion_optin")
    # Only in contexts BOLT 9 (or the earlier revisions peers still follow) allows.
    assert F.out_of_context(init, F.INIT) == frozenset()
    assert F.out_of_context(F.our_bits(F.NODE), F.NODE) == frozenset()
    # Only what BOLT 9 says every node MUST support is required (see OUR_FEATURES).
    assert {b for b in init if b % 2 == 0} == {F.BY_NAME["var_onion_optin"].bit}
    assert F.has(init, "option_channel_type") and not F.requires(init, "option_channel_type")
    assert F.init_features() == F.bits_to_bytes(init)
    assert F.node_features() == F.bits_to_bytes(F.our_bits(F.NODE))


def test_electrum_434_feature_sets_accept_ours() -> None:
    """Electrum 4.3.4's LNWALLET_FEATURES / LNGOSSIP_FEATURES (lnworker.py), copied as
    the hex its `ln_compare_features` sees: each of our required bits must be offered by
    them (either bit), or Electrum closes ("remote wanted feature we don't have")."""
    for theirs in (0x8000000000000000000000000020000802B263, 0xA2E2):
        their_bits = F.bits_from_bytes(theirs.to_bytes(20, "big"))
        for b in F.our_bits(F.INIT):
            if b % 2 == 0:
                assert b in their_bits or b + 1 in their_bits, (hex(theirs), b)


def test_refusal_names_known_bits() -> None:
    with pytest.raises(
        F.FeatureError,
        match=r"unsupported .*\[20, 22\] \(option_anchor_outputs, option_anchors\); unknown .*\[200\]",
    ):
        F.check_peer_features(frozenset({8, 20, 22, 200}))
    assert F.feature_name(21) == "option_anchor_outputs" and F.feature_name(300) is None


def test_out_of_context() -> None:
    pm = F.BY_NAME["option_payment_metadata"].bit + 1
    assert F.out_of_context(frozenset({pm}), F.INIT) == {pm}
    assert F.out_of_context(frozenset({pm}), F.INVOICE) == frozenset()
    assert F.out_of_context(frozenset({999}), F.INIT) == frozenset()  # unknown: not ours to judge


def test_advertised_names_our_init_bits() -> None:
    adv = F.advertised()
    assert adv["var_onion_optin"] == "even" and adv["option_channel_type"] == "odd"
    bits = {F.BY_NAME[n].bit + (1 if v == "odd" else 0) for n, v in adv.items()}
    assert bits == F.our_bits(F.INIT)
