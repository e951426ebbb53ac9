"""The BOLT 11 "Examples" section of the spec, parsed from the shared copy (not retyped).

Each example is a heading (`> ### ...`), the invoice on the next non-empty line, then its
breakdown up to the next heading. Helpers here also sign arbitrary field words, so reader
rules can be tested on invoices our own encoder would refuse to write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from tests.specs import spec_path
from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import PrivateKey
from vajra.invoice import bech32

SPEC = spec_path("bolts/11-payment-encoding.md")


@dataclass(frozen=True)
class Example:
    title: str
    invoice: str
    block: str
    """The heading and breakdown text that describe the invoice."""
    valid: bool


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end)]


def _examples(section: str, valid: bool) -> list[Example]:
    lines = section.splitlines()
    heads = [i for i, line in enumerate(lines) if re.match(r"^> #+ ", line)]
    out = []
    for n, i in enumerate(heads):
        stop = heads[n + 1] if n + 1 < len(heads) else len(lines)
        body = [line.lstrip(">").strip() for line in lines[i + 1 : stop]]
        invoice = next(line for line in body if line)
        title = re.sub(r"^> #+ ", "", lines[i])
        out.append(Example(title, invoice, "\n".join(lines[i:stop]), valid))
    return out


@cache
def spec_text() -> str:
    return SPEC.read_text(encoding="utf-8")


@cache
def valid_examples() -> list[Example]:
    text = spec_text()
    return _examples(_section(text, "\n# Examples\n", "\n# Examples of Invalid Invoices\n"), True)


@cache
def invalid_examples() -> list[Example]:
    text = spec_text()
    return _examples(_section(text, "\n# Examples of Invalid Invoices\n", "\n# Authors\n"), False)


@cache
def spec_key() -> PrivateKey:
    """`priv_key` from the Examples' preamble: every example is signed with it."""
    m = re.search(r"`priv_key`=`([0-9a-f]{64})`", spec_text())
    assert m
    return PrivateKey(bytes.fromhex(m.group(1)))


@cache
def default_payment_secret() -> bytes:
    """ "All invoices contain a `payment_secret`=... unless otherwise noted"."""
    m = re.search(r"`payment_secret`=`([0-9a-f]{64})`", spec_text())
    assert m
    return bytes.fromhex(m.group(1))


def field(tag: str, words: bytes) -> bytes:
    """A tagged field: type, 10-bit length, data."""
    return bytes([bech32.CHARSET.index(tag), len(words) >> 5, len(words) & 31]) + words


def sign_words(hrp: str, body: bytes, key: PrivateKey | None = None, recid_xor: int = 0) -> str:
    """A bech32 invoice of `hrp` and `body` (timestamp + fields), signed as BOLT 11 says."""
    key = key or spec_key()
    digest = sha256(hrp.encode() + bech32.convertbits(body, 5, 8, pad=True))
    sig, recid = key.sign_recoverable(digest)
    return bech32.encode(hrp, body + bech32.bytes_to_words(sig + bytes([recid ^ recid_xor])))


def split_fields(words: bytes) -> list[tuple[str, bytes]]:
    """Tagged fields of a body without its 7-word timestamp (test-side, independent)."""
    out = []
    i = 0
    while i < len(words):
        n = words[i + 1] * 32 + words[i + 2]
        out.append((bech32.CHARSET[words[i]], words[i + 3 : i + 3 + n]))
        i += 3 + n
    return out
