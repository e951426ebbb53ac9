"""The `vajra` command. Each subcommand lives in its own module and registers here.

A subcommand module exposes `register(subparsers)`; it adds its parser and sets
`func(args) -> int` as the handler. Output meant for programs is JSON on stdout;
diagnostics go to stderr; exit code 0 on success, 1 on a user-facing error, 2 on usage.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from vajra import __version__
from vajra.cli_errors import report
from vajra.errors import VajraError

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
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    as_json = bool(getattr(args, "json", False)) or "--json" in argv
    try:
        rc: int = func(args)
        sys.stdout.flush()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`vajra nodes list | head`): not an error of ours. Point
        # stdout at /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (VajraError, OSError) as e:
        return report(e, as_json)
    return rc
