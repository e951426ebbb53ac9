"""`vajra node ID ...` errors as a user meets them: one line without --json, a JSON object
on stderr with --json, non-zero exit; the device checks the address before signing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vajra.cli import main

NODE = "02" + "11" * 32


def test_no_runtime_is_a_json_error_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "store.db")
    assert main(["node", NODE, "balance", "--store", store, "--json"]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert json.loads(out.err)["error"] == "no_runtime"
    assert main(["node", NODE, "balance", "--store", store]) == 1
    assert capsys.readouterr().err.startswith("error: no_runtime: no runtime is running on")


def test_send_refuses_a_bad_address_before_any_device_signs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["node", NODE, "send", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "1000",
            "--device", "ring", "--device-dir", str(tmp_path), "--admin", "127.0.0.1:1",
            "--json"]  # fmt: skip
    assert main(args) == 1  # a mainnet address on the default regtest chain
    assert json.loads(capsys.readouterr().err)["error"] == "bad_address"
    assert not list(tmp_path.iterdir())  # no device file touched, no counter used


def test_close_checks_the_channel_id_before_reaching_the_runtime(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "store.db")
    assert main(["node", NODE, "close", "abc", "--store", store, "--json"]) == 1
    err = json.loads(capsys.readouterr().err)
    assert err["error"] == "usage" and "64 hex digits" in err["detail"]
    assert main(["node", NODE, "close", "ab" * 32, "--store", store]) == 1
    assert capsys.readouterr().err.startswith("error: no_runtime: ")


@pytest.mark.parametrize(
    "uri",
    ["", "02" + "11" * 32, "02" + "11" * 32 + "@host", "zz@127.0.0.1:9735",
     "02" + "11" * 31 + "@127.0.0.1:9735", "02" + "11" * 32 + "@127.0.0.1:0",
     "02" + "11" * 32 + "@:9735", "02" + "11" * 32 + "@127.0.0.1:port"],
)  # fmt: skip
def test_open_refuses_a_bad_peer_before_the_runtime_or_a_device(
    uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["node", NODE, "open", uri, "100000", "--device", "ring", "--device-dir",
            str(tmp_path), "--admin", "127.0.0.1:1", "--json"]  # fmt: skip
    assert main(args) == 1
    err = json.loads(capsys.readouterr().err)
    assert err["error"] == "usage" and "NODE_ID@HOST:PORT" in err["detail"]
    assert not list(tmp_path.iterdir())


def test_open_peer_forms() -> None:
    from vajra.cli_node_open import parse_peer

    node = "03" + "ab" * 32
    assert parse_peer(f"{node}@127.0.0.1:9735") == (node, "127.0.0.1", 9735)
    assert parse_peer(f"{node.upper()}@lnd.example:1") == (node, "lnd.example", 1)
    assert parse_peer(f"{node}@[::1]:9735") == (node, "::1", 9735)
