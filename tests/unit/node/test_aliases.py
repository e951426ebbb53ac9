"""Our scid aliases (BOLT 2 channel_ready): one per channel index, never a real scid."""

from __future__ import annotations

import pytest

from vajra.node.aliases import ALIAS_BLOCK_BASE, scid_alias
from vajra.wire import features as feat


def test_aliases_are_distinct_and_far_above_real_blocks() -> None:
    seen = {scid_alias(i) for i in range(70_000)}  # past one output field's 16 bits
    assert len(seen) == 70_000
    assert all(a >> 40 == ALIAS_BLOCK_BASE for a in seen)
    assert all(a < 1 << 64 for a in seen)


def test_alias_index_out_of_range() -> None:
    with pytest.raises(ValueError):
        scid_alias(-1)
    with pytest.raises(ValueError):
        scid_alias(1 << 40)


def test_we_offer_scid_alias_so_we_owe_an_alias() -> None:
    # BOLT 2: with option_scid_alias negotiated the sender MUST set the alias; the
    # node's channel book passes scid_alias(index) in both roles because of this bit.
    assert feat.advertised()["option_scid_alias"] == "odd"
