"""Issue 13 item 5: `vajra signer restore` from the 24 words, then pairing again, brings
back the signer's nodes and device registry from the encrypted backup the runtime kept
(real processes). The restored signer passes the runtime's anchor, the frozen ring is
still frozen, the owner's phone (which checks every decision against the head it saw)
accepts the restored signer's answers, and the audit log verifies."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.e2e.test_signer_cli import PHASH, Env

pytestmark = pytest.mark.e2e


def test_restore_from_words_recovers_nodes_and_devices(env: Env) -> None:
    words = env.json("signer", "init", "--json")["mnemonic"]
    hub, port = env.start_hub()
    runtime = f"127.0.0.1:{port}"
    pair = ["signer", "pair", "--runtime", runtime, "--code", "-", "--json"]
    env.run(*pair, stdin=env.hub_admin({"op": "pairing_code"})["code"], timeout=120)
    signer = env.start_signer()
    nodes = env.hub_admin({"op": "create_nodes", "signer_id": 1, "count": 3})["node_ids"]
    env.enrol_phone_and_ring()
    pay = ["device", "authorise", "--name", "ring", "--node", nodes[0], "--payment-hash", PHASH,
           "--amount-msat", "5000000", "--max-fee-msat", "1000"]  # fmt: skip
    assert env.json(*pay)["outcome"] == "approve"
    assert env.json("device", "freeze", "ring", "--by", "phone")["outcome"] == "approve"
    seen = env.json("device", "list", "--json")["local"]
    phone_seen = next(x for x in seen if x["name"] == "phone")["seen_head"]["length"]
    env.stop(signer)

    # The box is lost. A new one, from the words.
    shutil.rmtree(env.signer)
    env.run("signer", "restore", "--json", stdin=words + "\n", timeout=120)
    assert env.json("signer", "status", "--json")["nodes"] == []
    code = env.hub_admin({"op": "pairing_code"})["code"]
    out = env.run(*pair, "--min-audit-length", str(phone_seen), stdin=code, timeout=120)
    restored = json.loads(out.stdout)["restored"]
    assert restored["nodes"] == 3 and restored["devices"] == 2
    status = env.json("signer", "status", "--json")
    assert status["nodes"] == nodes and status["devices"] == 2

    signer = env.start_signer()
    assert env.json(*pay, rc=1)["reason"] == "device_frozen"  # the freeze survived
    d = env.json("device", "unfreeze", "ring", "--by", "phone")  # the phone accepts it
    assert d["outcome"] == "approve" and d["verified"] is True
    assert env.json(*pay)["outcome"] == "approve"
    env.stop(signer)
    assert env.json("signer", "audit", "--json")["verified"] is True
    env.stop(hub)
