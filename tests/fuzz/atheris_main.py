"""Subprocess entry: `python -m tests.fuzz.atheris_main TARGET [libFuzzer args...]`.

TARGET is a module name under tests/fuzz/targets, or a path to a `.py` file defining
`fuzz_one` (a target written elsewhere, e.g. a test's temporary directory).

Imports the target with atheris instrumentation on Vajra's own modules so the fuzzer is
coverage-guided through the decoders, not just the harness.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

import atheris


def _load(name: str) -> ModuleType:
    if not name.endswith(".py"):
        return importlib.import_module(f"tests.fuzz.targets.{name}")
    spec = importlib.util.spec_from_file_location("fuzz_target", name)
    assert spec is not None and spec.loader is not None, name
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    with atheris.instrument_imports(include=["vajra"]):
        mod = _load(sys.argv[1])
    atheris.Setup([sys.argv[0], *sys.argv[2:]], mod.fuzz_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
