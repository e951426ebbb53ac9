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
            "Start btcd (regtest), LND-A with coins and a public channel to LND-B, a "
            "runtime, and a live signer paired with it that creates --nodes nodes; LND-A "
            "connects to some, LDK pings others (the runtime answers for the sleeping "
            "nodes); LND-A opens a private channel to a sleeping node; LND-B pays its "
            "invoice across LND-A while it sleeps; the user's ring pays LND-A under its "
            "limit, a larger payment is refused until the phone confirms it, a frozen "
            "ring is refused; LND-A closes the channel cooperatively. Every balance is "
            "checked to the msat (on chain: to the sat). Needs the test bed "
            "(testbed/install.sh; `make demo` runs it). With --hold (default on a "
            "terminal) everything keeps running until Ctrl-C. --json: one summary "
            "(balances, payments, refusals, wakes, the close) on stdout, steps on stderr."
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
    except (VajraError, AssertionError) as exc:
        # A peer or process failed (VajraError), or a check did (AssertionError: the
        # demo's own verdict on balances, refusals, the close).
        if args.json:
            err = {"error": "demo_failed", "kind": type(exc).__name__, "detail": str(exc)}
            print(json.dumps(err), file=sys.stderr)
        else:
            print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary, indent=2))
    return 0 if summary["ok"] else 1
