"""Electrum 4.3.4 (Debian's python3-electrum) against hosted nodes, with Electrum's own code.

The test-bed harness (testbed/electrum/electrum_peer.py, run in the Electrum venv) dials
each sampled sleeping node with Electrum's `LNTransport` and runs Electrum's `Peer`:
`init` with the feature set an Electrum wallet uses for channel peers
(`LNWALLET_FEATURES`) and, separately, the one its gossip sync uses (`LNGOSSIP_FEATURES`,
which has no `option_channel_type`: a required bit 44 from us made Electrum close with
"remote wanted feature we don't have"). Electrum's `ln_compare_features` judges our
`init`; then a ping, `get_channel_range()`, `get_short_channel_ids()`, a
`gossip_timestamp_filter` and a last ping, each reply parsed by Electrum. None of it
may wake a node.
"""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.runtime_proc import VajraProcess, start_runtime
from vajra.testbed import paths as tb_paths

pytestmark = [pytest.mark.interop]

HOSTED = 40
SAMPLE = 8
HARNESS = Path(__file__).resolve().parents[2] / "testbed" / "electrum" / "electrum_peer.py"


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VajraProcess]:
    store: Path = tmp_path_factory.mktemp("runtime-electrum") / "store.db"
    rt = start_runtime(store, create=HOSTED, workers=2)
    try:
        yield rt
    finally:
        rt.stop()


def _electrum(tp: tb_paths.TestbedPaths, features: str, uris: list[str]) -> list[dict[str, object]]:
    args = [str(tp.electrum_python), str(HARNESS), "--features", features]
    for u in uris:
        args += ["--node", u]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60 + 20 * len(uris))
    assert r.returncode == 0, r.stderr[-3000:]
    return [json.loads(line) for line in r.stdout.splitlines()]


@pytest.mark.parametrize("features", ["wallet", "gossip"])
def test_electrum_peers_with_hosted_nodes(
    testbed_paths: tb_paths.TestbedPaths, runtime: VajraProcess, features: str
) -> None:
    tp = testbed_paths.require("electrum")
    sample = random.Random(features).sample(runtime.nodes(), SAMPLE)
    before = runtime.counters()
    got = _electrum(tp, features, [f"{n['node_id']}@{n['host']}:{n['port']}" for n in sample])
    assert [g["node_id"] for g in got] == [n["node_id"] for n in sample]
    for g in got:
        assert g["ok"], g  # "step" names what Electrum got stuck on, "error" why
        assert g["step"] == "done" and g["ids"] == 0 and g["complete"] is True, g
    after = runtime.counters()
    # every node answered the range and the scid query itself, and nothing woke
    assert after["gossip_replies"] - before.get("gossip_replies", 0) >= 2 * SAMPLE
    assert after["pongs"] - before.get("pongs", 0) >= 2 * SAMPLE
    assert after.get("wakes", 0) == 0 and after.get("wake_triggers", 0) == 0
