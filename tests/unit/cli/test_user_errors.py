"""Issue 13 item 7: the CLI a person uses. Every user error is one line naming the flag
and the value (JSON on stderr under --json), checked before any device counter moves;
no traceback. Each test fails on the code before the fix. The ones that need several
processes or a running runtime are in tests/e2e/test_cli_user_errors.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vajra.cli import main
from vajra.crypto.secp256k1 import pubkey_create
from vajra.errors import PolicyViolation
from vajra.runtime.remote_signer import SignerUnavailable
from vajra.runtime.worker import wake_failed_warning

NODE = "02" + "11" * 32
HASH = "22" * 32


def _counter(devdir: Path, name: str) -> int:
    return int(json.loads((devdir / f"{name}.json").read_text())["counter"])


@pytest.fixture
def devdir(tmp_path: Path) -> Path:
    d = tmp_path / "devices"
    assert (
        main(["device", "create", "--type", "p256", "--name", "ring", "--device-dir", str(d)]) == 0
    )
    # Devices verify the signer's decisions against its pinned audit key (decision 0012);
    # any key will do here, where no signer answers.
    audit_pubkey = pubkey_create(bytes(31) + b"\x05").hex()
    pin = ["device", "pin-signer", "--name", "ring", "--signer-audit-pubkey", audit_pubkey]
    assert main([*pin, "--device-dir", str(d)]) == 0
    return d


@pytest.fixture
def hubdir(tmp_path: Path) -> Path:
    """A directory that looks like a runtime's hub but where nobody answers (a stale
    admin.sock): submitting fails only after the counter was used up."""
    d = tmp_path / "store.db.hub"
    d.mkdir()
    (d / "admin.sock").write_bytes(b"")
    return d


def _authorise(devdir: Path, hubdir: Path, *extra: str, amount: str = "1000") -> list[str]:
    return ["device", "authorise", "--name", "ring", "--node", NODE, "--payment-hash", HASH,
            "--amount-msat", amount, "--max-fee-msat", "0", "--device-dir", str(devdir),
            "--runtime", str(hubdir), *extra]  # fmt: skip


@pytest.mark.parametrize("amount", ["-5", str(1 << 64)])
def test_bad_amount_is_one_line_and_uses_no_counter(
    devdir: Path, hubdir: Path, amount: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_authorise(devdir, hubdir, amount=amount)) == 2
    err = capsys.readouterr().err
    assert err == f"error: --amount-msat {amount}: must be 0..2100000000000000000 msat\n"
    assert _counter(devdir, "ring") == 0


def test_errors_are_json_under_json(
    devdir: Path, hubdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_authorise(devdir, hubdir, "--json", amount="-5")) == 2
    err = json.loads(capsys.readouterr().err)
    assert err["error"] == "usage" and "--amount-msat -5" in err["detail"]
    assert main(["nodes", "--store", str(tmp_path / "none.db"), "list", "--json"]) == 1
    err = json.loads(capsys.readouterr().err)
    assert err["error"] == "not_running" and "none.db" in err["detail"]


def test_a_device_name_is_never_a_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "devices"
    args = ["device", "create", "--type", "p256", "--name", "../escaped", "--device-dir", str(d)]
    assert main(args) == 2
    assert "--name ../escaped" in capsys.readouterr().err
    assert not (tmp_path / "escaped.json").exists()


def test_nodes_create_count_zero_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nodes", "--admin", "/nonexistent", "create", "--count", "0"]) == 2
    assert capsys.readouterr().err == "error: --count 0: must be at least 1\n"


def test_rules_set_never_zeroes_rules_not_given(
    devdir: Path, hubdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["device", "rules", "set", "ring", "--by", "ring", "--device-dir", str(devdir),
            "--runtime", str(hubdir)]  # fmt: skip
    assert main([*base, "--daily-limit-msat", "5000"]) == 2
    err = capsys.readouterr().err
    assert "--auto-approve-below-msat" in err and "--hourly-limit-msat" in err
    assert "--signer-dir" in err
    # Contradictory: a daily limit below the hourly one.
    full = ["--auto-approve-below-msat", "0", "--confirm-above-msat", "0",
            "--per-payment-max-msat", "100", "--hourly-limit-msat", "1000",
            "--daily-limit-msat", "500"]  # fmt: skip
    assert main([*base, *full]) == 2
    assert "contradictory" in capsys.readouterr().err
    assert _counter(devdir, "ring") == 0


def test_runtime_dir_is_explained(
    devdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["device", "authorise", "--help"])
    assert "<store>.hub" in capsys.readouterr().out
    assert main(_authorise(devdir, tmp_path)) == 2
    assert "<store>.hub" in capsys.readouterr().err
    assert _counter(devdir, "ring") == 0


def test_pairing_code_with_admin_needs_no_store(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runtime", "pairing-code", "--admin", "/nonexistent.sock"]) == 1
    assert "cannot reach the runtime at /nonexistent.sock" in capsys.readouterr().err


def test_a_refused_wake_does_not_blame_the_signer_being_offline() -> None:
    assert b"offline" in wake_failed_warning(SignerUnavailable(1, "not connected")).data
    for reason in ("stale_epoch", "unknown_node", "epoch_jump"):
        data = wake_failed_warning(PolicyViolation(reason, "x")).data
        assert b"offline" not in data and data, reason


@pytest.mark.parametrize(
    ("args", "says"),
    [(["--listen-port", "70000"], "--listen-port 70000: a port is 0..65535"),
     (["--pool", "notacidr"], "--pool notacidr: bad pool"),
     (["--workers", "0"], "--workers 0: must be at least 1"),
     (["--idle-timeout", "0"], "--idle-timeout 0.0: must be more than 0 seconds"),
     (["--min-channel-sat", "0"], "--min-channel-sat 0: must be at least 1 sat"),
     (["--channel-peer", "02ab"], "--channel-peer 02ab: a node id is 66 hex digits")],
)  # fmt: skip
def test_runtime_options_are_checked_before_start(
    tmp_path: Path, args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "s.db"
    assert main(["runtime", "--dev", "--store", str(store), *args]) == 2
    assert capsys.readouterr().err.startswith(f"error: {says}")
    assert not store.exists()
