"""The signer's key tree: every secret of every hosted node, derived from one BIP 39 seed.

Paths (BIP 32; `'` = hardened; `coin'` is SLIP 44: 0' mainnet, 1' testnet/signet/regtest):

    m/1017'/coin'/0'/node'/0'                    node identity key (BOLT 8 static key, node id)
    m/1017'/coin'/0'/node'/1'                    node state-encryption key (tagged hash of it)
    m/1017'/coin'/0'/node'/2'/channel'/0'..4'    channel basepoint secrets: funding,
                                                 revocation, payment, delayed_payment, htlc
    m/1017'/coin'/0'/node'/2'/channel'/5'        channel per-commitment seed (BOLT 3)
    m/1017'/coin'/1'/0'                          signer audit-log signing key
    m/1017'/coin'/1'/1'                          signer link static key (Noise)
    m/1017'/coin'/1'/2'                          signer state MAC key (tagged hash of it)
    m/1017'/coin'/1'/3'                          signer backup encryption key (tagged hash)
    m/84'/coin'/node'/change/index               node on-chain wallet (BIP 84 account = node)

Why these:
- 1017' is the BIP 43 purpose Lightning wallets already use for Lightning keys (LND), so
  an ordinary on-chain wallet restored from the mnemonic never scans this subtree. Our
  layout below it is our own (we do not claim LND compatibility; LND seeds are aezeed).
- coin' keeps regtest and mainnet keys apart: a mnemonic tried on regtest never yields a
  mainnet node id or key.
- The third level separates hosted nodes (0') from the signer's own keys (1'), so a node
  index can never collide with a signer key.
- Everything node- or channel-specific is hardened: a leaked child secret plus chain code
  of one node or channel reveals nothing about its siblings or parents.
- On-chain funds use plain BIP 84 with the node index as the account, so any standard
  wallet can sweep a node's closed-channel funds with the mnemonic alone if the signer is
  lost, and the runtime can later be given the account xpub to watch addresses; the
  unhardened change/index levels are what BIP 84 prescribes for that.
- The state key is a tagged SHA-256 of a BIP 32 secret rather than the secret itself, so
  the symmetric key is never also a valid curve scalar used elsewhere.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from enum import IntEnum

from vajra.channel.keys import ChannelSecrets
from vajra.crypto.bip32 import HARDENED, ExtendedPrivateKey, master_key
from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import PrivateKey

H = HARDENED
PURPOSE_LIGHTNING = 1017 + H
PURPOSE_BIP84 = 84 + H
MAX_INDEX = H - 1  # hardened steps take 0 .. 2^31 - 1

COIN_TYPES = {"bitcoin": 0, "mainnet": 0, "testnet": 1, "testnet4": 1, "signet": 1, "regtest": 1}


class NodeKey(IntEnum):
    """The purpose level below m/1017'/coin'/0'/node'."""

    IDENTITY = 0
    STATE = 1
    CHANNELS = 2


class SignerKey(IntEnum):
    """The level below m/1017'/coin'/1'."""

    AUDIT = 0
    LINK = 1
    STATE = 2
    BACKUP = 3


class ChannelKey(IntEnum):
    """The level below .../2'/channel'."""

    FUNDING = 0
    REVOCATION = 1
    PAYMENT = 2
    DELAYED_PAYMENT = 3
    HTLC = 4
    PER_COMMITMENT_SEED = 5


_NODES_CACHED = 1024
"""`SignerKeys.node` keeps this many nodes' keys (a few hundred bytes each)."""
_CHANNELS_CACHED = 64
"""`NodeKeys.channel` keeps this many channels' secrets per cached node."""
_STATE_KEY_TAG = sha256(b"vajra/node-state-key/v1")
_SIGNER_STATE_TAG = sha256(b"vajra/signer-state-key/v1")
_SIGNER_BACKUP_TAG = sha256(b"vajra/signer-backup-key/v1")


def _index(i: int) -> int:
    if not 0 <= i <= MAX_INDEX:
        raise ValueError(f"index {i} out of range 0..2^31-1")
    return i


class NodeKeys:
    """All keys of one hosted node (its subtree of the signer's tree)."""

    __slots__ = ("_channels", "_coin", "_master", "_root", "identity", "index")

    def __init__(self, master: ExtendedPrivateKey, coin: int, index: int) -> None:
        self.index = _index(index)
        self._coin = coin
        self._master = master
        self._root = master.derive((PURPOSE_LIGHTNING, coin + H, 0 + H, index + H))
        self.identity = PrivateKey(self._root.child(NodeKey.IDENTITY + H).secret)
        self._channels: dict[int, ChannelSecrets] = {}

    def __repr__(self) -> str:
        return f"NodeKeys(index={self.index}, node_id={self.node_id.hex()})"

    @property
    def node_id(self) -> bytes:
        """BOLT 1 node id: the compressed public identity key."""
        return self.identity.pubkey

    def state_key(self) -> bytes:
        """32-byte symmetric key for the node's encrypted state (released at wake)."""
        secret = self._root.child(NodeKey.STATE + H).secret
        return sha256(_STATE_KEY_TAG + _STATE_KEY_TAG + secret)  # BIP 340 style tagged hash

    def channel(self, channel_index: int) -> ChannelSecrets:
        """Basepoint secrets and per-commitment seed of the node's channel `channel_index`."""
        cached = self._channels.get(channel_index)
        if cached is not None:
            return cached
        base = self._root.derive((NodeKey.CHANNELS + H, _index(channel_index) + H))
        secrets = ChannelSecrets(*(base.child(k + H).secret for k in ChannelKey))
        if len(self._channels) >= _CHANNELS_CACHED:
            self._channels.clear()
        self._channels[channel_index] = secrets
        return secrets

    @property
    def coin(self) -> int:
        return self._coin

    @property
    def master_fingerprint(self) -> bytes:
        """BIP 32 fingerprint of the master key (PSBT key origins name it)."""
        return self._master.fingerprint

    def account_path(self) -> tuple[int, int, int]:
        """BIP 84 account path m/84'/coin'/node'."""
        return (PURPOSE_BIP84, self._coin + H, self.index + H)

    def account(self) -> ExtendedPrivateKey:
        """The node's BIP 84 account node; its `.public()` is the xpub the runtime gets."""
        return self._master.derive(self.account_path(), fingerprint=True)

    def onchain(self, change: int, index: int) -> PrivateKey:
        """BIP 84: m/84'/coin'/account'/change/address_index with account = node index."""
        if change not in (0, 1):
            raise ValueError("BIP 84 change is 0 (receive) or 1 (change)")
        path = (PURPOSE_BIP84, self._coin + H, self.index + H, change, _index(index))
        return PrivateKey(self._master.derive(path).secret)


class SignerKeys:
    """The root: one seed, any number of hosted nodes."""

    __slots__ = ("_coin", "_master", "_nodes")

    def __init__(self, seed: bytes, network: str = "regtest") -> None:
        if network not in COIN_TYPES:
            raise ValueError(f"unknown network {network!r}")
        self._coin = COIN_TYPES[network]
        self._master = master_key(seed)
        self._nodes: OrderedDict[int, NodeKeys] = OrderedDict()

    def __repr__(self) -> str:
        return f"SignerKeys(coin={self._coin})"

    def node(self, index: int) -> NodeKeys:
        """The node's keys, from a small LRU of the most recently used nodes: every
        request of an awake node (a channel request, a state key) re-derived four
        hardened levels and the identity key before. The cache holds only what the seed
        in this process derives anyway."""
        # Callers may be on several threads (the runtime's dev signer): each OrderedDict
        # step is atomic under the GIL, and a step racing another's eviction is skipped.
        cached = self._nodes.get(index)
        if cached is not None:
            with contextlib.suppress(KeyError):
                self._nodes.move_to_end(index)
            return cached
        keys = NodeKeys(self._master, self._coin, index)
        self._nodes[index] = keys
        while len(self._nodes) > _NODES_CACHED:
            try:
                self._nodes.popitem(last=False)
            except KeyError:
                break
        return keys

    def _signer_key(self, which: SignerKey) -> PrivateKey:
        path = (PURPOSE_LIGHTNING, self._coin + H, 1 + H, which + H)
        return PrivateKey(self._master.derive(path).secret)

    def audit_key(self) -> PrivateKey:
        return self._signer_key(SignerKey.AUDIT)

    def link_key(self) -> PrivateKey:
        return self._signer_key(SignerKey.LINK)

    def state_key(self) -> bytes:
        """32-byte MAC key of the signer's own state file (decision 0012)."""
        secret = self._signer_key(SignerKey.STATE).secret
        return sha256(_SIGNER_STATE_TAG + _SIGNER_STATE_TAG + secret)

    def backup_key(self) -> bytes:
        """32-byte key sealing the state backup the runtime holds (decision 0012)."""
        secret = self._signer_key(SignerKey.BACKUP).secret
        return sha256(_SIGNER_BACKUP_TAG + _SIGNER_BACKUP_TAG + secret)
