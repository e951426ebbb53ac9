"""Helpers for the chain tests on btcd: a key that mines and spends coinbase coins
(P2WPKH, signed with bitcoin.sighash), a chain source on a test-bed btcd, two btcds
joined and parted over p2p."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from vajra.bitcoin.block import scan_block
from vajra.bitcoin.script import hash160, p2wpkh, p2wpkh_script_code, script_to_address
from vajra.bitcoin.sighash import bip143_sighash
from vajra.bitcoin.tx import OutPoint, Tx, TxIn, TxOut
from vajra.chain.btcd import BtcdSource
from vajra.chain.types import from_display_hex
from vajra.crypto.secp256k1 import PrivateKey
from vajra.testbed.btcd import Btcd
from vajra.testbed.procs import wait_until
from vajra.testbed.runtime import chain_url

SIGHASH_ALL = 1


def script_of(label: str) -> bytes:
    """A P2WPKH script nobody spends from (a watched 'address' of a test node)."""
    return b"\x00\x14" + hashlib.sha256(label.encode()).digest()[:20]


@dataclass(frozen=True)
class Coin:
    outpoint: OutPoint
    value_sat: int


class Miner:
    """The key btcd's coinbases pay; spends them into whatever outputs a test wants."""

    def __init__(self, label: str = "vajra chain test miner") -> None:
        self.key = PrivateKey(hashlib.sha256(label.encode()).digest())
        self.script = p2wpkh(self.key.pubkey)
        self.address = script_to_address(self.script, "regtest")

    def coinbase_coins(self, source: BtcdSource, heights: range) -> list[Coin]:
        """The coinbase outputs paying us in blocks at `heights` (parsed with scan_block)."""
        coins = []
        for h in heights:
            bh = source.block_hash(h)
            assert bh is not None
            _, txs = scan_block(source.block(bh))
            script, value = txs[0].outputs[0]
            assert script == self.script
            coins.append(Coin(OutPoint(txs[0].txid, 0), value))
        return coins

    def spend(self, coin: Coin, outputs: list[tuple[bytes, int]], fee_sat: int = 1000) -> bytes:
        """A signed transaction spending `coin` to `outputs`, change (minus fee) to us."""
        change = coin.value_sat - sum(v for _, v in outputs) - fee_sat
        outs = [TxOut(v, s) for s, v in outputs]
        if change > 0:
            outs.append(TxOut(change, self.script))
        tx = Tx(2, (TxIn(coin.outpoint, sequence=0xFFFFFFFD),), tuple(outs))
        code = p2wpkh_script_code(hash160(self.key.pubkey))
        digest = bip143_sighash(tx, 0, code, coin.value_sat, SIGHASH_ALL)
        sig = self.key.sign_digest_der(digest) + bytes((SIGHASH_ALL,))
        return tx.with_witnesses([(sig, self.key.pubkey)]).serialize()


def source_of(btcd: Btcd) -> BtcdSource:
    return BtcdSource(
        "127.0.0.1", btcd.rpc_port, btcd.rpcuser, btcd.rpcpass, cert=str(btcd.rpc_cert)
    )


url_of = chain_url
"""`VAJRA_CHAIN_URL` for a btcd (the runtime launcher's own)."""


def join(a: Btcd, b: Btcd) -> None:
    """Connect b to a over p2p and wait until both have the same best block."""
    b.call("addnode", f"127.0.0.1:{a.p2p_port}", "add")
    wait_until(
        lambda: a.getbestblockhash() == b.getbestblockhash(), timeout=60, what="btcds in sync"
    )


def part(a: Btcd, b: Btcd) -> None:
    """Drop the p2p link between a and b (both directions) and wait until it is gone."""
    b.call("addnode", f"127.0.0.1:{a.p2p_port}", "remove")
    for node in (a, b):
        for peer in node.call("getpeerinfo"):
            node.call("node", "disconnect", peer["addr"])
    wait_until(
        lambda: not a.call("getpeerinfo") and not b.call("getpeerinfo"),
        timeout=30,
        what="btcds parted",
    )


def txid_of(raw: bytes) -> bytes:
    return Tx.parse(raw).txid


__all__ = ["Coin", "Miner", "from_display_hex", "join", "part", "script_of", "source_of", "url_of"]
