"""Signer core figures for `vajra bench signer` (the link adds the round-trip figures).

- authorisations_per_cpu_s: `Policy.decide` of fresh, valid payment authorisations on a
  durable SQLite state (decode, signature, rules, rolling limits, counter, signed audit
  entry, commit), per CPU second of this process: what the decision costs, fsync waits
  excluded; the lower of a secp256k1 and a P-256 device. (Was
  `authorisations_per_s_per_core`.)
- authorisations_per_s_wall: what a runtime waiting for answers gets, per wall second:
  `AUTHORISE_PAYMENT` link frames through the daemon's path (`LinkHandler`, decode to
  answer frame) on a durable state, `GROUP` pipelined requests decided as one group
  commit (`SignerState.group`) and every answer taken only after that commit returned,
  so each reports a durable decision. `authorisations_per_s_wall_unbatched`: the same
  with one request at a time (one fsync per decision: a lone client's rate).
- nodes_created_per_s: `SignerCore.create_nodes` (key derivation, allocation, audit), CPU.
- state_key_decisions_per_s_cpu_sealed / _plain: the wake decision in process, no fsync,
  with and without the state MAC (decision 0012): what integrity costs per decision.
- channel_requests_per_s_cpu_sealed: a channel request through `SignerCore` (decision
  0017; `vajra.benchmarks.signer_channels`).
- sealed_open_ms_per_1k_rows: opening a sealed state (every row's MAC, the cross-check).
- roundtrip_ms_p50 / _p99: a PING request from the runtime's hub to a signer daemon in
  another process and back, over loopback TCP inside the BOLT 8 link (encrypt, frame,
  decode, dispatch, answer), one request at a time.
- state_key_roundtrip_ms_p50 / _p99: the same for STATE_KEY (the wake path) against a
  durable SQLite signer state: fencing, policy, signed audit entry, the state MAC, the
  AUDIT_HEAD frame that follows each answer and fsync included.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from vajra.benchmarks.results import median_of, percentile
from vajra.benchmarks.signer_channels import channel_requests_per_s
from vajra.signer import link_proto as lp
from vajra.signer.core import SignerCore
from vajra.signer.devices import DeviceKey, KeyType, Role, Rules
from vajra.signer.keys import SignerKeys
from vajra.signer.link_server import LinkHandler
from vajra.signer.messages import CommandKind, DeviceCommand, Enrolment, PaymentAuthorisation
from vajra.signer.state import SqliteState

TARGETS = {"authorisations_per_cpu_s": 2000, "authorisations_per_s_wall": 500}
TARGETS_MAX = {"roundtrip_ms_p99": 2.0}  # at most
_T0 = 1_800_000_000
_BATCH = 500
GROUP = 32
"""Requests decided per group commit in the wall figure: the runtime pipelines requests
from many hosted nodes over one link; 32 in flight is a modest depth for that."""
_OPEN = Rules(10**15, 10**15, 10**15, 10**18, 10**18)  # never the limiting factor here


def _core(directory: str) -> SignerCore:
    """As `vajra signer run` opens it: sealed (keyed MAC per row, decision 0012)."""
    keys = SignerKeys(bytes(range(64)))
    return SignerCore(keys, SqliteState(Path(directory) / "s.db", key=keys.state_key()))


def _device(core: SignerCore, curve: KeyType) -> DeviceKey:
    owner = DeviceKey(KeyType.P256, hashlib.sha256(b"owner").digest())
    ring = DeviceKey(curve, hashlib.sha256(b"ring").digest())
    p = core.policy
    p.bootstrap_owner(Enrolment(owner.key_type, owner.pubkey, Role.OWNER, _OPEN), _T0)
    enrol = Enrolment(ring.key_type, ring.pubkey, Role.SPENDER, _OPEN)
    cmd = DeviceCommand(CommandKind.ENROLL, owner.device_id, 1, _T0 + 60, ring.device_id, enrol)
    assert p.command(cmd.signed(owner).encode(), _T0).approved
    return ring


def _authorisations(ring: DeviceKey, node_id: bytes, first: int, n: int) -> list[bytes]:
    """`n` fresh signed authorisations, counters `first`..: the device's work (not timed)."""
    out = []
    for counter in range(first, first + n):
        h = hashlib.sha256(counter.to_bytes(8, "big")).digest()
        a = PaymentAuthorisation(node_id, h, 1000, 10, _T0 + 600, counter, ring.device_id)
        out.append(a.signed(ring).encode())
    return out


def authorisations_per_cpu_s(seconds: float, curve: KeyType) -> float:
    """Decisions per CPU second of this process (fsync waits are not CPU time)."""
    with tempfile.TemporaryDirectory() as d:
        core = _core(d)
        ring = _device(core, curve)
        node_id = core.create_nodes(1, now=_T0)[0]
        n, spent = 0, 0.0
        while spent < seconds:
            auths = _authorisations(ring, node_id, n + 1, _BATCH)
            start = time.process_time()
            for data in auths:
                if not core.policy.decide(data, node_id=node_id, now=_T0).approved:
                    raise AssertionError("benchmark authorisation refused")
            spent += time.process_time() - start
            n += len(auths)
        return n / spent


def authorisations_per_s_wall(seconds: float, group: int = GROUP) -> float:
    """Durable decisions answered per wall second, `group` requests per group commit."""
    with tempfile.TemporaryDirectory() as d:
        core = _core(d)
        ring = _device(core, KeyType.SECP256K1)
        node_id = core.create_nodes(1, now=_T0)[0]
        handler = LinkHandler(core)
        n, spent = 0, 0.0
        while spent < seconds:
            auths = _authorisations(ring, node_id, n + 1, _BATCH)
            frames = [
                lp.AuthorisePayment(i, node_id, 1, a).encode() for i, a in enumerate(auths, 1)
            ]
            start = time.perf_counter()
            for i in range(0, len(frames), group):
                with handler.group():
                    answers = [handler.handle_bytes(f, _T0) for f in frames[i : i + group]]
                # Here, after the COMMIT, the daemon sends the answers.
                for a in answers:
                    ans = lp.decode(a)
                    if not (isinstance(ans, lp.DecisionFrame) and ans.outcome == "approve"):
                        raise AssertionError(f"benchmark authorisation refused: {ans}")
            spent += time.perf_counter() - start
            n += len(frames)
        return n / spent


def nodes_created_per_s(seconds: float) -> float:
    with tempfile.TemporaryDirectory() as d:
        core = _core(d)
        n, start = 0, time.process_time()
        while time.process_time() - start < seconds:
            n += len(core.create_nodes(100, now=_T0))
        return n / (time.process_time() - start)


def _signer_process(directory: str, port: int, runtime_pubkey: bytes, nodes: int) -> None:
    """A signer daemon serving the hub at `port` (runs in a child process)."""
    from vajra.noise import StaticKey
    from vajra.signer.daemon import RuntimeAddress, SignerDaemon
    from vajra.signer.link_server import LinkHandler

    core = _core(directory)
    core.create_nodes(nodes, now=_T0)
    link_key = StaticKey(core.keys.link_key().secret)
    rt = RuntimeAddress("127.0.0.1", port, runtime_pubkey)
    asyncio.run(SignerDaemon(LinkHandler(core), link_key, rt, None).run())


async def _roundtrips(directory: str, n: int) -> dict[str, float]:
    from vajra.runtime.signer_hub import SignerHub

    hub = SignerHub(Path(directory) / "hub")
    await hub.start()
    signer_keys = SignerKeys(bytes(range(64)))
    hub.pins.pin(signer_keys.link_key().pubkey)  # paired beforehand
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(
        target=_signer_process, args=(directory, hub.port, hub.pubkey, 1), daemon=True
    )
    child.start()
    try:
        rs = hub.signer(1)
        await rs.wait_connected(30)
        node = signer_keys.node(0).node_id
        for _ in range(200):  # warm up both ends
            await rs.ping()
        out: dict[str, float] = {}
        for key, call in (
            ("roundtrip_ms", rs.ping),
            ("state_key_roundtrip_ms", lambda: rs.state_key(node, 1)),
        ):
            times = []
            for _ in range(n):
                t = time.perf_counter()
                await call()
                times.append((time.perf_counter() - t) * 1000)
            out[key + "_p50"] = round(percentile(times, 0.50), 3)
            out[key + "_p99"] = round(percentile(times, 0.99), 3)
        return out
    finally:
        child.terminate()
        child.join(10)
        await hub.close()


def state_key_decisions_per_s(seconds: float, sealed: bool) -> float:
    """`SignerCore.state_key` decisions per CPU second, without fsync, on a sealed
    (integrity-tracked, decision 0012) or a plain SQLite state: the MAC's cost."""
    keys = SignerKeys(bytes(range(64)))
    with tempfile.TemporaryDirectory() as d:
        key = keys.state_key() if sealed else None
        core = SignerCore(keys, SqliteState(Path(d) / "s.db", durable=False, key=key))
        nodes = core.create_nodes(100, now=_T0)
        n, start = 0, time.process_time()
        while time.process_time() - start < seconds:
            core.state_key(nodes[n % 100], epoch=1 + n, now=_T0 + n)
            n += 1
        return n / (time.process_time() - start)


def sealed_open_ms_per_1k_rows(rows: int = 20_000) -> float:
    """Opening a sealed state (MAC recomputed over every row, cross-check with the log),
    milliseconds per 1,000 rows, wall clock."""
    keys = SignerKeys(bytes(range(64)))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "s.db"
        st = SqliteState(path, durable=False, key=keys.state_key())
        core = SignerCore(keys, st)
        nodes = core.create_nodes(100, now=_T0)
        for n in range(rows // 2):  # one audit row and one epoch write each
            core.state_key(nodes[n % 100], epoch=1 + n, now=_T0 + n)
        st.close()
        c = sqlite3.connect(path)
        total = sum(
            int(c.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
            for t in ("audit", "nodes", "epochs", "meta", "devices", "spends")
        )
        c.close()
        t0 = time.perf_counter()
        SqliteState(path, durable=False, key=keys.state_key(), create=False).close()
        return (time.perf_counter() - t0) * 1000 / (total / 1000)


def roundtrips(n: int = 2000) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        return asyncio.run(_roundtrips(d, n))


def run(seconds: float = 1.0, runs: int = 3) -> dict[str, Any]:
    out: dict[str, Any] = {}
    all_runs: dict[str, list[float]] = {}
    figures = {
        "authorisations_per_cpu_s_secp256k1": lambda: authorisations_per_cpu_s(
            seconds, KeyType.SECP256K1
        ),
        "authorisations_per_cpu_s_p256": lambda: authorisations_per_cpu_s(seconds, KeyType.P256),
        "authorisations_per_s_wall": lambda: authorisations_per_s_wall(seconds),
        "authorisations_per_s_wall_unbatched": lambda: authorisations_per_s_wall(seconds, 1),
        "nodes_created_per_s": lambda: nodes_created_per_s(seconds),
        "state_key_decisions_per_s_cpu_sealed": lambda: state_key_decisions_per_s(seconds, True),
        "state_key_decisions_per_s_cpu_plain": lambda: state_key_decisions_per_s(seconds, False),
        "channel_requests_per_s_cpu_sealed": lambda: channel_requests_per_s(seconds),
    }
    for key, fn in figures.items():
        med, xs = median_of(runs, fn)
        out[key] = round(med)
        all_runs[key] = [round(x) for x in xs]
    med, xs = median_of(runs, sealed_open_ms_per_1k_rows)
    out["sealed_open_ms_per_1k_rows"] = round(med, 1)
    all_runs["sealed_open_ms_per_1k_rows"] = [round(x, 1) for x in xs]
    out["authorisations_per_cpu_s"] = min(
        out["authorisations_per_cpu_s_secp256k1"], out["authorisations_per_cpu_s_p256"]
    )
    out["group_commit_requests"] = GROUP
    rt_runs = [roundtrips() for _ in range(runs)]
    for key in rt_runs[0]:
        xs = sorted(r[key] for r in rt_runs)
        out[key] = xs[len(xs) // 2]
        all_runs[key] = [r[key] for r in rt_runs]
    out["targets"] = {**TARGETS, **{f"{k} (max)": v for k, v in TARGETS_MAX.items()}}
    out["meets_targets"] = all(out[k] >= v for k, v in TARGETS.items()) and all(
        out[k] <= v for k, v in TARGETS_MAX.items()
    )
    out["runs"] = all_runs
    out["seconds_per_run"] = seconds
    return out
