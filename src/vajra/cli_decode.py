"""`vajra decode`: a Lightning wire message (hex) or a BOLT 11 invoice, to JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from vajra.errors import VajraError

_HELP = """\
Decode INPUT and print it as JSON.

INPUT is either
  - a BOLT 11 invoice (lnbc..., lntb..., lnbcrt..., with or without a lightning: prefix),
    whose signature is checked and whose fields are shown with integer msat amounts; or
  - a Lightning message in hex, starting with its 2-byte type (e.g. 0012... for ping),
    as it travels inside a BOLT 8 frame.
Use - to read INPUT from stdin. Exit status 1 with a JSON error on stderr if INPUT does
not decode; the error names the rule it broke.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "decode",
        help="decode a wire message (hex) or a BOLT 11 invoice to JSON",
        description=_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="INPUT", help="hex message, BOLT 11 invoice, or -")
    p.add_argument("--compact", action="store_true", help="one line of JSON")
    p.set_defaults(func=run)


def decode_any(text: str) -> dict[str, Any]:
    """Decode an invoice or a hex message; raise VajraError (or ValueError for bad hex)."""
    s = text.strip()
    low = s.lower()
    if low.startswith("lightning:"):
        s, low = s[10:], low[10:]
    if low.startswith("ln"):
        from vajra.invoice import decode, to_json

        return {"kind": "bolt11", **to_json(decode(s))}
    from vajra.wire import decode_message
    from vajra.wire.render import message_to_json

    data = bytes.fromhex(s.removeprefix("0x"))
    return {"kind": "message", **message_to_json(decode_message(data))}


def run(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.input == "-" else args.input
    try:
        out = decode_any(text)
    except VajraError as exc:
        err = {"error": type(exc).__name__, "message": str(exc)}
        reason = getattr(exc, "reason", None)
        if reason is not None:
            err["reason"] = str(reason)
        print(json.dumps(err), file=sys.stderr)
        return 1
    except ValueError as exc:
        err = {"error": "InvalidInput", "message": f"not an invoice and not hex: {exc}"}
        print(json.dumps(err), file=sys.stderr)
        return 1
    print(json.dumps(out, indent=None if args.compact else 2))
    return 0
