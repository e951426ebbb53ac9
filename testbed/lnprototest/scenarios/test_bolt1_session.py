"""BOLT 1 scenarios in lnprototest's event language: init and feature negotiation,
unknown odd/even messages, ping/pong rules. Each cites the requirement it checks."""

from __future__ import annotations

from lnprototest import (
    Connect,
    ExpectDisconnect,
    ExpectMsg,
    Msg,
    RawMsg,
    bitfield,
)
from vajra_runner import VajraRunner

REGTEST = "06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f"
MAINNET = "6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000"


def _init_raw(features: bytes = b"", chains: list[str] | None = None) -> bytes:
    out = (16).to_bytes(2, "big") + b"\x00\x00" + len(features).to_bytes(2, "big") + features
    if chains is not None:
        data = b"".join(bytes.fromhex(c) for c in chains)
        out += b"\x01" + bytes([len(data)]) + data
    return out


def _handshake() -> list:
    # BOLT 1: "MUST send `init` as the first Lightning message for any connection".
    return [
        Connect(connprivkey="02"),
        ExpectMsg("init"),
        Msg("init", globalfeatures="", features=""),
    ]


def _pong_check(n: int = 3) -> list:
    # BOLT 1: num_pong_bytes < 65532 -> "MUST respond ... with byteslen equal to
    # num_pong_bytes".
    return [Msg("ping", num_pong_bytes=n, ignored=""), ExpectMsg("pong", ignored="00" * n)]


def _refused() -> list:
    # We explain a fatal rule with a BOLT 1 `warning`, then close.
    return [ExpectMsg("warning", ignore=ExpectMsg.ignore_all_gossip), ExpectDisconnect()]


def test_init_then_ping_pong(runner: VajraRunner) -> None:
    runner.run([*_handshake(), *_pong_check(0), *_pong_check(7)])


def test_init_advertises_networks_and_features(runner: VajraRunner) -> None:
    def check(event, msg, runner) -> None:  # type: ignore[no-untyped-def]
        # BOLT 1: "SHOULD set `networks` to all chains it will gossip or open channels for".
        nets = msg.fields["tlvs"]["networks"]["chains"]
        assert [c.hex() if isinstance(c, bytes) else str(c) for c in nets] == [REGTEST]

    runner.run([Connect(connprivkey="02"), ExpectMsg("init", if_match=check)])


def test_unknown_odd_feature_is_ignored(runner: VajraRunner) -> None:
    # BOLT 1: "upon receiving unknown _odd_ feature bits that are non-zero: MUST ignore".
    runner.run(
        [
            Connect(connprivkey="02"),
            ExpectMsg("init"),
            Msg("init", globalfeatures="", features=bitfield(99)),
            *_pong_check(),
        ]
    )


def test_unknown_even_feature_closes(runner: VajraRunner) -> None:
    # BOLT 1: "upon receiving unknown _even_ feature bits that are non-zero: MUST close".
    runner.run(
        [
            Connect(connprivkey="02"),
            ExpectMsg("init"),
            Msg("init", globalfeatures="", features=bitfield(98)),
            *_refused(),
        ]
    )


def test_unknown_even_global_feature_closes(runner: VajraRunner) -> None:
    # BOLT 1: "MUST combine (bitwise OR) the two feature bitmaps".
    runner.run(
        [
            Connect(connprivkey="02"),
            ExpectMsg("init"),
            Msg("init", globalfeatures=bitfield(12 + 100), features=""),
            *_refused(),
        ]
    )


def test_missing_feature_dependency_closes(runner: VajraRunner) -> None:
    # BOLT 1: "if the feature vector does not set all known, transitive dependencies:
    # MUST close the connection" -- option_zeroconf (51) needs option_scid_alias (46/47).
    # (Dependencies on ASSUMED features such as var_onion_optin are always met.)
    runner.run(
        [
            Connect(connprivkey="02"),
            ExpectMsg("init"),
            Msg("init", globalfeatures="", features=bitfield(51)),
            *_refused(),
        ]
    )


def test_networks_without_common_chain_closes(runner: VajraRunner) -> None:
    # BOLT 1: "upon receiving `networks` containing no common chains: MAY close".
    runner.run(
        [
            Connect(connprivkey="02"),
            ExpectMsg("init"),
            RawMsg(_init_raw(chains=[MAINNET])),
            *_refused(),
        ]
    )


def test_networks_with_our_chain_accepted(runner: VajraRunner) -> None:
    runner.run(
        [
            Connect(connprivkey="02"),
            ExpectMsg("init"),
            RawMsg(_init_raw(chains=[MAINNET, REGTEST])),
            *_pong_check(),
        ]
    )


def test_first_message_must_be_init(runner: VajraRunner) -> None:
    # BOLT 1: the sender "MUST send `init` as the first Lightning message".
    runner.run(
        [
            Connect(connprivkey="02"),
            ExpectMsg("init"),
            Msg("ping", num_pong_bytes=1, ignored=""),
            *_refused(),
        ]
    )


def test_unknown_odd_message_is_ignored(runner: VajraRunner) -> None:
    # BOLT 1: "upon receiving a message of odd, unknown type: MUST ignore".
    runner.run([*_handshake(), RawMsg((32769).to_bytes(2, "big") + b"hello"), *_pong_check()])


def test_unknown_even_message_closes(runner: VajraRunner) -> None:
    # BOLT 1: "upon receiving a message of even, unknown type: MUST close the connection".
    runner.run([*_handshake(), RawMsg((32768).to_bytes(2, "big") + b"hello"), *_refused()])


def test_no_pong_for_65532_or_more(runner: VajraRunner) -> None:
    # BOLT 1: num_pong_bytes not less than 65532 -> "MUST ignore the `ping`". The next
    # pong must be the one for the following ping.
    runner.run(
        [
            *_handshake(),
            Msg("ping", num_pong_bytes=65532, ignored=""),
            Msg("ping", num_pong_bytes=65535, ignored=""),
            *_pong_check(2),
        ]
    )


def test_largest_pong(runner: VajraRunner) -> None:
    # 65531 is the largest byteslen that fits a message (BOLT 1 rationale).
    runner.run([*_handshake(), *_pong_check(65531)])


def test_pong_without_ping_closes(runner: VajraRunner) -> None:
    # BOLT 1: pong whose byteslen matches no ping sent -> "MAY close the connection".
    runner.run([*_handshake(), Msg("pong", ignored="0000"), *_refused()])
