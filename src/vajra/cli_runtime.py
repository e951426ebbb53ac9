"""`vajra runtime` (host nodes) and `vajra nodes ...` (administer a running runtime).

`vajra nodes` talks to the runtime's loopback admin API, found through the file
`<store>.runtime.json` the runtime writes when ready (or `--admin HOST:PORT`): creating
a node needs the runtime's signer and must reach the workers' key table, so the CLI never
writes the store itself.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from vajra.runtime.fabric import DEFAULT_POOL


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
    p.add_argument("--metrics-port", type=int, default=None, help="Prometheus /metrics port")
    p.add_argument("--admin-port", type=int, default=0, help="loopback admin API port (0: any)")
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
    p.add_argument("--signer-host", default="0.0.0.0", help="address the signer hub binds")
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
    p.add_argument("--max-per-node", type=int, default=64, help="connections per node per worker")
    p.add_argument(
        "--max-connections", type=int, default=16000, help="connections per worker (fd limit)"
    )
    p.add_argument("--log-level", default="INFO")
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
    pc.add_argument("--store", required=True, help="store of the running runtime")
    pc.add_argument("--admin", default=None, help="admin API HOST:PORT (instead of --store)")
    pc.add_argument("--json", action="store_true", help="one JSON object")
    pc.set_defaults(func=_pairing_code)
    sg = rs.add_parser("signers", help="paired signers (id, key, connected, loaded)")
    sg.add_argument("--store", required=True, help="store of the running runtime")
    sg.add_argument("--admin", default=None, help="admin API HOST:PORT (instead of --store)")
    sg.set_defaults(func=_signers)


def _register_nodes(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    n = sub.add_parser("nodes", help="create, list and show hosted nodes (via a runtime)")
    n.add_argument("--store", default=None, help="store of the runtime to talk to")
    n.add_argument("--admin", default=None, help="admin API HOST:PORT (instead of --store)")
    ns = n.add_subparsers(dest="nodes_cmd", metavar="ACTION", required=True)
    c = ns.add_parser("create", help="create nodes (progress bar on a TTY; JSON summary)")
    c.add_argument("--count", type=int, required=True)
    c.add_argument("--batch", type=int, default=10_000, help="nodes per admin request")
    c.add_argument(
        "--signer", type=int, default=None, help="signer id (default: the only paired one)"
    )
    c.set_defaults(func=_nodes_create)
    ls = ns.add_parser("list", help="list nodes (id, host, port, state)")
    ls.add_argument("--json", action="store_true", help="one JSON array")
    ls.add_argument("--limit", type=int, default=None)
    ls.set_defaults(func=_nodes_list)
    sh = ns.add_parser("show", help="one node as JSON")
    sh.add_argument("id")
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
        print("error: --store is required", file=sys.stderr)
        return 2
    signer: SignerClient | None = None
    hub = None
    spec: dict[str, Any] = {}
    if not (args.dev or args.dev_node_secret):
        from pathlib import Path

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
    cfg = RuntimeConfig(
        store=args.store,
        listen_port=args.listen_port,
        workers=max(1, args.workers),
        pool=args.pool,
        admin_port=args.admin_port,
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
        },
    )

    async def main() -> None:
        sup = Supervisor(cfg, signer, hub)
        await sup.run(create=args.create, exactly_one=bool(args.dev_node_secret))

    try:
        run(main())
    except RuntimeStartError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


# --- vajra nodes ---------------------------------------------------------------------------


def _admin_url(args: argparse.Namespace) -> str:
    if args.admin:
        return f"http://{args.admin}"
    if not args.store:
        raise SystemExit("error: give --store (of a running runtime) or --admin HOST:PORT")
    from vajra.runtime.supervisor import runtime_file

    try:
        info = json.loads(runtime_file(args.store).read_text())
    except (OSError, ValueError):
        raise SystemExit(f"error: no runtime is running on {args.store}") from None
    return f"http://{info['admin']}"


def _call(url: str, method: str = "GET", body: object | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise SystemExit(f"error: {e.code} {e.read().decode(errors='replace').strip()}") from None
    except urllib.error.URLError as e:
        raise SystemExit(f"error: cannot reach the runtime at {url}: {e.reason}") from None


def _nodes_create(args: argparse.Namespace) -> int:
    base = _admin_url(args)
    tty = sys.stderr.isatty()
    done = 0
    first = last = None
    total = 0
    while done < args.count:
        n = min(args.batch, args.count - done)
        body: dict[str, Any] = {"count": n}
        if args.signer is not None:
            body["signer"] = args.signer
        out = _call(base + "/v1/nodes", "POST", body)
        done += out["created"]
        first = first or out["first"]
        last, total = out["last"], out["total"]
        if tty:
            width = 40
            filled = width * done // args.count
            bar = "#" * filled + "-" * (width - filled)
            print(f"\r[{bar}] {done}/{args.count}", end="", file=sys.stderr, flush=True)
    if tty:
        print(file=sys.stderr)
    print(json.dumps({"created": done, "total": total, "first": first, "last": last}))
    return 0


def _pairing_code(args: argparse.Namespace) -> int:
    out = _call(_admin_url(args) + "/v1/pairing-code", "POST", {})
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
    print(json.dumps(_call(_admin_url(args) + "/v1/signers")))
    return 0


def _nodes_list(args: argparse.Namespace) -> int:
    base = _admin_url(args)
    after = None
    nodes: list[dict[str, Any]] = []
    while True:
        q = f"{base}/v1/nodes?limit=10000" + (f"&after={after}" if after else "")
        page = _call(q)
        nodes += page["nodes"]
        after = page["next"]
        if after is None or (args.limit is not None and len(nodes) >= args.limit):
            break
    if args.limit is not None:
        nodes = nodes[: args.limit]
    if args.json:
        print(json.dumps(nodes))
    else:
        for n in nodes:
            print(f"{n['id']}  {n['host']}:{n['port']}  {n['state']}")
    return 0


def _nodes_show(args: argparse.Namespace) -> int:
    print(json.dumps(_call(f"{_admin_url(args)}/v1/nodes/{args.id}")))
    return 0
