"""Test vectors read out of the BIP copies in ../shared/specs/bips (never retyped)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[3]


def _shared() -> Path:
    """$VAJRA_SHARED, else the nearest `shared/` beside the checkout or one of its parents
    (a clone has it at ../shared; a git worktree one level further up)."""
    env = os.environ.get("VAJRA_SHARED")
    if env:
        return Path(env)
    for p in _ROOT.parents:
        if (p / "shared" / "specs").is_dir():
            return p / "shared"
    return _ROOT.parent / "shared"


SHARED = _shared()
BIPS = SHARED / "specs" / "bips"


def bip_text(name: str) -> str:
    return (BIPS / name).read_text(encoding="utf-8")


# -- BIP 350: segwit addresses -----------------------------------------------------------


@cache
def bip350_valid_addresses() -> list[tuple[str, bytes]]:
    """(address, scriptPubKey) from "Test vectors for v0-v16 native segregated witness
    addresses"."""
    text = bip_text("bip-0350.mediawiki")
    sec = text[text.index("native segregated witness addresses") :]
    sec = sec[: sec.index("invalid segwit addresses")]
    return [
        (a, bytes.fromhex(s)) for a, s in re.findall(r"<tt>(\w+)</tt>: <tt>([0-9a-f]+)</tt>", sec)
    ]


@cache
def bip350_invalid_addresses() -> list[tuple[str, str]]:
    """(address, reason) from the list of invalid segwit addresses."""
    text = bip_text("bip-0350.mediawiki")
    sec = text[text.index("invalid segwit addresses") :]
    sec = sec[: sec.index("==Appendix")]
    return re.findall(r"<tt>(\w+)</tt>: (.+)", sec)


# -- BIP 143: transactions and sighashes -------------------------------------------------


@dataclass(frozen=True)
class Bip143Case:
    example: str
    tx: bytes
    """The transaction being signed (unsigned, or signed where that is all that is printed)."""
    preimage: bytes
    sighash: bytes
    outpoint: bytes
    script_code: bytes
    """Without its CompactSize length prefix."""
    amount_sat: int
    sequence: int
    hash_type: int


def _bip143_examples() -> list[tuple[str, str]]:
    text = bip_text("bip-0143.mediawiki")
    body = text[text.index("== Example ==") : text.index("== Deployment ==")]
    parts = re.split(r"^=== (.+?) ===$", body, flags=re.M)
    return list(zip(parts[1::2], parts[2::2], strict=True))


@cache
def bip143_transactions() -> list[tuple[str, bytes]]:
    """(example, tx bytes) for every unsigned and signed transaction printed."""
    out = []
    for name, body in _bip143_examples():
        for m in re.finditer(
            r"(?:unsigned transaction|signed transaction is|examples):\s*([0-9a-f]+)", body
        ):
            out.append((name, bytes.fromhex(m.group(1))))
    return out


_TX = re.compile(r"(?:unsigned transaction|FindAndDelete</code> examples):\s*([0-9a-f]+)")
_PREIMAGE = re.compile(r"preimage(?: for [\w|]+)?:\s*([0-9a-f]+)")
_SIGHASH = re.compile(r"sighash:\s*([0-9a-f]{64})", re.I)


@cache
def bip143_sighashes() -> list[Bip143Case]:
    """Every printed preimage with the sigHash that follows it, the transaction printed
    before it, and the fields the preimage holds (BIP 143: nVersion, hashPrevouts,
    hashSequence, outpoint, scriptCode, amount, nSequence, hashOutputs, nLockTime,
    nHashType)."""
    cases = []
    for name, body in _bip143_examples():
        for m in _PREIMAGE.finditer(body):
            txs = [t for t in _TX.finditer(body) if t.start() < m.start()]
            sh = _SIGHASH.search(body, m.end())
            if not txs or sh is None:
                continue
            pre = bytes.fromhex(m.group(1))
            code_len = pre[104]
            assert code_len < 0xFD
            code = pre[105 : 105 + code_len]
            rest = pre[105 + code_len :]
            cases.append(
                Bip143Case(
                    name,
                    bytes.fromhex(txs[-1].group(1)),
                    pre,
                    bytes.fromhex(sh.group(1)),
                    pre[68:104],
                    code,
                    int.from_bytes(rest[:8], "little"),
                    int.from_bytes(rest[8:12], "little"),
                    int.from_bytes(rest[-4:], "little"),
                )
            )
    return cases


# -- BIP 341: wallet test vectors (JSON) --------------------------------------------------


@cache
def bip341_wallet_vectors() -> dict[str, Any]:
    data = json.loads((BIPS / "bip-0341" / "wallet-test-vectors.json").read_text())
    assert isinstance(data, dict)
    return data


# -- BIP 69: ordering examples ------------------------------------------------------------


@cache
def bip69_examples() -> list[tuple[list[tuple[str, int]], list[tuple[int, bytes]]]]:
    """([(txid hex as displayed, vout)], [(amount_sat, script)]) per example, in the sorted
    order the BIP prints."""
    text = bip_text("bip-0069.mediawiki")
    sec = text[text.index("===Examples===") : text.index("==Discussion==")]
    out = []
    for block in re.split(r"^Transaction [0-9a-f]{64}", sec, flags=re.M)[1:]:
        ins = [(t, int(v)) for t, v in re.findall(r"\d+: ([0-9a-f]{64})\[(\d+)\]", block)]
        outs = [
            (int(a), bytes.fromhex(s)) for a, s in re.findall(r"\d+:\s+(\d+)\s+([0-9a-f]+)", block)
        ]
        out.append((ins, outs))
    return out
