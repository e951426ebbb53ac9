"""Test vectors read out of the spec copy (never retyped): BOLT 1 Appendices A-D."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from vajra.wire.specgen import DEFAULT_SPEC_DIR

SPEC_DIR: Path = DEFAULT_SPEC_DIR


def spec_text(name: str) -> str:
    return (SPEC_DIR / name).read_text(encoding="utf-8")


def _section(text: str, heading: str) -> str:
    """From `heading` to the next heading of the same or a higher level."""
    start = text.index(heading)
    level = len(heading) - len(heading.lstrip("#"))
    body = text[start + len(heading) :]
    nxt = re.search(rf"^#{{1,{level}}} ", body, re.M)
    return text[start : start + len(heading) + (nxt.start() if nxt else len(body))]


def _json_blocks(section: str) -> list[object]:
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)```", section, re.S)]


@cache
def bigsize_decoding() -> list[dict[str, object]]:
    sec = _section(spec_text("01-messaging.md"), "### BigSize Decoding Tests")
    (block,) = _json_blocks(sec)
    assert isinstance(block, list)
    return block


@cache
def bigsize_encoding() -> list[dict[str, object]]:
    sec = _section(spec_text("01-messaging.md"), "### BigSize Encoding Tests")
    (block,) = _json_blocks(sec)
    assert isinstance(block, list)
    return block


@cache
def signed_ints() -> list[dict[str, object]]:
    sec = _section(spec_text("01-messaging.md"), "## Appendix D")
    (block,) = _json_blocks(sec)
    assert isinstance(block, list)
    return block


@dataclass(frozen=True)
class TlvVector:
    stream: bytes
    valid: bool
    namespaces: tuple[str, ...]
    note: str
    """The spec's Reason / Explanation / Values line."""
    section: str


def _hex(text: str) -> bytes:
    assert text.startswith("0x"), text
    return bytes.fromhex(text[2:].replace(" ", ""))


@cache
def tlv_vectors() -> list[TlvVector]:
    """Every `Valid stream:` / `Invalid stream:` of Appendix B with its namespaces."""
    app = _section(spec_text("01-messaging.md"), "## Appendix B")
    out: list[TlvVector] = []
    scope: tuple[str, ...] = ()
    section = ""
    lines = app.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("### "):
            section = line[4:]
        if "should" in line and ("decod" in line or "trigger" in line):
            if "any namespace" in line or "either namespace" in line:
                scope = ("n1", "n2")
            elif m := re.search(r"`(n\d)`", line):
                scope = (m.group(1),)
        m = re.match(r"^1\. (Valid|Invalid) stream: (0x[0-9a-f ]*)$", line)
        if m:
            note = lines[i + 1].split(":", 1)[1].strip()
            out.append(
                TlvVector(_hex(m.group(2).strip()), m.group(1) == "Valid", scope, note, section)
            )
    return out


@cache
def init_extension_vectors() -> list[tuple[bytes, bool, str]]:
    """Appendix C: (message, valid, description)."""
    app = _section(spec_text("01-messaging.md"), "## Appendix C")
    out: list[tuple[bytes, bool, str]] = []
    valid = True
    for line in app.splitlines():
        if "messages are valid" in line:
            valid = True
        elif "messages are invalid" in line:
            valid = False
        elif m := re.match(r"^- `(0x[0-9a-f]+)`: (.*)$", line):
            out.append((_hex(m.group(1)), valid, m.group(2)))
    return out


@cache
def extended_queries() -> list[dict[str, Any]]:
    data = json.loads((SPEC_DIR / "bolt07" / "extended-queries.json").read_text())
    assert isinstance(data, list)
    return data
