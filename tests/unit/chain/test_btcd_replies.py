"""The btcd source on arbitrary JSON replies (hypothesis): every call either returns or
raises a `ChainError`, and well-formed replies decode as btcd means them."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.targets.chain_rpc import _calls, _Replay, fuzz_one
from vajra.chain.btcd import decode_batch
from vajra.chain.types import ChainError, ChainRpcError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=70),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["id", "result", "error", "code", "message", "blocks", "bestblockhash"]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(0, 9))
def test_any_json_reply_is_a_value_or_a_chain_error(reply: Any, which: int) -> None:
    src = _Replay(json.dumps(reply).encode())
    with contextlib.suppress(ChainError):
        _calls(src)[which]()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_reply_is_handled(data: bytes) -> None:
    fuzz_one(data)


def test_a_batch_answers_each_id_once() -> None:
    ok = [{"id": 11, "result": "b"}, {"id": 10, "result": "a"}]
    assert decode_batch("m", ok, 10, 2) == ["a", "b"]
    err = decode_batch("m", [{"id": 10, "error": {"code": -1, "message": "x"}}], 10, 1)[0]
    assert isinstance(err, ChainRpcError) and err.code == -1
    for bad in ([{"id": 10}, {"id": 10}], [{"id": 12}, {"id": 10}], [{"id": True}] * 2, {}):
        try:
            decode_batch("m", bad, 10, 2)
        except ChainError:
            continue
        raise AssertionError(f"accepted {bad}")
