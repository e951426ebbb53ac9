"""Run the coverage-guided fuzz targets under atheris (libFuzzer).

Each module in tests/fuzz/targets/ defines `fuzz_one(data: bytes) -> None`, which feeds
the input to one decoder and catches only `VajraError` subclasses: any other exception
escapes and libFuzzer records it as a crash. Every target runs in its own subprocess for
a bounded time, with its corpus and crash artefacts in a directory outside the repository.

    python -m tests.fuzz.run --seconds 60            # all targets
    python -m tests.fuzz.run --seconds 5 wire_message
    python -m tests.fuzz.run --json                  # one JSON object on stdout
"""

from __future__ import annotations

import argparse
import json
import os
import pkgutil
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.fuzz import targets

_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_STAT = re.compile(r"#(\d+)\s+(?:pulse|NEW|REDUCE|DONE|INITED)")


def target_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(targets.__path__))


def fuzz_dir() -> Path:
    base = Path(os.environ.get("VAJRA_CACHE", Path.home() / ".cache" / "vajra")) / "fuzz"
    base.mkdir(parents=True, exist_ok=True)
    return base


def _seed(name: str, corpus: Path) -> None:
    """Write the target's `seeds()` (valid inputs, e.g. spec examples) into its corpus, so
    the fuzzer starts past checksums and MACs it could not forge by chance."""
    import hashlib
    import importlib

    mod = importlib.import_module(f"tests.fuzz.targets.{name}")
    for data in getattr(mod, "seeds", list)():
        (corpus / hashlib.sha1(data).hexdigest()).write_bytes(data)


def run_target(
    name: str,
    seconds: int,
    seed_corpus: bool = True,
    *,
    source: Path | None = None,
    work: Path | None = None,
) -> dict[str, object]:
    """Run one target; return {target, runs, crashes, seconds, artefacts}.

    `source`: a `.py` file defining `fuzz_one` instead of tests/fuzz/targets/NAME (no
    seeds); `work`: the corpus directory's parent instead of the fuzz cache."""
    corpus = (work or fuzz_dir() / name) / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    if seed_corpus and source is None:
        _seed(name, corpus)
    artefacts = Path(tempfile.mkdtemp(prefix=f"vajra-fuzz-{name}-"))
    cmd = [
        sys.executable,
        "-m",
        "tests.fuzz.atheris_main",
        str(source) if source is not None else name,
        f"-max_total_time={seconds}",
        f"-artifact_prefix={artefacts}/",
        "-print_final_stats=1",
        "-timeout=10",
        "-rss_limit_mb=2048",
        str(corpus),
    ]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    out = proc.stdout + proc.stderr
    m = _DONE.search(out)
    runs = int(m.group(1)) if m else max((int(x) for x in _STAT.findall(out)), default=0)
    crashes = sorted(p.name for p in artefacts.iterdir())
    result: dict[str, object] = {
        "target": name,
        "runs": runs,
        "crashes": len(crashes),
        "seconds": seconds,
        "exit_code": proc.returncode,
        "artefacts": str(artefacts) if crashes else None,
    }
    if proc.returncode != 0 or crashes:
        result["tail"] = out[-3000:]
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("targets", nargs="*", help="target names (default: all)")
    p.add_argument("--seconds", type=int, default=60, help="time per target")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args(argv)
    names = a.targets or target_names()
    results = [run_target(n, a.seconds) for n in names]
    total = {
        "targets": results,
        "total_runs": sum(int(str(r["runs"])) for r in results),
        "total_crashes": sum(int(str(r["crashes"])) for r in results),
    }
    if a.json:
        print(json.dumps(total, indent=2))
    else:
        for r in results:
            print(
                f"{r['target']:<20} runs={r['runs']:<10} crashes={r['crashes']} exit={r['exit_code']}"
            )
            if r.get("tail"):
                print(r["tail"])
        print(f"total runs={total['total_runs']} crashes={total['total_crashes']}")
    bad = any(r["crashes"] or r["exit_code"] != 0 for r in results)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
