"""`vajra bench`: benchmarks that print one JSON object and append it to bench/RESULTS.md."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vajra.benchmarks import results


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "bench",
        help="run a benchmark; print JSON; append it to bench/RESULTS.md",
        description=(
            "Run a benchmark and print one JSON object. The result is appended to "
            "bench/RESULTS.md (of the checkout you run from) with the machine and the "
            "command, unless --no-record. Figures are medians of several runs."
        ),
    )
    bs = p.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    pp = bs.add_parser(
        "protocol",
        help="BOLT 8 handshakes, frames and channel_update decodes per second per core",
    )
    pp.add_argument("--seconds", type=float, default=1.0, help="length of each run")
    pp.add_argument("--runs", type=int, default=5, help="runs per figure (median reported)")
    _common(pp)
    pp.set_defaults(func=_protocol)
    ph = bs.add_parser(
        "hosting",
        help="a runtime hosting N nodes: memory per node, init latency, handshakes, pongs, wakes",
    )
    ph.add_argument(
        "--nodes", type=int, default=None, help="nodes to host (10,000; 1,000 with --signer)"
    )
    ph.add_argument("--workers", type=int, default=2, help="runtime worker processes")
    ph.add_argument("--seconds", type=float, default=5.0, help="length of the rate phases")
    ph.add_argument("--pong-connections", type=int, default=1000)
    ph.add_argument(
        "--signer",
        action="store_true",
        help="only wakes, with a live `vajra signer` on loopback (state keys over the link)",
    )
    ph.add_argument("--wake-samples", type=int, default=200, help="wakes measured (--signer)")
    _common(ph)
    ph.set_defaults(func=_hosting)

    po = bs.add_parser(
        "onion",
        help="BOLT 4 per HTLC: onion builds, peels, final-node receives, failure packets",
    )
    po.add_argument("--seconds", type=float, default=1.0, help="length of each run")
    po.add_argument("--runs", type=int, default=5, help="runs per figure (median reported)")
    _common(po)
    po.set_defaults(func=_onion)

    ps = bs.add_parser(
        "signer",
        help="signer: link round trip, authorisations and node creation per second",
    )
    ps.add_argument("--seconds", type=float, default=1.0, help="length of each run")
    ps.add_argument("--runs", type=int, default=3, help="runs per figure (median reported)")
    _common(ps)
    ps.set_defaults(func=_signer)
    _register_chain(bs)
    _register_routing(bs)
    _register_channels(bs)
    _register_enforcement(bs)
    _register_payments(bs)


def _register_enforcement(bs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pe = bs.add_parser(
        "enforcement",
        help="justice store: bytes per revoked state, breach block -> penalty broadcast",
        description=(
            "Store --items sealed penalty kits (real signed penalties of revoked "
            "commitments; --distinct built one by one) in a watcher's store file and "
            "measure the bytes per revoked state; then parse and connect a block of "
            "--block-txs transactions holding one revoked commitment, --runs times, "
            "and time it until the penalty is handed to the broadcaster."
        ),
    )
    pe.add_argument("--items", type=int, default=1_000_000, help="stored kits (revoked states)")
    pe.add_argument("--distinct", type=int, default=2000, help="kits built and signed one by one")
    pe.add_argument("--block-txs", type=int, default=3000, help="transactions in the block")
    pe.add_argument("--runs", type=int, default=20, help="breach blocks timed")
    _common(pe)
    pe.set_defaults(func=_enforcement)


def _enforcement(args: argparse.Namespace) -> int:
    from vajra.benchmarks import enforcement
    from vajra.cli_errors import UsageError, report

    for flag, value in (("--items", args.items), ("--distinct", args.distinct),
                        ("--block-txs", args.block_txs), ("--runs", args.runs)):  # fmt: skip
        if value < 1:
            return report(UsageError(flag, value, "must be at least 1"), args.json)
    if args.distinct > args.items:
        return report(UsageError("--distinct", args.distinct, "must not exceed --items"), args.json)
    start = results.conditions()
    out = enforcement.run(args.items, args.distinct, args.block_txs, args.runs)
    return _emit("enforcement", out, args, start)


def _register_channels(bs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pc = bs.add_parser(
        "channels",
        help="a hosted node's channel: HTLC cycles per CPU second, every signature validated",
        description=(
            "Run --cycles HTLC cycles (update_add_htlc, the commitment dance, "
            "update_fulfill_htlc, the dance again) between two channel cores in this "
            "process; the hosted side's every signer request goes through SignerCore."
            "channel_request on a sealed, durable SQLite signer state. Reports cycles per "
            "CPU second and per wall second and the CPU split between signers and cores. "
            "Then a `vajra runtime --dev` (--workers) gets N plain nodes twice, then N nodes "
            "each with a channel opened for real by our BOLT 8 initiator as funder, twice: "
            "RSS slopes per sleeping node with and without a channel, and --wake-samples "
            "reconnects to sleeping nodes timed to their channel_reestablish."
        ),
    )
    pc.add_argument("--cycles", type=int, default=300, help="HTLC cycles timed")
    pc.add_argument(
        "--nodes", type=int, default=3000, help="N: the RSS slopes are taken between N and 2N"
    )
    pc.add_argument("--wake-samples", type=int, default=200, help="reestablish wakes timed")
    pc.add_argument("--workers", type=int, default=2, help="runtime worker processes")
    pc.add_argument(
        "--no-runtime", action="store_true", help="only the in-process HTLC cycle figures"
    )
    pc.add_argument(
        "--signer",
        action="store_true",
        help="runtime without --dev and a live `vajra signer run` on loopback",
    )
    _common(pc)
    pc.set_defaults(func=_channels)


def _channels(args: argparse.Namespace) -> int:
    from vajra.benchmarks import channels
    from vajra.cli_errors import UsageError, report

    for flag, value in (
        ("--cycles", args.cycles),
        ("--nodes", args.nodes),
        ("--wake-samples", args.wake_samples),
        ("--workers", args.workers),
    ):
        if value < 1:
            return report(UsageError(flag, value, "must be at least 1"), args.json)
    if args.wake_samples > 2 * args.nodes:
        return report(
            UsageError("--wake-samples", args.wake_samples, "must not exceed 2 x --nodes"),
            args.json,
        )
    start = results.conditions()
    out = channels.run(args.cycles)
    if not args.no_runtime:
        out |= channels.run_runtime(args.nodes, args.wake_samples, args.workers, args.signer)
    return _emit("channels", out, args, start)


def _register_payments(bs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pp = bs.add_parser(
        "payments",
        help="a hosted node's two-hop send (H -> LND-A -> LND-B) against LND's, one run",
        description=(
            "Start btcd and three LND nodes (A-B and C-A public, A-H private), a runtime "
            "with its live signer syncing the one graph from LND-A, and time --payments "
            "sends of --amount-msat each from H (admin API, the ring's authorisation) and "
            "from LND-C, interleaved; then route_ms on a synthetic 50,000-channel graph. "
            "Needs the test bed (testbed/install.sh). Takes a few minutes."
        ),
    )
    pp.add_argument("--payments", type=int, default=30, help="payments from each sender")
    pp.add_argument("--amount-msat", type=int, default=10_000_000, help="each payment")
    pp.add_argument("--route-pairs", type=int, default=50, help="searches on the big graph")
    _common(pp)
    pp.set_defaults(func=_payments)


def _payments(args: argparse.Namespace) -> int:
    from vajra.benchmarks import payments
    from vajra.cli_errors import UsageError, report

    start = results.conditions()
    for flag, value, low in (("--payments", args.payments, 1),
                             ("--amount-msat", args.amount_msat, 1000),
                             ("--route-pairs", args.route_pairs, 1)):  # fmt: skip
        if value < low:
            return report(UsageError(flag, value, f"must be at least {low}"), args.json)
    out = payments.run(args.payments, args.amount_msat, args.route_pairs)
    return _emit("payments", out, args, start)


def _register_routing(bs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pr = bs.add_parser(
        "routing",
        help="the shared graph: bytes per channel, route search time, gossip apply rates",
        description=(
            "Build a synthetic mainnet-size graph (--channels, --nodes, seeded) through the "
            "graph's insert API; measure its heap per channel (tracemalloc slope between "
            "N/2 and N channels) and find_route between --pairs random node pairs; apply "
            "200 signed channel_announcements and 400 channel_updates through GossipCore."
        ),
    )
    pr.add_argument("--channels", type=int, default=50_000, help="channels in the graph")
    pr.add_argument("--nodes", type=int, default=15_000, help="nodes in the graph")
    pr.add_argument("--pairs", type=int, default=200, help="route searches timed")
    pr.add_argument("--seed", type=int, default=1, help="graph and pair generator seed")
    _common(pr)
    pr.set_defaults(func=_routing)


def _routing(args: argparse.Namespace) -> int:
    from vajra.benchmarks import routing
    from vajra.cli_errors import UsageError, report

    for flag, value, least in (
        ("--channels", args.channels, 100),
        ("--nodes", args.nodes, 10),
        ("--pairs", args.pairs, 1),
    ):
        if value < least:
            return report(UsageError(flag, value, f"must be at least {least}"), args.json)
    if args.nodes > args.channels:
        return report(UsageError("--nodes", args.nodes, "must not exceed --channels"), args.json)
    start = results.conditions()
    out = routing.run(args.channels, args.nodes, args.pairs, args.seed)
    return _emit("routing", out, args, start)


def _register_chain(bs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pc = bs.add_parser(
        "chain",
        help="the shared chain watcher: RSS per watched item, block scan, btcd catch-up",
        description=(
            "Load --items watched scripts (one per node) into a fresh watcher process and "
            "measure its RSS per item; scan a built block of --block-txs transactions "
            "--scan-runs times; catch up --catchup-blocks regtest blocks mined by a test-bed "
            "btcd (0 skips it; needs testbed/install.sh)."
        ),
    )
    pc.add_argument("--items", type=int, default=1_000_000, help="watched scripts (nodes)")
    pc.add_argument("--block-txs", type=int, default=4000, help="transactions in the block")
    pc.add_argument("--scan-runs", type=int, default=30, help="block scans timed")
    pc.add_argument("--catchup-blocks", type=int, default=1000, help="btcd blocks to catch up")
    _common(pc)
    pc.set_defaults(func=_chain)


def _chain(args: argparse.Namespace) -> int:
    import sys

    from vajra.benchmarks import chain
    from vajra.errors import VajraError

    start = results.conditions()
    try:
        out = chain.run(args.items, args.block_txs, args.scan_runs, args.catchup_blocks)
    except (VajraError, RuntimeError) as e:  # e.g. the test bed's btcd is not installed
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if args.json:
            print(json.dumps({"error": type(e).__name__, "message": msg}), file=sys.stderr)
        else:
            print(f"error: {msg}", file=sys.stderr)
        return 1
    return _emit("chain", out, args, start)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print only the JSON object")
    p.add_argument("--results", type=Path, default=None, help="file to append to")
    p.add_argument("--no-record", action="store_true", help="do not append to a file")


def _emit(
    name: str, out: dict[str, object], args: argparse.Namespace, start: dict[str, object]
) -> int:
    out = {**out, "conditions": start}
    print(json.dumps(out, indent=None if args.json else 2))
    if not args.no_record:
        results.record(name, out, args.results or results.default_results_path())
    return 0


def _protocol(args: argparse.Namespace) -> int:
    from vajra.benchmarks import protocol

    start = results.conditions()
    return _emit("protocol", protocol.run(args.seconds, args.runs), args, start)


def _onion(args: argparse.Namespace) -> int:
    from vajra.benchmarks import onion

    start = results.conditions()
    return _emit("onion", onion.run(args.seconds, args.runs), args, start)


def _hosting(args: argparse.Namespace) -> int:
    from vajra.benchmarks import hosting, hosting_signer

    start = results.conditions()
    if args.signer:
        nodes = args.nodes or 1000
        out = hosting_signer.run_with_signer(
            nodes, workers=args.workers, wake_samples=args.wake_samples
        )
        return _emit("hosting_signer", out, args, start)
    out = hosting.run(
        args.nodes or 10_000,
        workers=args.workers,
        seconds=args.seconds,
        pong_connections=args.pong_connections,
    )
    return _emit("hosting", out, args, start)


def _signer(args: argparse.Namespace) -> int:
    from vajra.benchmarks import signer

    start = results.conditions()
    return _emit("signer", signer.run(args.seconds, args.runs), args, start)
