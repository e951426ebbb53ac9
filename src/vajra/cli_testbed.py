"""`vajra testbed ...`: the real interop test bed (btcd, LND, LDK, lnprototest).

`testbed/install.sh` installs the pinned components into the cache; these commands find
them (`paths`) and prove they work together (`selfcheck`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from vajra.testbed.errors import TestbedError

_DESCRIPTION = """\
Real peers and a real chain for interop tests: btcd (regtest), two LND nodes, an LDK
node (WASM under Node) and lnprototest. Install them first with testbed/install.sh
(pinned in testbed/versions.env, cached in ${VAJRA_CACHE:-~/.cache/vajra}/testbed)."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "testbed",
        help="the interop test bed: btcd, LND, LDK, lnprototest",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    def usage(_args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=usage)
    sub = p.add_subparsers(dest="testbed_command", metavar="SUBCOMMAND")

    sc = sub.add_parser(
        "selfcheck",
        help="start everything, open a channel, pay, connect LDK; report what happened",
        description=(
            "Runs btcd regtest to coinbase maturity, starts two LND nodes, opens and confirms a "
            "channel, pays an invoice and checks both balances moved by exactly its amount (msat), "
            "connects the LDK harness to LND both ways with init and ping/pong, and checks the "
            "lnprototest venv. Takes about 20-60 s. Everything started is stopped at the end. "
            "Exit code 0 when every step passed, 1 otherwise."
        ),
    )
    sc.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    sc.add_argument(
        "--workdir",
        type=Path,
        help="directory for daemon data and logs (default: a temp dir, removed after a pass)",
    )
    sc.add_argument("--keep", action="store_true", help="keep the temp dir even after a pass")
    sc.set_defaults(func=_selfcheck)

    pa = sub.add_parser(
        "paths",
        help="show pinned versions and where each component is installed",
        description=(
            "Prints the versions pinned in testbed/versions.env and the cache directories and "
            "binaries testbed/install.sh creates for them. Exit code 1 if any is not installed."
        ),
    )
    pa.add_argument("--json", action="store_true", help="print as JSON on stdout")
    pa.set_defaults(func=_paths)


def _selfcheck(args: argparse.Namespace) -> int:
    from vajra.testbed.selfcheck import run_selfcheck

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # Progress goes to stderr when stdout is reserved for the JSON summary.
    stream = sys.stderr if args.json else sys.stdout

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    try:
        summary = run_selfcheck(say, workdir=args.workdir, keep=args.keep)
    except TestbedError as e:
        print(f"vajra testbed selfcheck: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary, indent=2))
    return 0 if summary["ok"] else 1


def _paths(args: argparse.Namespace) -> int:
    from vajra.testbed.paths import INSTALL_HINT, locate

    try:
        tp = locate()
    except TestbedError as e:
        print(f"vajra testbed paths: {e}", file=sys.stderr)
        return 1
    info = tp.as_json()
    missing = tp.missing()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"repo:  {info['repo']}")
        print(f"cache: {info['cache']}")
        versions = info["versions"]
        assert isinstance(versions, dict)
        print("pinned: " + ", ".join(f"{k}={v}" for k, v in versions.items()))
        for name, d in tp.components().items():
            state = "installed" if name not in missing else "MISSING"
            print(f"  {name:<12} {state:<9} {d}")
        print("binaries:")
        binaries = info["binaries"]
        assert isinstance(binaries, dict)
        for name, path in binaries.items():
            print(f"  {name:<19} {path}")
    if missing:
        print(f"not installed: {', '.join(missing)}; {INSTALL_HINT}", file=sys.stderr)
        return 1
    return 0
