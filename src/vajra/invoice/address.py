"""On-chain fallback addresses of BOLT 11 `f` fields: their versions, scripts and strings.

BOLT 11: "for Bitcoin payments: MUST set an `f` field to a valid witness version and
program, OR to `17` followed by a public key hash, OR to `18` followed by a script hash."
Versions 19..31 are unknown and skipped by readers; they never become a `Fallback`.
"""

from __future__ import annotations

from dataclasses import dataclass

from vajra.crypto.base58 import base58check_encode
from vajra.invoice.bech32 import encode_segwit_address

P2PKH_VERSION = 17
P2SH_VERSION = 18
MAX_WITNESS_VERSION = 16

# currency prefix -> (segwit hrp, base58 P2PKH version byte, base58 P2SH version byte)
NETWORKS: dict[str, tuple[str, int, int]] = {
    "bc": ("bc", 0x00, 0x05),
    "tb": ("tb", 0x6F, 0xC4),
    "tbs": ("tb", 0x6F, 0xC4),  # signet shares testnet's address formats
    "bcrt": ("bcrt", 0x6F, 0xC4),
}


def is_known_version(version: int) -> bool:
    """Versions this reader understands; BOLT 11: "MUST skip over `f` fields that use an
    unknown `version`"."""
    return 0 <= version <= P2SH_VERSION


def is_valid_program(version: int, program: bytes) -> bool:
    """Whether `program` is well-formed for a known `version` (BIP 141 / BIP 341 lengths)."""
    if version in (P2PKH_VERSION, P2SH_VERSION):
        return len(program) == 20
    if version == 0:
        return len(program) in (20, 32)
    return 0 < version <= MAX_WITNESS_VERSION and 2 <= len(program) <= 40


@dataclass(frozen=True, slots=True)
class Fallback:
    """One `f` field: witness version 0..16 with its program, or 17/18 with a hash160."""

    version: int
    """5-bit version: 0..16 witness version, 17 P2PKH, 18 P2SH."""
    program: bytes
    """Witness program, or the 20-byte public key / script hash."""

    @property
    def kind(self) -> str:
        """Conventional name of the output type (P2PKH, P2WSH, P2TR, ...)."""
        if self.version == P2PKH_VERSION:
            return "P2PKH"
        if self.version == P2SH_VERSION:
            return "P2SH"
        if self.version == 0:
            return "P2WPKH" if len(self.program) == 20 else "P2WSH"
        if self.version == 1 and len(self.program) == 32:
            return "P2TR"
        return f"segwit v{self.version}"

    def script_pubkey(self) -> bytes:
        """The output script this fallback pays to."""
        if self.version == P2PKH_VERSION:
            return b"\x76\xa9\x14" + self.program + b"\x88\xac"
        if self.version == P2SH_VERSION:
            return b"\xa9\x14" + self.program + b"\x87"
        op_n = 0 if self.version == 0 else 0x50 + self.version
        return bytes([op_n, len(self.program)]) + self.program

    def address(self, currency: str) -> str:
        """The address string on the network of an invoice's currency prefix."""
        segwit_hrp, p2pkh, p2sh = NETWORKS[currency]
        if self.version == P2PKH_VERSION:
            return base58check_encode(bytes([p2pkh]) + self.program)
        if self.version == P2SH_VERSION:
            return base58check_encode(bytes([p2sh]) + self.program)
        return encode_segwit_address(segwit_hrp, self.version, self.program)
