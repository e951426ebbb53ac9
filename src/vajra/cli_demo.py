"""`vajra demo`: the main job on embedded defaults (what `make demo` runs)."""

from __future__ import annotations

import argparse
import json
import sys

from vajra.errors import VajraError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="a live signer and a runtime hosting 10,000 nodes on regtest, met by LND and LDK",
        description=(
            "Start btcd (regtest), an LND node with coins, a runtime, and a live signer "
            "paired with it that creates --nodes nodes; LND connects to some, LDK pings "
            "others (the runtime answers for the sleeping nodes), and LND's channel attempt "
            "wakes one node, which answers and sleeps again. Needs the test bed "
            "(testbed/install.sh; `make demo` runs it). With --hold (default on a "
            "terminal) everything keeps running until Ctrl-C."
        ),
    )
    p.add_argument("--nodes", type=int, default=10_000, help="nodes to host")
    p.add_argument("--idle-timeout", type=float, default=3.0, help="seconds before sleeping")
    hold = p.add_mutually_exclusive_group()
    hold.add_argument("--hold", dest="hold", action="store_true", default=None)
    hold.add_argument("--no-hold", dest="hold", action="store_false")
    p.add_argument("--json", action="store_true", help="print the summary as JSON at the end")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vajra.demo import run_demo

    hold = sys.stdin.isatty() and sys.stdout.isatty() if args.hold is None else args.hold
    log = (lambda s: print(s, file=sys.stderr)) if args.json else print
    try:
        summary = run_demo(log, nodes=args.nodes, idle_timeout=args.idle_timeout, hold=hold)
    except VajraError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary, indent=2))
    return 0 if summary["ok"] else 1
