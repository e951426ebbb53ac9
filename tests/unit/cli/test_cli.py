"""The `vajra` command as a user runs it: --version, --help, decode, bench."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.specs import spec_path
from vajra import __version__
from vajra.cli import main
from vajra.wire import Ping, encode_message

SPEC = spec_path("bolts/11-payment-encoding.md")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"vajra {__version__}"


def test_console_script_help_lists_subcommands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "vajra", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for cmd in ("decode", "bench", "testbed"):
        assert re.search(rf"^\s+{cmd}\s", out, re.M), out


def test_decode_wire_message(capsys: pytest.CaptureFixture[str]) -> None:
    hexmsg = encode_message(Ping(num_pong_bytes=4, ignored=b"\xab")).hex()
    assert main(["decode", hexmsg, "--compact"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["type_name"] == "ping" and out["num_pong_bytes"] == 4 and out["ignored"] == "ab"


def test_decode_invoice_from_spec(capsys: pytest.CaptureFixture[str]) -> None:
    inv = re.search(r"\blnbc2500u1[0-9a-z]+", SPEC.read_text())
    assert inv
    assert main(["decode", f"lightning:{inv.group(0)}"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "bolt11" and out["amount_msat"] == 250_000_000


@pytest.mark.parametrize(
    ("arg", "error"),
    [
        ("zz", "InvalidInput"),
        ("0102", "Truncated"),
        ("8000", "UnknownEvenMessage"),
        ("lnbc1qqqqqqq", "InvoiceError"),
    ],
)
def test_decode_errors_are_json_and_exit_1(
    arg: str, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["decode", arg]) == 1
    err = json.loads(capsys.readouterr().err)
    assert err["error"] == error and err["message"]


def test_bench_protocol_json_and_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "RESULTS.md"
    rc = main(
        [
            "bench",
            "protocol",
            "--json",
            "--seconds",
            "0.05",
            "--runs",
            "1",
            "--results",
            str(results),
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    for key in (
        "noise_responder_handshakes_per_cpu_s",
        "frames_per_s_per_core",
        "channel_update_decodes_per_s_per_core",
    ):
        assert isinstance(out[key], int) and out[key] > 0
    text = results.read_text()
    assert "## protocol" in text and '"noise_responder_handshakes_per_cpu_s"' in text
    assert "machine" in text and '"event_loop"' in text and '"loadavg_at_start"' in text
    assert out["conditions"]["event_loop"] and len(out["conditions"]["loadavg_at_start"]) == 3


def test_bench_chain_small_json_and_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "RESULTS.md"
    argv = ["bench", "chain", "--json", "--items", "2000", "--block-txs", "200"]
    argv += ["--scan-runs", "3", "--catchup-blocks", "0", "--results", str(results)]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["watched_items"] == 2000
    # RSS moves in pages: at 2,000 items the figure is noise, but it is measured.
    assert isinstance(out["watcher_rss_bytes_per_item"], float) and out["block_events"] > 0
    assert out["block_scan_ms_p50"] > 0 and out["block_scan_ms_p99"] >= out["block_scan_ms_p50"]
    assert "catchup_blocks_per_s" not in out  # skipped, not invented
    assert "## chain" in results.read_text()


def test_bench_chain_without_btcd_is_a_json_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAJRA_CACHE", str(tmp_path / "empty-cache"))
    assert main(["bench", "chain", "--json", "--items", "10", "--no-record"]) == 1
    err = json.loads(capsys.readouterr().err)
    assert err["error"] == "TestbedNotInstalled" and "btcd" in err["message"]
