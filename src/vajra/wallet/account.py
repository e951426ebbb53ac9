"""A node's watch-only BIP 84 account and its persisted wallet state, sans-IO.

The signer releases the account xpub m/84'/coin'/node' once (public data, decision 0011);
the runtime derives every receive (change = 0) and change (change = 1) P2WPKH script
from it with BIP 32 public derivation and never holds a private key.

Gap limit: the watcher has no rescan, so an address must be registered before anyone can
pay it. The runtime keeps `GAP_LIMIT` addresses beyond the last one handed out (or used
for change) registered on each chain; a wallet restored elsewhere from the mnemonic finds
the same addresses with the usual BIP 44 gap of 20.

State (`WalletState`, JSON under the store key `wallet/v1` of the node; no secret):
the xpub, the signer's master fingerprint (PSBT key origins name it), and per chain the
next unused index and how far the watcher has been told.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from vajra.bitcoin.script import p2wpkh
from vajra.crypto.base58 import base58check_encode
from vajra.crypto.bip32 import HARDENED, ExtendedPublicKey, parse_extended_key
from vajra.errors import DecodeError

GAP_LIMIT = 20
RECEIVE, CHANGE = 0, 1
STORE_KEY = "wallet/v1"
COIN_TYPES = {"bitcoin": 0, "mainnet": 0, "testnet": 1, "testnet4": 1, "signet": 1, "regtest": 1}


@dataclass(frozen=True, slots=True)
class WalletState:
    xpub: bytes
    """78-byte BIP 32 serialisation of the account (m/84'/coin'/node')."""
    master_fingerprint: bytes
    next_index: tuple[int, int] = (0, 0)
    """Next unused index on the receive and change chains."""
    watched: tuple[int, int] = (0, 0)
    """Indices below these are registered with the watcher, per chain."""

    def encode(self) -> bytes:
        return json.dumps(
            {"v": 1, "xpub": self.xpub.hex(), "fingerprint": self.master_fingerprint.hex(),
             "next": list(self.next_index), "watched": list(self.watched)},
        ).encode()  # fmt: skip

    @classmethod
    def decode(cls, data: bytes) -> WalletState:
        try:
            o = json.loads(data)
            st = cls(bytes.fromhex(o["xpub"]), bytes.fromhex(o["fingerprint"]),
                     (int(o["next"][0]), int(o["next"][1])),
                     (int(o["watched"][0]), int(o["watched"][1])))  # fmt: skip
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise DecodeError(f"bad wallet state: {e}") from None
        Account(st)  # the xpub parses
        return st


def parse_account_xpub(raw: bytes) -> ExtendedPublicKey:
    """The account key from its 78-byte serialisation; DecodeError unless it is a public
    key at depth 3 (m/84'/coin'/account')."""
    if len(raw) != 78:
        raise DecodeError("an extended public key is 78 bytes")
    _, key = parse_extended_key(base58check_encode(raw))  # Bip32Error is a DecodeError
    if not isinstance(key, ExtendedPublicKey) or key.depth != 3 or key.child_number < HARDENED:
        raise DecodeError("not a BIP 84 account key (depth 3, hardened)")
    return key


class Account:
    """Scripts and key origins of one node's BIP 84 account."""

    def __init__(self, state: WalletState) -> None:
        self.state = state
        self.key = parse_account_xpub(state.xpub)
        self._chains = (self.key.child(RECEIVE), self.key.child(CHANGE))

    @property
    def account_index(self) -> int:
        return self.key.child_number - HARDENED

    def pubkey(self, change: int, index: int) -> bytes:
        return self._chains[change].child(index).pubkey

    def script(self, change: int, index: int) -> bytes:
        """The P2WPKH scriptPubKey at m/84'/coin'/account'/change/index."""
        return p2wpkh(self.pubkey(change, index))

    def path(self, change: int, index: int, coin: int) -> tuple[int, ...]:
        return (84 + HARDENED, coin + HARDENED, self.key.child_number, change, index)


def to_watch(state: WalletState) -> tuple[WalletState, list[tuple[int, int]]]:
    """The (change, index) pairs to register so that GAP_LIMIT addresses beyond the next
    unused one are watched on both chains, and the state that records it."""
    todo: list[tuple[int, int]] = []
    watched = list(state.watched)
    for chain in (RECEIVE, CHANGE):
        want = state.next_index[chain] + GAP_LIMIT
        todo += [(chain, i) for i in range(watched[chain], want)]
        watched[chain] = max(watched[chain], want)
    return WalletState(state.xpub, state.master_fingerprint, state.next_index,
                       (watched[0], watched[1])), todo  # fmt: skip


def take_index(state: WalletState, chain: int) -> tuple[WalletState, int]:
    """Hand out the next unused index of `chain`; the state after it."""
    nxt = list(state.next_index)
    index = nxt[chain]
    nxt[chain] += 1
    return WalletState(state.xpub, state.master_fingerprint, (nxt[0], nxt[1]),
                       state.watched), index  # fmt: skip
