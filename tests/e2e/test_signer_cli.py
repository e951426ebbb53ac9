"""The live signer end to end, through the commands a user runs (real processes, temp dirs).

init a signer; start the runtime's signer hub; pair (a wrong code and a replayed code are
refused); run the signer; create nodes; enrol a phone (owner) and a ring (spender);
pay-authorise under and over the limits; stop the hub; freeze the ring from the phone
over the local link; restart the hub (the signer redials); the ring is refused;
unfreeze; the ring is accepted; the audit log verifies. Then: nothing the runtime side
wrote contains the seed, a node secret or a device secret.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vajra.signer.keys import SignerKeys
from vajra.signer.seed import mnemonic_to_seed
from vajra.testbed.vajra_process import VajraProcess

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"
PHASH = "ab" * 32
# 10k sat taps, confirmation above 50k sat, 100k sat a payment, 120k sat an hour, 600k a day.
RING_RULES = ["--auto-approve-below-msat=10000000", "--confirm-above-msat=50000000",
              "--per-payment-max-msat=100000000", "--hourly-limit-msat=120000000",
              "--daily-limit-msat=600000000"]  # fmt: skip


class Env:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.signer = tmp / "signer"
        self.devices = tmp / "devices"
        self.hub = tmp / "hub"
        self.logs = tmp / "logs"
        self.logs.mkdir()
        self.env = {
            **os.environ,
            "VAJRA_SIGNER_PASSWORD": PASSWORD,
            "VAJRA_SIGNER_DIR": str(self.signer),
            "VAJRA_DEVICE_DIR": str(self.devices),
            "VAJRA_RUNTIME_DIR": str(self.hub),
        }
        self.procs: list[VajraProcess] = []

    def run(
        self, *args: str, ok: bool | None = True, stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """`vajra *args` in this environment; `ok=True` asserts exit code 0."""
        p = subprocess.run(
            [sys.executable, "-m", "vajra", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if ok is True:
            assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p

    def json(self, *args: str, rc: int = 0) -> Any:
        p = self.run(*args, ok=None)
        assert p.returncode == rc, (args, p.returncode, p.stdout, p.stderr)
        return json.loads(p.stdout.strip().splitlines()[-1])

    def start(
        self, name: str, module: str, *args: str, event: str
    ) -> tuple[VajraProcess, dict[str, Any]]:
        p = VajraProcess(args, log=self.logs / f"{name}.stderr", env=self.env, name=name,
                         module=module)  # fmt: skip
        self.procs.append(p)
        p.launch()
        return p, p.wait_ready(event, timeout=60)

    def start_hub(self, port: int = 0) -> tuple[VajraProcess, int]:
        p, ready = self.start(
            "hub", "vajra.runtime.signer_hub", "--state-dir", str(self.hub), "--port", str(port),
            event="ready",
        )  # fmt: skip
        return p, int(ready["port"])

    def hub_admin(self, req: dict[str, Any]) -> Any:
        p = subprocess.run(
            [
                sys.executable,
                "-m",
                "vajra.runtime.signer_hub",
                "admin",
                "--state-dir",
                str(self.hub),
                "call",
                json.dumps(req),
            ],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return json.loads(p.stdout)

    def start_signer(self) -> VajraProcess:
        """`vajra signer run` (redialling within 0.2 s), returned once the paired hub sees
        it connected."""
        p, _ = self.start(
            "signer", "vajra", "signer", "run", "--max-backoff", "0.2", event="running"
        )  # fmt: skip
        assert self.hub_admin({"op": "wait_signer", "signer_id": 1, "timeout": 20})["connected"]
        return p

    def enrol_phone_and_ring(self) -> None:
        """Device keys "phone" (p256) and "ring" (secp256k1); the phone added as the
        signer's owner and the ring enrolled by it, both under RING_RULES."""
        phone = self.json("device", "create", "--type", "p256", "--name", "phone", "--json")
        self.json("device", "create", "--type", "secp256k1", "--name", "ring", "--json")
        self.json("signer", "add-owner", "--key-type", "p256", "--pubkey", phone["pubkey"],
                  "--label", "phone", "--json", *RING_RULES)  # fmt: skip
        self.json("device", "enroll", "--name", "ring", "--by", "phone", "--label", "ring",
                  *RING_RULES)  # fmt: skip

    def stop(self, p: VajraProcess) -> None:
        p.stop()

    def close(self) -> None:
        for p in self.procs:
            p.kill9()


def _authorise(env: Env, node: str, amount: int, *extra: str, rc: int = 0) -> Any:
    return env.json(
        "device",
        "authorise",
        "--name",
        "ring",
        "--node",
        node,
        "--payment-hash",
        PHASH,
        "--amount-msat",
        str(amount),
        "--max-fee-msat",
        "1000",
        *extra,
        rc=rc,
    )


def test_signer_end_to_end(env: Env) -> None:
    # --- init, hub, pairing --------------------------------------------------------------
    init = env.json("signer", "init", "--json")
    mnemonic = init["mnemonic"]
    assert len(mnemonic.split()) == 24
    assert (env.signer / "seed.sealed").stat().st_mode & 0o777 == 0o600
    assert mnemonic not in (env.signer / "seed.sealed").read_bytes().decode("latin-1")

    hub, port = env.start_hub()
    runtime = f"127.0.0.1:{port}"
    code = env.hub_admin({"op": "pairing_code"})["code"]
    wrong = "AAAA-AAAA-AAAA-AAAA" if code != "AAAA-AAAA-AAAA-AAAA" else "BBBB-BBBB-BBBB-BBBB"
    refused = env.run("signer", "pair", "--runtime", runtime, "--code", wrong, ok=None)
    assert refused.returncode == 1 and "bad_code" in refused.stderr
    paired = env.json("signer", "pair", "--runtime", runtime, "--code", code, "--json")
    assert paired["signer_id"] == 1
    replay = env.run("signer", "pair", "--runtime", runtime, "--code", code, ok=None)
    assert replay.returncode == 1, "a pairing code works once"

    signer, running = env.start(
        "signer", "vajra", "signer", "run", "--max-backoff", "0.5", event="running"
    )
    assert running["event"] == "running"
    assert env.hub_admin({"op": "wait_signer", "signer_id": 1, "timeout": 20})["connected"]
    nodes = env.hub_admin({"op": "create_nodes", "signer_id": 1, "count": 2})["node_ids"]
    assert len(nodes) == 2
    node = nodes[0]

    # --- devices --------------------------------------------------------------------------
    phone = env.json("device", "create", "--type", "p256", "--name", "phone", "--json")
    ring = env.json("device", "create", "--type", "secp256k1", "--name", "ring", "--json")
    assert (env.devices / "ring.json").stat().st_mode & 0o777 == 0o600
    owner_rules = [
        "--auto-approve-below-msat=100000000",
        "--confirm-above-msat=1000000000",
        "--per-payment-max-msat=5000000000",
        "--hourly-limit-msat=5000000000",
        "--daily-limit-msat=10000000000",
    ]
    env.json(
        "signer",
        "add-owner",
        "--key-type",
        "p256",
        "--pubkey",
        phone["pubkey"],
        "--label",
        "phone",
        "--json",
        *owner_rules,
    )
    ring_rules = [
        "--auto-approve-below-msat=10000000",  # 10k sat taps
        "--confirm-above-msat=50000000",
        "--per-payment-max-msat=100000000",
        "--hourly-limit-msat=120000000",
        "--daily-limit-msat=600000000",
    ]
    d = env.json(
        "device", "enroll", "--name", "ring", "--by", "phone", "--label", "ring", *ring_rules
    )
    assert d["outcome"] == "approve" and d["device_id"] == ring["device_id"]

    # --- payments under and over the limits -----------------------------------------------
    assert _authorise(env, node, 5_000_000)["reason"] == "auto_approved"
    d = _authorise(env, node, 30_000_000, rc=3)
    assert d["reason"] == "user_presence_required"
    assert _authorise(env, node, 30_000_000, "--user-present")["reason"] == "user_present"
    assert _authorise(env, node, 200_000_000, rc=1)["reason"] == "over_per_payment_max"
    d = _authorise(env, node, 60_000_000, rc=3)
    assert d["reason"] == "owner_confirmation_required"
    d = _authorise(env, node, 60_000_000, "--confirm-by", "phone")
    assert d["reason"] == "owner_confirmed"
    # 5M + 30M + 60M (+ fees) spent this hour; 30M more would pass 120M.
    assert _authorise(env, node, 30_000_000, "--user-present", rc=1)["reason"] == (
        "over_hourly_limit"
    )

    # --- runtime down: freeze the ring from the phone over the local link -----------------
    env.stop(hub)
    d = env.json("device", "freeze", "ring", "--by", "phone", "--local")
    assert d["outcome"] == "approve"
    status = env.json("signer", "status", "--json")
    assert status["running"] is True and len(status["nodes"]) == 2

    hub, _ = env.start_hub(port)  # same address: the signer redials with backoff
    assert env.hub_admin({"op": "wait_signer", "signer_id": 1, "timeout": 20})["connected"]
    assert _authorise(env, node, 1_000_000, rc=1)["reason"] == "device_frozen"
    d = env.json("device", "unfreeze", ring["device_id"], "--by", "phone", "--local")
    assert d["outcome"] == "approve"
    assert _authorise(env, node, 1_000_000)["outcome"] == "approve"

    # A partial rules update (issue 13 item 7): only the daily limit changes; the rest
    # are read from the signer's registry, not zeroed.
    d = env.json("device", "rules", "set", "ring", "--by", "phone", "--local",
                 "--signer-dir", str(env.signer), "--daily-limit-msat", "700000000")  # fmt: skip
    assert d["outcome"] == "approve"
    listing = env.json("device", "list", "--signer-dir", str(env.signer), "--json")
    assert {r["label"]: r["status"] for r in listing["registry"]} == {
        "phone": "active",
        "ring": "active",
    }
    (ring_row,) = [r for r in listing["registry"] if r["label"] == "ring"]
    assert ring_row["rules"] == {
        "auto_approve_below_msat": 10_000_000, "confirm_above_msat": 50_000_000,
        "per_payment_max_msat": 100_000_000, "hourly_limit_msat": 120_000_000,
        "daily_limit_msat": 700_000_000,
    }  # fmt: skip

    env.stop(hub)
    env.stop(signer)

    # --- audit ---------------------------------------------------------------------------
    log = env.json("signer", "audit", "--json")
    assert log["verified"] is True
    kinds = [e["kind"] for e in log["entries"]]
    assert kinds.count("create_node") == 2 and "bootstrap" in kinds
    reasons = [e["reason"] for e in log["entries"] if e["kind"] == "payment"]
    assert "device_frozen" in reasons and "over_per_payment_max" in reasons
    text = env.run("signer", "audit").stdout
    assert "verified:" in text

    # --- secrets: nothing the runtime side wrote contains one -----------------------------
    seed = mnemonic_to_seed(mnemonic)
    keys = SignerKeys(seed)
    secrets = {"seed": seed, "mnemonic": mnemonic.encode()}
    for i in range(2):
        nk = keys.node(i)
        secrets[f"identity{i}"] = nk.identity.secret
        secrets[f"state_key{i}"] = nk.state_key()
        secrets[f"funding{i}"] = nk.channel(0).funding
        secrets[f"per_commitment_seed{i}"] = nk.channel(0).per_commitment_seed
    for name in ("phone", "ring"):
        device = json.loads((env.devices / f"{name}.json").read_text())
        secrets[name] = bytes.fromhex(device["secret"])
    secrets["audit_key"] = keys.audit_key().secret
    secrets["link_key"] = keys.link_key().secret
    runtime_files = [p for p in env.hub.rglob("*") if p.is_file()]
    runtime_files.append(env.logs / "hub.stderr")
    assert any(p.name == "hub.log" for p in runtime_files)
    for path in runtime_files:
        blob = path.read_bytes()
        for what, s in secrets.items():
            for form in (s, s.hex().encode(), s.hex().upper().encode()):
                assert form not in blob, f"{what} found in {path}"


def test_restore_gives_back_the_same_signer_and_a_wrong_password_fails(env: Env) -> None:
    init = env.json("signer", "init", "--json")
    other = env.tmp / "restored"
    p = subprocess.run(
        [sys.executable, "-m", "vajra", "signer", "restore", "--dir", str(other), "--json"],
        env=env.env,
        input=init["mnemonic"] + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    restored = json.loads(p.stdout)
    assert restored["link_pubkey"] == init["link_pubkey"]
    assert restored["audit_pubkey"] == init["audit_pubkey"]
    assert init["mnemonic"] not in p.stdout  # restore never shows the words
    again = env.run("signer", "init", ok=None)
    assert again.returncode == 1 and "refusing to overwrite" in again.stderr
    env.env["VAJRA_SIGNER_PASSWORD"] = "wrong"
    bad = env.run("signer", "pair", "--runtime", "127.0.0.1:1", "--code", "x", ok=None)
    assert bad.returncode == 1 and "wrong password" in bad.stderr


def test_the_node_quota_is_sealed_and_audited(env: Env) -> None:
    """Issue 13 item 2: the owner's node quota lives in the sealed state. Setting it needs
    the seed password and leaves an audit entry; writing it into signer.json does nothing."""
    env.json("signer", "init", "--json")
    assert env.json("signer", "quota") == {"node_quota": 10}  # the default, no password
    env.env["VAJRA_SIGNER_PASSWORD"] = "wrong password here"
    bad = env.run("signer", "quota", "--nodes", "1000000", ok=None)
    assert bad.returncode == 1 and "wrong password" in bad.stderr
    env.env["VAJRA_SIGNER_PASSWORD"] = PASSWORD
    assert env.json("signer", "quota") == {"node_quota": 10}
    assert env.json("signer", "quota", "--nodes", "7") == {"node_quota": 7}
    cfg_path = env.signer / "signer.json"
    cfg = json.loads(cfg_path.read_text())
    assert "node_quota" not in cfg
    cfg_path.write_text(json.dumps({**cfg, "node_quota": 10**6}))
    assert env.json("signer", "quota") == {"node_quota": 7}
    entries = env.json("signer", "audit", "--json")["entries"]
    quota = [e for e in entries if e["kind"] == "quota"]
    assert [(e["outcome"], e["reason"]) for e in quota] == [("approve", "applied")]
    neg = env.run("signer", "quota", "--nodes", "-1", ok=None)
    assert neg.returncode == 1 and "--nodes -1" in neg.stderr
