"""Fuzz the btcd chain source's reply handling (`vajra.chain.btcd`): any bytes as the body
of the reply to any `ChainSource` call. The source is chain input: only `ChainError`
(a `VajraError`) may come out.

The first input byte picks the call; the rest is the HTTP body the node "sent".
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from vajra.chain.btcd import BtcdSource, parse_json
from vajra.chain.types import ChainError

_H1, _H2 = b"\x11" * 32, b"\x22" * 32


class _Replay(BtcdSource):
    """A source whose every reply is the fuzz input (batch ids start at 0)."""

    def __init__(self, body: bytes) -> None:
        super().__init__("127.0.0.1", 1, "u", "p", tls=False)
        self.body = body
        self._ids = itertools.count(0)

    def _post(self, body: bytes) -> Any:
        return parse_json(self.body, self.name)


def _calls(s: _Replay) -> tuple[Callable[[], object], ...]:
    return (
        s.tip,
        lambda: s.block_hash(7),
        lambda: s.block_hashes([1, 2, 3]),
        lambda: s.block(_H1),
        lambda: s.blocks([_H1, _H2]),
        s.mempool_txids,
        lambda: s.raw_transaction(_H2),
        lambda: s.raw_transactions([_H1, _H2]),
        lambda: s.broadcast(b"\x02\x00\x00\x00" + b"\x00" * 6),
        lambda: s.estimate_fee(6),
    )


def fuzz_one(data: bytes) -> None:
    if not data:
        return
    src = _Replay(data[1:])
    calls = _calls(src)
    try:
        calls[data[0] % len(calls)]()
    except ChainError:
        return
