"""How every `vajra` command reports a user error: one line naming what was wrong.

`UsageError(flag, value, why)` for a bad option ("--amount-msat -5: must be 0..."); any
`VajraError` or `OSError` that reaches `vajra.cli.main` is printed as one line
(`error: ...`) or, when the command was given `--json`, as one JSON object
`{"error": CODE, "detail": TEXT}` on stderr; the exit code is non-zero either way.
"""

from __future__ import annotations

import json
import sys

from vajra.errors import VajraError


class UsageError(VajraError):
    """A flag given a value the command cannot use; exit code 2."""

    def __init__(self, flag: str, value: object, why: str) -> None:
        super().__init__(f"{flag} {value}: {why}")
        self.flag = flag
        self.value = value


def error_code(e: BaseException) -> str:
    """A stable code for an error: its own `reason`/`error`, else a name for its kind."""
    for attr in ("reason", "error"):
        code = getattr(e, attr, None)
        if isinstance(code, str) and code:
            return code
    if isinstance(e, UsageError):
        return "usage"
    if isinstance(e, PermissionError):
        return "permission_denied"
    if isinstance(e, FileNotFoundError):
        return "not_found"
    if isinstance(e, OSError):
        return "os_error"
    return type(e).__name__


def describe(e: BaseException) -> str:
    if isinstance(e, OSError) and e.filename is not None:
        return f"{e.filename}: {e.strerror or e}"
    return str(e) or type(e).__name__


def report(e: BaseException, as_json: bool) -> int:
    """Print `e` on stderr (one line, or JSON); the exit code (2 usage, else the error's
    own `exit_code` if it has one, else 1)."""
    if as_json:
        print(json.dumps({"error": error_code(e), "detail": describe(e)}), file=sys.stderr)
    else:
        print(f"error: {describe(e)}", file=sys.stderr)
    if isinstance(e, UsageError):
        return 2
    code: int = getattr(e, "exit_code", 1)
    return code
