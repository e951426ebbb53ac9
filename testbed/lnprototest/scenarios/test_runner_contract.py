"""The Vajra Runner honours lnprototest's Runner contract, checked with scenarios written
the way upstream lnprototest writes them (its tests/test_bolt1-01-init.py and
tests/test_bolt7-20-query_channel_range.py): `ExpectDisconnect` straight after a fatal
message, `has_option` gating `Sequence`s, `Block` events on lnprototest's own chain
(`tx_spendable` spends its block 1), `ExpectTx`, and channel hooks that fail visibly."""

from __future__ import annotations

import functools
import io
import zlib
from typing import Any

import pytest
from lnprototest import (
    Block,
    CheckEq,
    Connect,
    EventError,
    ExpectDisconnect,
    ExpectMsg,
    ExpectTx,
    FundChannel,
    Msg,
    Sequence,
    TryAll,
    bitfield,
    has_bit,
    namespace,
)
from lnprototest.utils import tx_spendable
from vajra_runner import START_HEIGHT, VajraRunner

# lnprototest 0.0.7 lists `regtest_hash` in __all__ but does not define it.
regtest_hash = "06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f"


def _has(bits: list[int], event: Any, msg: Any, runner: Any) -> None:
    for b in bits:
        if not has_bit(msg.fields["features"], b):
            raise EventError(event, f"feature bit {b} not set: {msg.to_str()}")


def _lacks(bits: list[int], event: Any, msg: Any, runner: Any) -> None:
    for b in bits:
        if has_bit(msg.fields["features"], b):
            raise EventError(event, f"feature bit {b} set: {msg.to_str()}")


def test_expect_disconnect_after_warning_then_close(runner: VajraRunner) -> None:
    # BOLT 1 "unknown _even_ feature bits ... MUST close": the node sends a `warning`
    # first; as upstream writes it, ExpectDisconnect follows the fatal message directly.
    runner.run(
        [
            Connect(connprivkey="03"),
            ExpectMsg("init"),
            Msg("init", globalfeatures="", features=bitfield(98)),
            ExpectDisconnect(),
        ]
    )


def test_expect_disconnect_fails_when_the_node_stays(runner: VajraRunner) -> None:
    with pytest.raises(EventError, match="did not disconnect"):
        runner.run(
            [
                Connect(connprivkey="03"),
                ExpectMsg("init"),
                Msg("init", globalfeatures="", features=""),
                ExpectDisconnect(),
            ]
        )


def test_has_option_answers_for_advertised_features(runner: VajraRunner) -> None:
    runner.start()  # the ready line carries the advertised features
    assert runner.has_option("var_onion_optin") == "even"
    assert runner.has_option("option_var_onion_optin") == "even"  # c-lightning's name
    assert runner.has_option("gossip_queries") == "odd"
    assert runner.has_option("option_gossip_queries") == "odd"
    assert runner.has_option("option_data_loss_protect") == "odd"
    assert runner.has_option("option_channel_type") == "odd"
    assert runner.has_option("option_anchors") is None
    assert runner.has_option("option_anchor_outputs") is None
    runner.stop()
    # Upstream's pattern: what has_option says must be what init shows.
    dlp = runner.has_option("option_data_loss_protect")
    runner.run(
        [
            Connect(connprivkey="02"),
            TryAll(
                Sequence(
                    [ExpectMsg("init", if_match=functools.partial(_has, [1]))],
                    enable=dlp == "odd",
                ),
                Sequence(
                    [ExpectMsg("init", if_match=functools.partial(_has, [0]))],
                    enable=dlp == "even",
                ),
                # Not supported: asking for it is fine, requiring it is refused.
                Sequence(
                    [
                        ExpectMsg("init", if_match=functools.partial(_lacks, [20, 21])),
                        Msg("init", globalfeatures="", features=bitfield(20)),
                        ExpectDisconnect(),
                    ],
                    enable=runner.has_option("option_anchor_outputs") is None,
                ),
            ),
        ]
    )


def _scids(runner: Any, event: Any, field: str) -> str:
    encoded = bytes.fromhex(runner.get_stash(event, "ExpectMsg")[-1][1]["encoded_short_ids"])
    raw = encoded[1:] if encoded[0] == 0 else zlib.decompress(encoded[1:])
    scidtype = namespace().get_fundamentaltype("short_channel_id")
    buf, out = io.BytesIO(raw), []
    while (scid := scidtype.read(buf, {})) is not None:
        out.append(scidtype.val_to_str(scid, {}))
    return ",".join(out)


def test_blocks_on_lnprototest_chain(runner: VajraRunner) -> None:
    # As test_bolt7-20-query_channel_range.py starts: blocks on lnprototest's chain
    # (height 101, `tx_spendable` spends the coinbase of its block 1).
    heights: list[int] = []
    mined: list[str] = []

    def height(runner: Any, event: Any, field: str) -> str:
        heights.append(runner.getblockheight())
        block = runner.chain.call("getblock", runner.chain.call("getblockhash", 102), 1)
        txid = runner.chain.call("decoderawtransaction", tx_spendable)["txid"]
        mined.extend(t for t in block["tx"] if t == txid)
        return ""

    runner.run(
        [
            Block(blockheight=102, txs=[tx_spendable]),
            Block(blockheight=103, number=6),
            CheckEq(height, ""),
            Block(blockheight=103),  # replaces 103..108: trim_blocks, then one block
            CheckEq(height, ""),
        ]
    )
    assert heights == [108, 103]
    # `tx_spendable` was mined in block 102, which the trim kept.
    assert len(mined) == 2


def test_gossip_query_after_blocks(runner: VajraRunner) -> None:
    runner.start()
    hosted = "workers" in runner.info
    runner.stop()
    if not hosted:
        pytest.skip("the protocol core alone answers no gossip query (the runtime does)")
    # test_bolt7-20-query_channel_range.py's empty-range case, on a sleeping node.
    runner.run(
        [
            Block(blockheight=102, txs=[tx_spendable]),
            Connect(connprivkey="05"),
            ExpectMsg("init"),
            Msg("init", globalfeatures="", features=bitfield(7)),
            Msg(
                "query_channel_range",
                chain_hash=regtest_hash,
                first_blocknum=0,
                number_of_blocks=103,
            ),
            ExpectMsg(
                "reply_channel_range",
                chain_hash=regtest_hash,
                first_blocknum=0,
                number_of_blocks=103,
            ),
            CheckEq(_scids, ""),
        ]
    )


def test_restart_resets_the_chain(runner: VajraRunner) -> None:
    # TryAll runs each branch after a `restart`: the chain the first branch moved is
    # back at lnprototest's height 101 for the second (as its bitcoind backend does).
    heights: list[int] = []

    def height(runner: Any, event: Any, field: str) -> str:
        heights.append(runner.getblockheight())
        return ""

    runner.run(TryAll([Block(blockheight=102), CheckEq(height, "")], [CheckEq(height, "")]))
    assert heights == [102, START_HEIGHT]


def test_expect_tx_fails_when_nothing_is_broadcast(runner: VajraRunner) -> None:
    with pytest.raises(EventError, match="Did not broadcast"):
        runner.run([Block(blockheight=102), ExpectTx("00" * 32)])


def test_channel_hooks_raise_a_visible_not_supported_error(runner: VajraRunner) -> None:
    with pytest.raises(EventError, match="fundchannel needs a channel"):
        runner.run(
            [
                Connect(connprivkey="02"),
                ExpectMsg("init"),
                Msg("init", globalfeatures="", features=""),
                FundChannel(amount=999877),
            ]
        )
    with pytest.raises(EventError, match="close_channel needs a channel"):
        runner.close_channel("00" * 32)
