"""Subprocess entry: `python -m tests.fuzz.atheris_main TARGET [libFuzzer args...]`.

Imports the target with atheris instrumentation on Vajra's own modules so the fuzzer is
coverage-guided through the decoders, not just the harness.
"""

from __future__ import annotations

import importlib
import sys

import atheris


def main() -> None:
    name = sys.argv[1]
    with atheris.instrument_imports(include=["vajra"]):
        mod = importlib.import_module(f"tests.fuzz.targets.{name}")
    atheris.Setup([sys.argv[0], *sys.argv[2:]], mod.fuzz_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
