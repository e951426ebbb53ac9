"""Output script templates and addresses (BIP 141, BIP 341, BIP 173, BIP 350).

Scripts are `bytes`. Addresses: segwit v0 in bech32 (BIP 173), v1+ in bech32m (BIP 350),
legacy P2PKH/P2SH in base58check; the human-readable part and base58 version bytes come
from the chain name (`vajra.bitcoin.chains` names: bitcoin, testnet, testnet4, signet,
regtest). Bad addresses raise `AddressError` (a `DecodeError`).
"""

from __future__ import annotations

from typing import Final

from vajra.crypto.base58 import base58check_decode, base58check_encode
from vajra.crypto.hashes import hash160, sha256
from vajra.errors import DecodeError
from vajra.invoice.bech32 import Encoding, convertbits, encode_segwit_address
from vajra.invoice.bech32 import decode as bech32_decode

OP_0: Final = 0x00
OP_PUSHDATA1: Final = 0x4C
OP_PUSHDATA2: Final = 0x4D
OP_1: Final = 0x51
OP_16: Final = 0x60
OP_DUP: Final = 0x76
OP_EQUAL: Final = 0x87
OP_EQUALVERIFY: Final = 0x88
OP_HASH160: Final = 0xA9
OP_CHECKSIG: Final = 0xAC


class AddressError(DecodeError):
    """A string that is not a valid address for the expected chain."""


# chain name -> (segwit hrp, base58 P2PKH version, base58 P2SH version)
NETWORKS: Final[dict[str, tuple[str, int, int]]] = {
    "bitcoin": ("bc", 0x00, 0x05),
    "testnet": ("tb", 0x6F, 0xC4),
    "testnet4": ("tb", 0x6F, 0xC4),
    "signet": ("tb", 0x6F, 0xC4),
    "regtest": ("bcrt", 0x6F, 0xC4),
}


def push_data(data: bytes) -> bytes:
    """The minimal push of `data` (BIP 62 rule 3 for lengths; small ints are the
    caller's business since templates push keys and hashes)."""
    n = len(data)
    if n < OP_PUSHDATA1:
        return bytes((n,)) + data
    if n <= 0xFF:
        return bytes((OP_PUSHDATA1, n)) + data
    if n <= 0xFFFF:
        return bytes((OP_PUSHDATA2,)) + n.to_bytes(2, "little") + data
    raise ValueError("push over 65535 bytes")


def push_int(n: int) -> bytes:
    """Minimal push of a script number (BIP 62 rule 3, CScriptNum encoding): OP_0,
    OP_1..OP_16, else the shortest little-endian sign-magnitude bytes."""
    if n == 0:
        return bytes((OP_0,))
    if 1 <= n <= 16:
        return bytes((OP_1 + n - 1,))
    if n == -1:
        return b"\x4f"  # OP_1NEGATE
    neg, mag = n < 0, abs(n)
    out = bytearray()
    while mag:
        out.append(mag & 0xFF)
        mag >>= 8
    if out[-1] & 0x80:
        out.append(0x80 if neg else 0x00)
    elif neg:
        out[-1] |= 0x80
    return push_data(bytes(out))


# -- templates -------------------------------------------------------------------------


def p2wpkh(pubkey: bytes) -> bytes:
    """`OP_0 <20-byte HASH160(pubkey)>` for a 33-byte compressed key (BIP 141)."""
    if len(pubkey) != 33:
        raise ValueError("P2WPKH takes a 33-byte compressed public key")
    return b"\x00\x14" + hash160(pubkey)


def p2wsh(witness_script: bytes) -> bytes:
    """`OP_0 <32-byte SHA256(witness_script)>` (BIP 141)."""
    return b"\x00\x20" + sha256(witness_script)


def p2tr(output_key: bytes) -> bytes:
    """`OP_1 <32-byte x-only output key>` (BIP 341). The key is already tweaked."""
    if len(output_key) != 32:
        raise ValueError("P2TR takes a 32-byte x-only output key")
    return b"\x51\x20" + output_key


def p2pkh(pubkey: bytes) -> bytes:
    return bytes((OP_DUP, OP_HASH160, 20)) + hash160(pubkey) + bytes((OP_EQUALVERIFY, OP_CHECKSIG))


def p2sh(redeem_script: bytes) -> bytes:
    return bytes((OP_HASH160, 20)) + hash160(redeem_script) + bytes((OP_EQUAL,))


def p2wpkh_script_code(pubkey_hash: bytes) -> bytes:
    """The BIP 143 scriptCode of a P2WPKH input: `OP_DUP OP_HASH160 <hash> OP_EQUALVERIFY
    OP_CHECKSIG` with its length prefix omitted (the sighash adds it)."""
    return bytes((OP_DUP, OP_HASH160, 20)) + pubkey_hash + bytes((OP_EQUALVERIFY, OP_CHECKSIG))


def witness_program(script: bytes) -> tuple[int, bytes] | None:
    """(version, program) if `script` is a witness output (BIP 141: a version push
    OP_0/OP_1..OP_16 then one direct push of 2..40 bytes), else None."""
    if not 4 <= len(script) <= 42 or script[1] + 2 != len(script):
        return None
    op = script[0]
    if op == OP_0:
        return 0, script[2:]
    if OP_1 <= op <= OP_16:
        return op - OP_1 + 1, script[2:]
    return None


def is_p2wpkh(script: bytes) -> bool:
    return len(script) == 22 and script[:2] == b"\x00\x14"


def is_p2wsh(script: bytes) -> bool:
    return len(script) == 34 and script[:2] == b"\x00\x20"


def is_p2tr(script: bytes) -> bool:
    return len(script) == 34 and script[:2] == b"\x51\x20"


# -- addresses ------------------------------------------------------------------------


def _network(chain: str) -> tuple[str, int, int]:
    try:
        return NETWORKS[chain]
    except KeyError:
        raise ValueError(f"unknown chain {chain!r}") from None


def _base58check_decode(s: str) -> bytes:
    try:
        return base58check_decode(s, max_length=64)
    except DecodeError as e:
        raise AddressError(str(e)) from None


def script_to_address(script: bytes, chain: str) -> str:
    """The address of an output script on `chain`; ValueError for scripts without one
    (bare multisig, OP_RETURN, ...)."""
    hrp, v_pkh, v_sh = _network(chain)
    wp = witness_program(script)
    if wp is not None:
        return encode_segwit_address(hrp, *wp)
    if len(script) == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return base58check_encode(bytes((v_pkh,)) + script[3:23])
    if len(script) == 23 and script[:2] == b"\xa9\x14" and script[22] == OP_EQUAL:
        return base58check_encode(bytes((v_sh,)) + script[2:22])
    raise ValueError("script has no address form")


def address_to_script(address: str, chain: str) -> bytes:
    """The output script an address on `chain` pays to. `AddressError` on a malformed
    address, a wrong checksum variant (BIP 350), or an address of another chain."""
    hrp, v_pkh, v_sh = _network(chain)
    if address.lower().startswith(hrp + "1"):
        try:
            got_hrp, words, encoding = bech32_decode(address)
        except DecodeError as e:
            raise AddressError(f"bad bech32 address: {e}") from None
        if got_hrp != hrp or not words:
            raise AddressError(f"not a {chain} address")
        version = words[0]
        try:
            program = convertbits(words[1:], 5, 8, pad=False)
        except ValueError:
            raise AddressError("bad bech32 padding") from None
        if version > 16 or not 2 <= len(program) <= 40:
            raise AddressError("bad witness version or program length")
        if version == 0 and len(program) not in (20, 32):
            raise AddressError("witness v0 program must be 20 or 32 bytes")
        # BIP 350: v0 uses bech32, v1..16 bech32m; the other checksum is invalid.
        if encoding != (Encoding.BECH32 if version == 0 else Encoding.BECH32M):
            raise AddressError("wrong checksum variant for the witness version")
        op = OP_0 if version == 0 else OP_1 + version - 1
        return bytes((op, len(program))) + program
    payload = _base58check_decode(address)
    if len(payload) != 21:
        raise AddressError("base58 address payload is not 21 bytes")
    if payload[0] == v_pkh:
        return b"\x76\xa9\x14" + payload[1:] + b"\x88\xac"
    if payload[0] == v_sh:
        return b"\xa9\x14" + payload[1:] + b"\x87"
    raise AddressError(f"not a {chain} address")
