"""Issue 13 item 5: `vajra signer restore` from the 24 words, then pairing again, brings
back the signer's nodes and device registry from the encrypted backup the runtime kept
(real processes). The restored signer passes the runtime's anchor, the frozen ring is
still frozen, the owner's phone (which checks every decision against the head it saw)
accepts the restored signer's answers, and the audit log verifies."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_signer_cli import PHASH, Env

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.close()


def _vajra(env: Env, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vajra", *args], env=env.env, input=stdin,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_restore_from_words_recovers_nodes_and_devices(env: Env) -> None:
    words = env.json("signer", "init", "--json")["mnemonic"]
    hub, port = env.start_hub()
    runtime = f"127.0.0.1:{port}"
    pair = ["signer", "pair", "--runtime", runtime, "--code", "-", "--json"]
    assert _vajra(env, *pair, stdin=env.hub_admin({"op": "pairing_code"})["code"]).returncode == 0
    signer, _ = env.start(
        "signer", "vajra", "signer", "run", "--max-backoff", "0.2", event="running"
    )
    assert env.hub_admin({"op": "wait_signer", "signer_id": 1, "timeout": 20})["connected"]
    nodes = env.hub_admin({"op": "create_nodes", "signer_id": 1, "count": 3})["node_ids"]
    phone = env.json("device", "create", "--type", "p256", "--name", "phone", "--json")
    env.json("device", "create", "--type", "secp256k1", "--name", "ring", "--json")
    rules = ["--auto-approve-below-msat=10000000", "--confirm-above-msat=50000000",
             "--per-payment-max-msat=100000000", "--hourly-limit-msat=120000000",
             "--daily-limit-msat=600000000"]  # fmt: skip
    env.json("signer", "add-owner", "--key-type", "p256", "--pubkey", phone["pubkey"],
             "--label", "phone", "--json", *rules)  # fmt: skip
    env.json("device", "enroll", "--name", "ring", "--by", "phone", "--label", "ring", *rules)
    pay = ["device", "authorise", "--name", "ring", "--node", nodes[0], "--payment-hash", PHASH,
           "--amount-msat", "5000000", "--max-fee-msat", "1000"]  # fmt: skip
    assert env.json(*pay)["outcome"] == "approve"
    assert env.json("device", "freeze", "ring", "--by", "phone")["outcome"] == "approve"
    seen = env.json("device", "list", "--json")["local"]
    phone_seen = next(x for x in seen if x["name"] == "phone")["seen_head"]["length"]
    env.stop(signer)

    # The box is lost. A new one, from the words.
    shutil.rmtree(env.signer)
    restore = _vajra(env, "signer", "restore", "--json", stdin=words + "\n")
    assert restore.returncode == 0, restore.stderr
    assert env.json("signer", "status", "--json")["nodes"] == []
    code = env.hub_admin({"op": "pairing_code"})["code"]
    out = _vajra(env, *pair, "--min-audit-length", str(phone_seen), stdin=code)
    assert out.returncode == 0, out.stderr
    restored = json.loads(out.stdout)["restored"]
    assert restored["nodes"] == 3 and restored["devices"] == 2
    status = env.json("signer", "status", "--json")
    assert status["nodes"] == nodes and status["devices"] == 2

    signer, _ = env.start(
        "signer", "vajra", "signer", "run", "--max-backoff", "0.2", event="running"
    )
    assert env.hub_admin({"op": "wait_signer", "signer_id": 1, "timeout": 20})["connected"]
    assert env.json(*pay, rc=1)["reason"] == "device_frozen"  # the freeze survived
    d = env.json("device", "unfreeze", "ring", "--by", "phone")  # the phone accepts it
    assert d["outcome"] == "approve" and d["verified"] is True
    assert env.json(*pay)["outcome"] == "approve"
    env.stop(signer)
    assert env.json("signer", "audit", "--json")["verified"] is True
    env.stop(hub)
