"""The `vajra` command. Each subcommand lives in its own module and registers here.

A subcommand module exposes `register(subparsers)`; it adds its parser and sets
`func(args) -> int` as the handler. Output meant for programs is JSON on stdout;
diagnostics go to stderr; exit code 0 on success, 1 on a user-facing error, 2 on usage.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from vajra import __version__

# Modules that contribute subcommands, in --help order. A module that fails to import
# is a bug, not an optional feature: let the ImportError surface.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "vajra.cli_decode",
    "vajra.cli_testbed",
    "vajra.cli_demo",
    "vajra.cli_bench",
    "vajra.cli_runtime",
    "vajra.cli_signer",
    "vajra.cli_device",
    "vajra.cli_node",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vajra",
        description=(
            "Vajra: a Lightning node runtime that hosts many self-custodial light nodes, "
            "with funds keys on each user's live signer."
        ),
    )
    parser.add_argument("--version", action="version", version=f"vajra {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        rc: int = func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return rc
