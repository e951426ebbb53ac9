"""`vajra runtime` (host nodes) and `vajra nodes ...` (administer a running runtime).

`vajra nodes` talks to the runtime's admin API on its Unix socket (0600, the runtime's
user only; decision 0013), found through the file `<store>.runtime.json` the runtime
writes when ready (or `--admin SOCKET`): creating a node needs the runtime's signer and
must reach the workers' key table, so the CLI never writes the store itself.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vajra.cli_errors import UsageError
from vajra.errors import VajraError
from vajra.runtime.fabric import DEFAULT_POOL

if TYPE_CHECKING:
    from vajra.runtime.admin_client import AdminClient


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _register_runtime(sub)
    _register_nodes(sub)


def _register_runtime(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "runtime",
        help="host many Lightning nodes (supervisor + worker processes)",
        description=(
            "Host every node registered in --store, each at its own IP on one port. Prints "
            'one JSON line {"event":"ready",...} on stdout once every worker listens.'
        ),
    )
    p.add_argument("--store", default=None, help="SQLite store file (created if missing)")
    p.add_argument("--listen-port", type=int, default=9735, help="port every node listens on")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes")
    p.add_argument("--pool", default=DEFAULT_POOL, help="node addresses: CIDR[@OFFSET]")
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus /metrics (and nothing else) on 127.0.0.1:PORT (0: any)",
    )
    p.add_argument(
        "--admin-socket",
        default=None,
        help="the admin API's Unix socket (default <store>.admin.sock; mode 0600)",
    )
    p.add_argument("--runtime-id", default=None, help="lease owner id (default host:port)")
    p.add_argument("--idle-timeout", type=float, default=5.0, help="seconds before a node sleeps")
    p.add_argument("--capacity", type=int, default=1 << 21, help="max nodes (key table size)")
    p.add_argument("--dev", action="store_true", help="in-process signer (dev/test only)")
    p.add_argument(
        "--signer-port",
        type=int,
        default=9736,
        help="port live signers dial (`vajra signer pair/run`); 0: any (see the ready line)",
    )
    p.add_argument(
        "--signer-host",
        default="127.0.0.1",
        help="address the signer hub binds (default loopback only; signers on other hosts "
        "need a reachable address, e.g. 0.0.0.0 for every interface)",
    )
    p.add_argument(
        "--dev-seed",
        default=None,
        help="hex seed of the --dev signer (or env VAJRA_DEV_SEED; default: a fresh one, "
        "so nodes do not survive a restart)",
    )
    p.add_argument(
        "--dev-node-secret",
        default=None,
        help="host exactly one node with this hex identity secret, left-padded to 32 bytes "
        "(lnprototest's '01')",
    )
    p.add_argument("--create", type=int, default=0, help="create this many nodes at start")
    p.add_argument("--handshake-timeout", type=float, default=10.0, help="seconds to init")
    p.add_argument(
        "--max-per-node",
        type=int,
        default=64,
        help="connection slots per node per worker; when full, a new connection evicts the "
        "longest idle session of the source holding most slots (docs/ARCHITECTURE.md)",
    )
    p.add_argument(
        "--max-per-source-node",
        type=int,
        default=8,
        help="connections from one source (IPv4 address / IPv6 /64) to one node, per worker",
    )
    p.add_argument(
        "--max-per-source", type=int, default=4096, help="connections from one source per worker"
    )
    p.add_argument(
        "--frame-timeout",
        type=float,
        default=30.0,
        help="seconds for the rest of a frame once its first byte arrived",
    )
    p.add_argument(
        "--session-idle-timeout",
        type=float,
        default=300.0,
        help="seconds of silence after which a session without a channel is closed",
    )
    p.add_argument(
        "--node-wake-burst", type=int, default=4, help="wakes a sleeping node may get at once"
    )
    p.add_argument(
        "--node-wakes-per-minute", type=float, default=6.0, help="wake refill rate per node"
    )
    p.add_argument(
        "--peer-wake-burst", type=int, default=4, help="wakes one peer may cause at once"
    )
    p.add_argument(
        "--peer-wakes-per-minute", type=float, default=6.0, help="wake refill rate per peer"
    )
    p.add_argument(
        "--max-connections", type=int, default=16000, help="connections per worker (fd limit)"
    )
    p.add_argument(
        "--min-channel-sat",
        type=int,
        default=20_000,
        help="inbound policy: the smallest channel (funding_satoshis) a hosted node accepts",
    )
    p.add_argument(
        "--channel-peer",
        action="append",
        default=[],
        metavar="NODE_ID",
        help="inbound policy: only this peer (66-hex node id) may open channels to hosted "
        "nodes; repeat for several. Default: anyone",
    )
    p.add_argument(
        "--chain",
        default=None,
        metavar="URL",
        help="chain source: btcd://USER:PASS@HOST:PORT?cert=RPC_CERT (&notls=1 for a btcd "
        "run with --notls). Default: $VAJRA_CHAIN_URL, which keeps the password out "
        "of the process list. Without one the runtime runs no chain watcher",
    )
    p.add_argument(
        "--gossip-peer",
        action="append",
        default=[],
        metavar="NODE_ID@HOST:PORT",
        help="a peer the runtime syncs the one BOLT 7 graph from, shared by every hosted "
        "node's payments (needs --chain: announced funding outputs are checked on it); "
        "repeat for several. Default: none (routes only over invoice hints and the "
        "node's own channel)",
    )
    p.add_argument("--chain-poll", type=float, default=1.0, help="seconds between tip polls")
    p.add_argument(
        "--chain-start-height",
        type=int,
        default=None,
        help="first block a new watcher scans (default: the source's tip at first start)",
    )
    p.add_argument("--fee-floor", type=int, default=1012, help="fee rate floor, sat/kvB")
    p.add_argument("--fee-ceiling", type=int, default=500_000, help="fee rate ceiling, sat/kvB")
    p.add_argument(
        "--fee-fallback",
        type=int,
        default=25_000,
        help="fee rate when the source has no estimate (btcd on regtest), sat/kvB",
    )
    p.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,  # `debug` works as well as `DEBUG` (was a traceback)
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        help="log level of the runtime and its workers (default INFO)",
    )
    p.set_defaults(func=_runtime)
    _register_runtime_actions(p)


def _register_runtime_actions(p: argparse.ArgumentParser) -> None:
    """`vajra runtime pairing-code` and `vajra runtime signers` (to a running runtime)."""
    rs = p.add_subparsers(dest="runtime_cmd", metavar="ACTION")
    pc = rs.add_parser(
        "pairing-code",
        help="a one-time code to pair a signer with this running runtime (10 minutes)",
        description="Ask the running runtime for a pairing code; give it to `vajra signer "
        "pair --runtime HOST:SIGNER_PORT --code CODE` on the signer's box.",
    )
    pc.add_argument("--store", default=None, help="store of the running runtime")
    pc.add_argument("--admin", default=None, help="admin socket path (instead of --store)")
    pc.add_argument("--json", action="store_true", help="one JSON object")
    pc.set_defaults(func=_pairing_code)
    sg = rs.add_parser("signers", help="paired signers (id, key, connected, loaded)")
    sg.add_argument("--store", default=None, help="store of the running runtime")
    sg.add_argument("--admin", default=None, help="admin socket path (instead of --store)")
    sg.set_defaults(func=_signers)


def _register_nodes(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    n = sub.add_parser("nodes", help="create, list and show hosted nodes (via a runtime)")
    n.add_argument("--store", default=None, help="store of the runtime to talk to")
    n.add_argument("--admin", default=None, help="admin socket path (instead of --store)")
    ns = n.add_subparsers(dest="nodes_cmd", metavar="ACTION", required=True)
    c = ns.add_parser("create", help="create nodes (progress bar on a TTY; JSON summary)")
    c.add_argument("--count", type=int, required=True, help="nodes to create (1 or more)")
    c.add_argument("--batch", type=int, default=10_000, help="nodes per admin request")
    c.add_argument(
        "--signer", type=int, default=None, help="signer id (default: the only paired one)"
    )
    c.add_argument("--json", action="store_true", help="no progress bar; errors as JSON")
    c.set_defaults(func=_nodes_create)
    ls = ns.add_parser("list", help="list nodes (node_id, host, port, state)")
    ls.add_argument("--json", action="store_true", help="one JSON array")
    ls.add_argument("--limit", type=int, default=None)
    ls.set_defaults(func=_nodes_list)
    sh = ns.add_parser("show", help="one node as JSON")
    sh.add_argument("id", help="node id (66 hex characters)")
    sh.set_defaults(func=_nodes_show)


# --- vajra runtime -------------------------------------------------------------------------


def _runtime(args: argparse.Namespace) -> int:
    from vajra.runtime.local_signer import FixedIdentitySigner, LocalSigner
    from vajra.runtime.signer_api import SignerClient
    from vajra.runtime.supervisor import RuntimeConfig, RuntimeStartError, Supervisor
    from vajra.runtime.worker import run

    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="ts=%(asctime)s level=%(levelname)s proc=supervisor %(message)s",
    )
    if not args.store:
        raise UsageError("--store", "(none)", "give the SQLite store file to host from")
    _check_options(args)
    # Everything the runtime writes (store, WAL, runtime.json, the hub's files, logs it
    # opens) is for its own user only: 0600 files, 0700 directories.
    os.umask(0o077)
    _check_store(args.store)
    from vajra.osutil import AlreadyRunning, exclusive_lock, no_core_dumps

    try:  # one runtime per store (issue 13 item 5); held until this process exits
        lock_fd = exclusive_lock(Path(args.store + ".lock"), f"a runtime on {args.store}")
    except (AlreadyRunning, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    no_core_dumps()  # identity secrets live in this process and its workers
    signer: SignerClient | None = None
    hub = None
    spec: dict[str, Any] = {}
    if not (args.dev or args.dev_node_secret):
        from vajra.runtime.signer_hub import KEY_PASSWORD_ENV, SignerHub

        # The hub's state (link key, pins) sits next to the store; identities stay in RAM.
        hub = SignerHub(
            Path(args.store + ".hub"),
            args.signer_host,
            args.signer_port,
            key_password=os.environ.get(KEY_PASSWORD_ENV) or None,
        )
    elif args.dev_node_secret:
        # lnprototest writes its keys short ("01"): left-pad to 32 bytes.
        secret = bytes.fromhex(args.dev_node_secret.rjust(64, "0"))
        signer = FixedIdentitySigner(secret)
        spec = {"kind": "fixed", "secret": secret.hex()}
    else:
        seed_hex = args.dev_seed or os.environ.get("VAJRA_DEV_SEED") or os.urandom(32).hex()
        state = args.store + ".signer"
        signer = LocalSigner.open(bytes.fromhex(seed_hex), state)
        spec = {"kind": "dev", "seed": seed_hex, "state": state}
    from vajra.chain.fees import FeePolicy

    try:
        fees = FeePolicy(args.fee_floor, args.fee_ceiling, args.fee_fallback)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cfg = RuntimeConfig(
        # Taken out of the environment so the worker processes do not inherit the password.
        chain_url=args.chain or os.environ.pop("VAJRA_CHAIN_URL", None) or None,
        chain_poll=args.chain_poll,
        gossip_peers=list(args.gossip_peer),
        chain_start_height=args.chain_start_height,
        fee_policy=fees,
        store=args.store,
        listen_port=args.listen_port,
        workers=max(1, args.workers),
        pool=args.pool,
        admin_socket=args.admin_socket,
        metrics_port=args.metrics_port,
        capacity=args.capacity,
        runtime_id=args.runtime_id,
        idle_timeout=args.idle_timeout,
        signer=spec,
        log_level=args.log_level,
        worker_options={
            "handshake_timeout": args.handshake_timeout,
            "max_per_node": args.max_per_node,
            "max_connections": args.max_connections,
            "max_per_source_node": args.max_per_source_node,
            "max_per_source": args.max_per_source,
            "frame_timeout": args.frame_timeout,
            "session_idle_timeout": args.session_idle_timeout,
            "node_wake_burst": args.node_wake_burst,
            "node_wakes_per_minute": args.node_wakes_per_minute,
            "peer_wake_burst": args.peer_wake_burst,
            "peer_wakes_per_minute": args.peer_wakes_per_minute,
            "min_channel_sat": args.min_channel_sat,
            "channel_peers": [p.lower() for p in args.channel_peer],
        },
    )

    async def main() -> None:
        sup = Supervisor(cfg, signer, hub)  # RuntimeError_ on a bad --chain
        await sup.run(create=args.create, exactly_one=bool(args.dev_node_secret))

    try:
        run(main())
    except RuntimeStartError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        os.close(lock_fd)
    return 0


def _check_options(args: argparse.Namespace) -> None:
    """Every number and the pool, checked before anything starts (UsageError naming the
    flag and the value)."""
    from vajra.runtime.fabric import AddressPool, PoolError

    ports = {"--listen-port": args.listen_port, "--signer-port": args.signer_port,
             "--metrics-port": args.metrics_port}  # fmt: skip
    for flag, port in ports.items():
        if port is not None and not 0 <= port <= 65535:
            raise UsageError(flag, port, "a port is 0..65535")
    counts = {"--workers": args.workers, "--capacity": args.capacity,
              "--max-per-node": args.max_per_node, "--max-connections": args.max_connections}  # fmt: skip
    for flag, n in counts.items():
        if n < 1:
            raise UsageError(flag, n, "must be at least 1")
    if args.create < 0:
        raise UsageError("--create", args.create, "must be 0 or more")
    if args.min_channel_sat < 1:
        raise UsageError("--min-channel-sat", args.min_channel_sat, "must be at least 1 sat")
    for peer in args.channel_peer:
        try:
            ok = len(bytes.fromhex(peer)) == 33 and peer[:2] in ("02", "03")
        except ValueError:
            ok = False
        if not ok:
            raise UsageError("--channel-peer", peer, "a node id is 66 hex digits (02.. or 03..)")
    for flag, s in (("--idle-timeout", args.idle_timeout),
                    ("--handshake-timeout", args.handshake_timeout)):  # fmt: skip
        if not s > 0:
            raise UsageError(flag, s, "must be more than 0 seconds")
    if args.admin_socket and not os.path.isdir(os.path.dirname(os.path.abspath(args.admin_socket))):
        raise UsageError("--admin-socket", args.admin_socket, "its directory does not exist")
    try:
        AddressPool.parse(args.pool, args.listen_port or 9735)
    except PoolError as e:
        raise UsageError("--pool", args.pool, str(e)) from None


def _check_store(store: str) -> None:
    """A store the runtime can open and write, or a UsageError naming it (before any
    process starts: a bad path is one line, not a traceback)."""
    import sqlite3

    from vajra.store import SqliteStore

    parent = os.path.dirname(os.path.abspath(store))
    if not os.path.isdir(parent):
        raise UsageError("--store", store, f"the directory {parent} does not exist")
    try:
        SqliteStore(store).close()
    except (sqlite3.Error, OSError, VajraError) as e:
        raise UsageError("--store", store, f"cannot open or write it ({e})") from None


# --- vajra nodes ----------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> AdminClient:
    from vajra.runtime.admin_client import AdminClient

    if args.admin:
        return AdminClient(args.admin)
    if not args.store:
        raise UsageError("--store", "(none)", "give the store of a running runtime "
                         "(or --admin SOCKET)")  # fmt: skip
    return AdminClient.for_store(args.store)


def _nodes_create(args: argparse.Namespace) -> int:
    if args.count < 1:
        raise UsageError("--count", args.count, "must be at least 1")
    if args.batch < 1:
        raise UsageError("--batch", args.batch, "must be at least 1")
    if args.signer is not None and args.signer < 1:
        raise UsageError("--signer", args.signer, "a signer id is 1 or more")
    client = _client(args)
    done = total = 0
    first = last = None
    progress = _progress(args.count) if sys.stderr.isatty() and not args.json else None
    try:
        while done < args.count:
            body: dict[str, Any] = {"count": min(args.batch, args.count - done)}
            if args.signer is not None:
                body["signer"] = args.signer
            out = client.post("/v1/nodes", body)
            done += out["created"]
            first = first or out["first"]
            last, total = out["last"], out["total"]
            if progress is not None:
                progress[0].update(progress[1], completed=done)
    finally:
        if progress is not None:
            progress[0].stop()
    print(json.dumps({"created": done, "total": total, "first": first, "last": last}))
    return 0


def _progress(total: int) -> tuple[Any, Any]:
    """A rich progress bar on stderr: (Progress, task id)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), console=Console(stderr=True), transient=False,
    )  # fmt: skip
    bar.start()
    return bar, bar.add_task("creating nodes", total=total)


def _pairing_code(args: argparse.Namespace) -> int:
    out = _client(args).post("/v1/pairing-code", {})
    if args.json:
        print(json.dumps(out))
    else:
        print(out["code"])
        print(
            f"valid until {out['expires']} (unix), once; on the signer's box: vajra signer pair "
            f"--runtime HOST:{out['signer_port']} --code {out['code']}",
            file=sys.stderr,
        )
    return 0


def _signers(args: argparse.Namespace) -> int:
    print(json.dumps(_client(args).get("/v1/signers")))
    return 0


def _nodes_list(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 0:
        raise UsageError("--limit", args.limit, "must be 0 or more")
    client = _client(args)
    after = None
    nodes: list[dict[str, Any]] = []
    while args.limit is None or len(nodes) < args.limit:
        page = client.get("/v1/nodes?limit=10000" + (f"&after={after}" if after else ""))
        for n in page["nodes"][: None if args.limit is None else args.limit - len(nodes)]:
            nodes.append(n)
            if not args.json:
                print(f"{n['node_id']}  {n['host']}:{n['port']}  {n['state']}")
        after = page["next"]
        if after is None:
            break
    if args.json:
        print(json.dumps(nodes))
    return 0


def _nodes_show(args: argparse.Namespace) -> int:
    try:
        ok = len(bytes.fromhex(args.id)) == 33
    except ValueError:
        ok = False
    if not ok:
        raise UsageError("id", args.id, "a node id is 66 hex characters")
    print(json.dumps(_client(args).get(f"/v1/nodes/{args.id}")))
    return 0
