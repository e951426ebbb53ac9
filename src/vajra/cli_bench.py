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


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print only the JSON object")
    p.add_argument("--results", type=Path, default=None, help="file to append to")
    p.add_argument("--no-record", action="store_true", help="do not append to a file")


def _emit(name: str, out: dict[str, object], args: argparse.Namespace) -> int:
    print(json.dumps(out, indent=None if args.json else 2))
    if not args.no_record:
        results.record(name, out, args.results or results.default_results_path())
    return 0


def _protocol(args: argparse.Namespace) -> int:
    from vajra.benchmarks import protocol

    return _emit("protocol", protocol.run(args.seconds, args.runs), args)
