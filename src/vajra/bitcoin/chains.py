"""Chains by name, with the `chain_hash` the BOLTs use for each.

BOLT 0: `chain_hash` is the hash of the genesis block in internal byte order (the reverse
of how block explorers print it).
"""

from __future__ import annotations

from typing import Final


def _h(display_hex: str) -> bytes:
    return bytes.fromhex(display_hex)[::-1]


CHAIN_HASHES: Final[dict[str, bytes]] = {
    "bitcoin": _h("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"),
    "testnet": _h("000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943"),
    "testnet4": _h("00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043"),
    "signet": _h("00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6"),
    "regtest": _h("0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"),
}


def chain_name(chain_hash: bytes) -> str | None:
    for name, h in CHAIN_HASHES.items():
        if h == chain_hash:
            return name
    return None
