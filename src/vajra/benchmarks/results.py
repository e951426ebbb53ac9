"""Recording benchmark results: the machine, the command, the JSON, in bench/RESULTS.md."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_gib": round(mem / 2**30, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def conditions() -> dict[str, Any]:
    """The conditions a run starts in, recorded with every benchmark: the event loop the
    asyncio parts run on (`vajra.runtime.worker.run`: uvloop when installed) and the
    machine's load averages (1, 5, 15 min; on a shared 2-core machine above ~2 means
    the run shared its cores)."""
    try:
        import uvloop

        loop = f"uvloop {getattr(uvloop, '__version__', '?')}"
    except ImportError:
        loop = "asyncio"
    return {"event_loop": loop, "loadavg_at_start": [round(x, 2) for x in os.getloadavg()]}


def percentile(xs: list[float], q: float) -> float:
    """The `q` quantile (0..1) of `xs`: the sample at rank floor(q * n) of the sorted
    values (nearest rank, no interpolation: a p99 is a latency that really happened)."""
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def median_of(runs: int, fn: Callable[[], float]) -> tuple[float, list[float]]:
    """Median of `runs` calls (the machines are noisy: quote medians)."""
    xs = [fn() for _ in range(runs)]
    return statistics.median(xs), xs


def default_results_path() -> Path | None:
    """bench/RESULTS.md of the checkout we run from, if any."""
    for d in (Path.cwd(), *Path.cwd().parents):
        if (d / "bench" / "RESULTS.md").exists() or (d / "pyproject.toml").exists():
            return d / "bench" / "RESULTS.md"
    return None


def record(name: str, result: dict[str, Any], path: Path | None) -> None:
    """Append a dated section with machine, command and JSON to `path`."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cmd = " ".join(["vajra", *sys.argv[1:]]) if sys.argv else "vajra"
    with path.open("a") as f:
        if new:
            f.write("# Benchmark results\n\nAppended by `vajra bench ...`; newest last.\n")
        f.write(f"\n## {name} — {now}\n\n")
        f.write(f"- command: `{cmd}`\n- machine: `{json.dumps(machine())}`\n\n")
        f.write("```json\n" + json.dumps(result, indent=2) + "\n```\n")
