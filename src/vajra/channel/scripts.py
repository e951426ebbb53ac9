"""BOLT 3 witness scripts: funding, to_local, to_remote (anchors), anchors, HTLC outputs.

Each function returns the witness script; the output script is `p2wsh(script)`. Keys are
33-byte compressed public keys; `anchors` selects the `option_anchors` variant (both
`option_anchors_zero_fee_htlc_tx` channels and the HTLC outputs' extra
`1 OP_CHECKSEQUENCEVERIFY OP_DROP`).
"""

from __future__ import annotations

import hashlib

from vajra.bitcoin.script import push_data, push_int
from vajra.crypto.hashes import hash160

OP_DROP = 0x75
OP_DUP = 0x76
OP_SWAP = 0x7C
OP_SIZE = 0x82
OP_EQUAL = 0x87
OP_EQUALVERIFY = 0x88
OP_IF = 0x63
OP_NOTIF = 0x64
OP_ELSE = 0x67
OP_ENDIF = 0x68
OP_IFDUP = 0x73
OP_HASH160 = 0xA9
OP_CHECKSIG = 0xAC
OP_CHECKSIGVERIFY = 0xAD
OP_CHECKMULTISIG = 0xAE
OP_CHECKLOCKTIMEVERIFY = 0xB1
OP_CHECKSEQUENCEVERIFY = 0xB2
OP_1 = 0x51
OP_2 = 0x52
OP_16 = 0x60


_OPCODE = tuple(bytes((i,)) for i in range(256))


def _ops(*parts: int | bytes) -> bytes:
    # A list, not a generator, and the one-byte opcodes from a table: scripts are built
    # for every commitment a signer signs or validates.
    return b"".join([_OPCODE[p] if isinstance(p, int) else p for p in parts])


def funding_script(pubkey_a: bytes, pubkey_b: bytes) -> bytes:
    """`2 <pubkey1> <pubkey2> 2 OP_CHECKMULTISIG`, "where `pubkey1` is the
    lexicographically lesser of the two `funding_pubkey` in compressed format"."""
    k1, k2 = sorted((pubkey_a, pubkey_b))
    return _ops(OP_2, push_data(k1), push_data(k2), OP_2, OP_CHECKMULTISIG)


def to_local_script(
    revocation_pubkey: bytes, to_self_delay: int, local_delayed_pubkey: bytes
) -> bytes:
    """`to_local` output, also the output of HTLC-timeout/success transactions:
    OP_IF <revocationpubkey> OP_ELSE `to_self_delay` OP_CHECKSEQUENCEVERIFY OP_DROP
    <local_delayedpubkey> OP_ENDIF OP_CHECKSIG."""
    return _ops(
        OP_IF,
        push_data(revocation_pubkey),
        OP_ELSE,
        push_int(to_self_delay),
        OP_CHECKSEQUENCEVERIFY,
        OP_DROP,
        push_data(local_delayed_pubkey),
        OP_ENDIF,
        OP_CHECKSIG,
    )


def to_remote_anchors_script(remote_pubkey: bytes) -> bytes:
    """`to_remote` under option_anchors: <remotepubkey> OP_CHECKSIGVERIFY 1
    OP_CHECKSEQUENCEVERIFY (without anchors it is P2WPKH to `remotepubkey`)."""
    return _ops(push_data(remote_pubkey), OP_CHECKSIGVERIFY, OP_1, OP_CHECKSEQUENCEVERIFY)


def anchor_script(funding_pubkey: bytes) -> bytes:
    """`to_local_anchor` / `to_remote_anchor`: <funding_pubkey> OP_CHECKSIG OP_IFDUP
    OP_NOTIF OP_16 OP_CHECKSEQUENCEVERIFY OP_ENDIF."""
    return _ops(
        push_data(funding_pubkey),
        OP_CHECKSIG,
        OP_IFDUP,
        OP_NOTIF,
        OP_16,
        OP_CHECKSEQUENCEVERIFY,
        OP_ENDIF,
    )


def _ripemd160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", data).digest()


def offered_htlc_script(
    revocation_pubkey: bytes,
    remote_htlc_pubkey: bytes,
    local_htlc_pubkey: bytes,
    payment_hash: bytes,
    *,
    anchors: bool,
) -> bytes:
    """Offered HTLC output (BOLT 3 "Offered HTLC Outputs")."""
    return _ops(
        OP_DUP,
        OP_HASH160,
        push_data(hash160(revocation_pubkey)),
        OP_EQUAL,
        OP_IF,
        OP_CHECKSIG,
        OP_ELSE,
        push_data(remote_htlc_pubkey),
        OP_SWAP,
        OP_SIZE,
        push_int(32),
        OP_EQUAL,
        OP_NOTIF,
        OP_DROP,
        OP_2,
        OP_SWAP,
        push_data(local_htlc_pubkey),
        OP_2,
        OP_CHECKMULTISIG,
        OP_ELSE,
        OP_HASH160,
        push_data(_ripemd160(payment_hash)),
        OP_EQUALVERIFY,
        OP_CHECKSIG,
        OP_ENDIF,
        _ops(OP_1, OP_CHECKSEQUENCEVERIFY, OP_DROP) if anchors else b"",
        OP_ENDIF,
    )


def received_htlc_script(
    revocation_pubkey: bytes,
    remote_htlc_pubkey: bytes,
    local_htlc_pubkey: bytes,
    payment_hash: bytes,
    cltv_expiry: int,
    *,
    anchors: bool,
) -> bytes:
    """Received HTLC output (BOLT 3 "Received HTLC Outputs")."""
    return _ops(
        OP_DUP,
        OP_HASH160,
        push_data(hash160(revocation_pubkey)),
        OP_EQUAL,
        OP_IF,
        OP_CHECKSIG,
        OP_ELSE,
        push_data(remote_htlc_pubkey),
        OP_SWAP,
        OP_SIZE,
        push_int(32),
        OP_EQUAL,
        OP_IF,
        OP_HASH160,
        push_data(_ripemd160(payment_hash)),
        OP_EQUALVERIFY,
        OP_2,
        OP_SWAP,
        push_data(local_htlc_pubkey),
        OP_2,
        OP_CHECKMULTISIG,
        OP_ELSE,
        OP_DROP,
        push_int(cltv_expiry),
        OP_CHECKLOCKTIMEVERIFY,
        OP_DROP,
        OP_CHECKSIG,
        OP_ENDIF,
        _ops(OP_1, OP_CHECKSEQUENCEVERIFY, OP_DROP) if anchors else b"",
        OP_ENDIF,
    )
