"""The shared spec copy the tests read vectors from (never retyped), found in one place.

`$VAJRA_SHARED/specs`, else `../shared/specs` next to the repository. A missing file is an
error that names where it was looked for: a vector source that silently reads as empty
would turn a spec test (or a fuzz target's seed corpus) into one that cannot fail.
"""

from __future__ import annotations

from pathlib import Path

from vajra.wire.specgen import SHARED_DIR

SPECS = SHARED_DIR / "specs"


def spec_path(relative: str) -> Path:
    """`SPECS / relative`; FileNotFoundError (naming the path and VAJRA_SHARED) if absent."""
    path = SPECS / relative
    if not path.is_file():
        raise FileNotFoundError(
            f"spec file {path} is missing: put the shared specs there or set VAJRA_SHARED"
        )
    return path
