"""Read the BOLT 3 test vectors (Appendices B-F) from ../shared/specs (never retyped)."""

from __future__ import annotations

import re
from dataclasses import dataclass

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


# -- Appendix B, C and F: funding, commitment and HTLC transactions ---------------------

_HEX_KV = re.compile(r"^\s*(?:INTERNAL: )?(\w+): ([0-9a-f]+)\s*$", re.M)


@dataclass(frozen=True)
class Bolt3Htlc:
    number: int
    offered: bool
    """local->remote: offered by local, the commitment's owner."""
    amount_msat: int
    cltv_expiry: int
    payment_preimage: bytes


@dataclass(frozen=True)
class HtlcTxVector:
    remote_sig: bytes
    local_sig: bytes | None
    """Appendix C prints it (as a comment); Appendix F does not."""
    tx: bytes


@dataclass(frozen=True)
class CommitmentVector:
    name: str
    to_local_msat: int
    to_remote_msat: int
    feerate_per_kw: int
    dust_limit_sat: int
    htlcs: list[Bolt3Htlc]
    remote_sig: bytes
    local_sig: bytes | None
    tx: bytes
    htlc_txs: list[HtlcTxVector]


def appendix_c_params() -> dict[str, bytes | int]:
    """Appendix C's common parameters and keys, with the INTERNAL values of its comment
    (secrets are printed with Bitcoin's trailing 01 "compressed" byte, dropped here)."""
    text = _section("Appendix C")
    text = text[: text.index("And, here are the test vectors themselves")]
    out: dict[str, bytes | int] = {}
    for key, raw in _HEX_KV.findall(text):
        if key.startswith("htlc"):
            continue
        if key.endswith(("privkey", "secret")) and len(raw) == 66:
            raw = raw[:64]
        out[key] = int(raw) if raw.isdigit() and len(raw) < 20 else bytes.fromhex(raw)
    return out


def _test_htlcs() -> dict[int, Bolt3Htlc]:
    text = _section("Appendix C")
    rows = re.findall(r"htlc (\d) (\w+): (\S+)", text)
    by: dict[int, dict[str, str]] = {}
    for n, key, value in rows:
        by.setdefault(int(n), {})[key] = value
    return {
        n: Bolt3Htlc(
            n,
            d["direction"] == "local->remote",
            int(d["amount_msat"]),
            int(d["expiry"]),
            bytes.fromhex(d["payment_preimage"]),
        )
        for n, d in by.items()
    }


def _htlc_set(name: str, use: bool) -> list[Bolt3Htlc]:
    # "the HTLCs are not used for the first "simple commitment tx with no HTLCs" test,
    # and HTLCs 5 and 6 are only used in the "same amount and preimage" test."
    h = _test_htlcs()
    if not use:
        return []
    if "same amount and preimage" in name:
        return [h[1], h[5], h[6]]
    return [h[n] for n in range(5)]


def appendix_c_vectors() -> list[CommitmentVector]:
    text = _section("Appendix C")
    params = appendix_c_params()
    body = text[text.index("And, here are the test vectors themselves") :]
    out = []
    for block in re.split(r"^\s*name: ", body, flags=re.M)[1:]:
        name = block.splitlines()[0].strip()
        kv = dict(re.findall(r"^\s*(\w+): (\d+)\s*$", block, re.M))
        sigs = re.findall(r"^\s*(#? ?\w+) = ([0-9a-f]+)", block, re.M)
        txs = re.findall(r"^\s*htlc_(?:success|timeout)_tx \(htlc #\d\): ([0-9a-f]+)", block, re.M)
        remote_htlc = [v for k, v in sigs if k == "remote_htlc_signature"]
        local_htlc = [v for k, v in sigs if k == "# local_htlc_signature"]
        (commit,) = re.findall(r"output commit_tx: ([0-9a-f]+)", block)
        out.append(
            CommitmentVector(
                name=name,
                to_local_msat=int(kv["to_local_msat"]),
                to_remote_msat=int(kv["to_remote_msat"]),
                feerate_per_kw=int(kv["local_feerate_per_kw"]),
                dust_limit_sat=int(params["local_dust_limit_satoshi"]),
                htlcs=_htlc_set(name, "no HTLCs" not in name),
                remote_sig=bytes.fromhex(next(v for k, v in sigs if k == "remote_signature")),
                local_sig=bytes.fromhex(next(v for k, v in sigs if k == "# local_signature")),
                tx=bytes.fromhex(commit),
                htlc_txs=[
                    HtlcTxVector(bytes.fromhex(r), bytes.fromhex(lo), bytes.fromhex(t))
                    for r, lo, t in zip(remote_htlc, local_htlc, txs, strict=True)
                ],
            )
        )
    return out


def appendix_f_vectors() -> list[CommitmentVector]:
    import json

    text = _section("Appendix F")
    (blob,) = re.findall(r"```yaml\n(.*?)```", text, re.S)
    out = []
    for case in json.loads(blob):
        out.append(
            CommitmentVector(
                name=case["Name"],
                to_local_msat=case["LocalBalance"],
                to_remote_msat=case["RemoteBalance"],
                feerate_per_kw=case["FeePerKw"],
                dust_limit_sat=case["DustLimitSatoshis"],
                htlcs=_htlc_set(case["Name"], case["UseTestHtlcs"]),
                remote_sig=bytes.fromhex(case["RemoteSigHex"]),
                local_sig=None,
                tx=bytes.fromhex(case["ExpectedCommitmentTxHex"]),
                htlc_txs=[
                    HtlcTxVector(
                        bytes.fromhex(d["RemoteSigHex"]), None, bytes.fromhex(d["ResolutionTxHex"])
                    )
                    for d in case["HtlcDescs"]
                ],
            )
        )
    return out


def appendix_b() -> dict[str, bytes | int]:
    """Appendix B's funding transaction: keys, amounts, the coinbase spent and the result."""
    text = _section("Appendix B")
    out: dict[str, bytes | int] = {}
    for key, raw in re.findall(r"^\s*([\w ]+?): ([0-9a-f]+)\s*$", text, re.M):
        k = key.strip().replace(" ", "_")
        out[k] = int(raw) if raw.isdigit() and len(raw) < 20 else bytes.fromhex(raw)
    return out
