"""Read the BOLT 3 Appendix D and E test vectors from ../shared/specs (never retyped)."""

from __future__ import annotations

import re

from tests.specs import spec_path

BOLT3 = spec_path("bolts/03-transactions.md")

_KV = re.compile(r"^\s*([A-Za-z_]+):\s*(\S.*?)\s*$")


def _section(title: str) -> str:
    text = BOLT3.read_text()
    start = text.index(f"# {title}")
    end = text.index("\n# Appendix", start + 1)
    return text[start:end]


def _value(v: str) -> int | bytes | str:
    if v.startswith("0x"):
        return bytes.fromhex(v[2:])
    if v.isdigit():
        return int(v)
    return v


def _named_blocks(text: str) -> list[list[tuple[str, int | bytes | str]]]:
    """Split on `name:` lines; each block is its ordered (key, value) pairs."""
    blocks: list[list[tuple[str, int | bytes | str]]] = []
    for line in text.splitlines():
        m = _KV.match(line)
        if not m:
            continue
        key, raw = m.groups()
        if key == "name":
            blocks.append([("name", raw)])
        elif blocks:
            # "I: 0xaaaaaaaaaaa" is an index written in hex (odd length), not bytes.
            blocks[-1].append((key, int(raw, 0) if key == "I" else _value(raw)))
    return blocks


def generation_vectors() -> list[tuple[str, bytes, int, bytes]]:
    """(name, seed, I, output) from Appendix D "Generation Tests"."""
    text = _section("Appendix D")
    gen = text[: text.index("## Storage Tests")]
    out = []
    for block in _named_blocks(gen):
        d = dict(block)
        seed, output = d["seed"], d["output"]
        assert isinstance(seed, bytes) and isinstance(output, bytes)
        out.append((str(d["name"]), seed, int(d["I"]), output))
    return out


def storage_vectors() -> list[tuple[str, list[tuple[int, bytes, bool]]]]:
    """(name, [(I, secret, ok), ...]) from Appendix D "Storage Tests"."""
    text = _section("Appendix D")
    out = []
    for block in _named_blocks(text[text.index("## Storage Tests") :]):
        steps: list[tuple[int, bytes, bool]] = []
        index, secret = -1, b""
        for key, v in block[1:]:
            if key == "I":
                index = int(v)
            elif key == "secret":
                assert isinstance(v, bytes)
                secret = v
            elif key == "output":
                assert v in ("OK", "ERROR")
                steps.append((index, secret, v == "OK"))
        out.append((str(block[0][1]), steps))
    return out


def key_derivation_vectors() -> dict[str, bytes]:
    """Appendix E: every `key: 0x...` line outside comments (secrets, points, results)."""
    out: dict[str, bytes] = {}
    for line in _section("Appendix E").splitlines():
        m = _KV.match(line)
        if m and not line.lstrip().startswith("#"):
            v = _value(m.group(2))
            if isinstance(v, bytes):
                out[m.group(1)] = v
    return out
