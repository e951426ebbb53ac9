"""Test vectors read out of the BIP copies in ../shared/specs/bips (never retyped)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from tests.specs import spec_path


def bip_text(name: str) -> str:
    return spec_path(f"bips/{name}").read_text(encoding="utf-8")


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
    data = json.loads(spec_path("bips/bip-0341/wallet-test-vectors.json").read_text())
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


# -- BIP 174: PSBTs -----------------------------------------------------------------------

_HEX_PRE = re.compile(r"Bytes in Hex: <pre>([0-9a-f]+)</pre>")
_B64_PRE = re.compile(r"Base64 String: <pre>([A-Za-z0-9+/=]+)</pre>")


def _bip174_tests() -> str:
    text = bip_text("bip-0174.mediawiki")
    return text[text.index("==Test Vectors==") : text.index("==Rationale==")]


def _cases(section: str) -> list[tuple[str, bytes, str]]:
    """(description, bytes, base64) per `* Case:` in a section."""
    out = []
    for block in re.split(r"^\* Case: ", section, flags=re.M)[1:]:
        desc = block.splitlines()[0].strip()
        h, b = _HEX_PRE.search(block), _B64_PRE.search(block)
        assert h and b, desc
        out.append((desc, bytes.fromhex(h.group(1)), b.group(1)))
    return out


@cache
def bip174_invalid() -> list[tuple[str, bytes, str]]:
    t = _bip174_tests()
    return _cases(t[: t.index("The following are valid PSBTs:")])


@cache
def bip174_valid() -> list[tuple[str, bytes, str]]:
    t = _bip174_tests()
    return _cases(t[t.index("The following are valid PSBTs:") : t.index("Fails Signer checks")])


@cache
def bip174_signer_fails() -> list[tuple[str, bytes, str]]:
    t = _bip174_tests()
    return _cases(
        t[t.index("Fails Signer checks") : t.index("The private keys in the tests below")]
    )


@dataclass(frozen=True)
class Bip174Workflow:
    """The creator -> updater -> signers -> combiner -> finalizer -> extractor chain."""

    master_tprv: str
    outputs: list[tuple[bytes, str]]
    """(scriptPubKey, amount in BTC as printed)."""
    inputs: list[tuple[str, int]]
    """(txid as displayed, index)."""
    created: bytes
    redeem_scripts: list[bytes]
    witness_scripts: list[bytes]
    previous_txs: list[bytes]
    key_paths: list[tuple[bytes, str]]
    updated: bytes
    with_sighash_all: bytes
    signer_keys: list[list[tuple[str, str]]]
    """Per signer: (WIF, path)."""
    signed: list[bytes]
    combined: bytes
    finalized: bytes
    extracted: bytes
    unknown_inputs: list[bytes]
    unknown_combined: bytes


@cache
def bip174_workflow() -> Bip174Workflow:
    t = _bip174_tests()
    t = t[t.index("The private keys in the tests below") :]
    psbts = [bytes.fromhex(h) for h in _HEX_PRE.findall(t)]
    # the order printed: created, updated, +SIGHASH_ALL, signer 1, signer 2, combined,
    # finalized, extracted tx, two PSBTs with unknowns, their combination
    assert len(psbts) == 11, len(psbts)
    tprv = re.search(r"Extended Private Key: <pre>(\w+)</pre>", t)
    assert tprv
    creator = t[: t.index("must create this PSBT")]
    outputs = [
        (bytes.fromhex(s), a)
        for s, a in re.findall(
            r"scriptPubKey: <tt>([0-9a-f]+)</tt>, Amount: <tt>([\d.]+)</tt>", creator
        )
    ]
    inputs = [
        (x, int(i))
        for x, i in re.findall(r"TXID: <tt>([0-9a-f]+)</tt>, Index: <tt>(\d+)</tt>", creator)
    ]
    upd = t[t.index("an updater with only the following") : t.index("Must create this PSBT")]
    redeem = upd[upd.index("Redeem Scripts") : upd.index("Witness Scripts")]
    wit = upd[upd.index("Witness Scripts") : upd.index("Previous Transactions")]
    prev = upd[upd.index("Previous Transactions") : upd.index("Public Keys")]
    keys = upd[upd.index("Public Keys") :]
    signers = [
        re.findall(r"<tt>(\w+)</tt> \(<tt>([m/0-9']+)</tt>\)", blk)
        for blk in re.split(r"a signer ", t)[1:3]
    ]
    return Bip174Workflow(
        master_tprv=tprv.group(1),
        outputs=outputs,
        inputs=inputs,
        created=psbts[0],
        redeem_scripts=[bytes.fromhex(x) for x in re.findall(r"<tt>([0-9a-f]+)</tt>", redeem)],
        witness_scripts=[bytes.fromhex(x) for x in re.findall(r"<tt>([0-9a-f]+)</tt>", wit)],
        previous_txs=[bytes.fromhex(x) for x in re.findall(r"<pre>([0-9a-f]+)</pre>", prev)],
        key_paths=[
            (bytes.fromhex(k), p)
            for k, p in re.findall(
                r"Key: <tt>([0-9a-f]+)</tt>, Derivation Path: <tt>([m/0-9']+)</tt>", keys
            )
        ],
        updated=psbts[1],
        with_sighash_all=psbts[2],
        signer_keys=signers,
        signed=psbts[3:5],
        combined=psbts[5],
        finalized=psbts[6],
        extracted=psbts[7],
        unknown_inputs=psbts[8:10],
        unknown_combined=psbts[10],
    )


# -- BIP 32 -------------------------------------------------------------------------------


@cache
def bip32_chains() -> list[tuple[str, bytes, str, str, str]]:
    """(vector, seed, path, ext pub, ext prv) for test vectors 1-4; the path is written
    with `'` for the BIP's <sub>H</sub>."""
    text = bip_text("bip-0032.mediawiki")
    out = []
    for name, body in re.findall(r"===(Test vector \d)===\n(.*?)(?====|\Z)", text, re.S):
        seed_m = re.search(r"Seed \(hex\): ([0-9a-f]+)", body)
        if seed_m is None:
            continue
        seed = bytes.fromhex(seed_m.group(1))
        for path, pub, prv in re.findall(
            r"\* Chain (\S+)\n\*\* ext pub: (\w+)\n\*\* ext prv: (\w+)", body
        ):
            out.append((name, seed, path.replace("<sub>H</sub>", "'"), pub, prv))
    return out


@cache
def bip32_invalid_keys() -> list[tuple[str, str]]:
    """(extended key, reason) from test vector 5."""
    text = bip_text("bip-0032.mediawiki")
    sec = text[text.index("===Test vector 5===") : text.index("==Acknowledgements==")]
    return re.findall(r"^\* (\w+) \((.+)\)$", sec, re.M)


# -- BIP 84 ---------------------------------------------------------------------------------


@cache
def bip84_vectors() -> tuple[dict[str, str], list[tuple[str, dict[str, str]]]]:
    """(header fields: mnemonic, rootpriv, rootpub; [(path, {xpriv/xpub or privkey,
    pubkey, address})]) from the BIP's test vectors, in order."""
    text = bip_text("bip-0084.mediawiki")
    block = text[text.index("==Test vectors==") :]
    block = block[block.index("<pre>") + 5 : block.index("</pre>")]
    parts = re.split(r"^\s*// .*?= (m/[0-9'/]+)\s*$", block, flags=re.M)
    kv = re.compile(r"^\s*(\w+)\s*=\s*(.+?)\s*$", re.M)
    header = dict(kv.findall(parts[0]))
    return header, [
        (path, dict(kv.findall(body))) for path, body in zip(parts[1::2], parts[2::2], strict=True)
    ]
