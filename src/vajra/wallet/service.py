"""The runtime's wallet service: every hosted node's on-chain wallet, served from the
supervisor without waking the node (decision 0011). The admin API's wallet endpoints
are thin handlers over this (`vajra.runtime.wallet_http`).

What it stands on, one of each per runtime: the store (wallet state, public data, under
`wallet/v1` of each node), the shared chain watcher (registered scripts, UTXOs, balance),
the broadcaster (rebroadcast until confirmed) and the fee estimator of the chain
source, and the node's live signer (account xpub once; every spend's signature).

Send, step by step:
  1. the destination address is parsed for the runtime's chain;
  2. coins: the node's confirmed UTXOs from the watcher, minus those a transaction the
     broadcaster still sends already spends (the watcher sees spends in blocks);
  3. the fee rate from the chain source (clamped by the operator's policy); coin
     selection and a change address of the node's own wallet, registered first;
  4. the PSBT (witness UTXOs, key origins of every input and of the change);
  5. the signer decides the device's on-chain authorisation against that PSBT and signs
     only if it covers it; a refusal is returned with its reason, nothing broadcast;
  6. the finalized transaction goes to the broadcaster.
The signer request carries the node's lease epoch: the wallet takes the node's lease for
the send (a fresh epoch) or, when a worker holds it, uses the holder's epoch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from vajra.bitcoin.script import AddressError, address_to_script, script_to_address
from vajra.bitcoin.tx import OutPoint, Tx, TxDecodeError
from vajra.chain.broadcast import Broadcaster
from vajra.chain.types import ChainError, Purpose, TxRejected, WatcherApi, display_hex
from vajra.errors import DecodeError, VajraError
from vajra.signer import link_proto as lp
from vajra.signer.onchain_messages import decode_onchain_authorisation
from vajra.store.errors import LeaseHeld, StoreConflict
from vajra.store.sqlite import SqliteStore
from vajra.wallet import psbt_build
from vajra.wallet.account import (
    CHANGE,
    COIN_TYPES,
    RECEIVE,
    STORE_KEY,
    Account,
    WalletState,
    take_index,
    to_watch,
)
from vajra.wallet.select import Coin, InsufficientFunds, Spend, build_spend

LEASE_TTL = 60.0
WALLET_PURPOSES = (Purpose.RECEIVE, Purpose.CHANGE)
"""Watched outputs that are the wallet's (FUNDING outputs belong to channels)."""


class WalletError(VajraError):
    """A wallet request that cannot be served. `code` is stable (admin API, CLI)."""

    def __init__(self, code: str, detail: str = "", **extra: Any) -> None:
        self.code = code
        self.detail = detail
        self.extra = extra
        super().__init__(f"{code}: {detail}" if detail else code)


@runtime_checkable
class WalletSigner(Protocol):
    async def account_xpub(self, node_id: bytes, epoch: int) -> tuple[bytes, bytes]: ...
    async def sign_onchain(self, node_id: bytes, authorisation: bytes, psbt: bytes, epoch: int,
                           confirmation: bytes = b"") -> lp.OnchainSigned: ...  # fmt: skip


@dataclass
class ChainParts:
    """The runtime's one watcher, broadcaster and fee-rate function (sat/kvB; blocking)."""

    watcher: WatcherApi
    broadcaster: Broadcaster
    fee_rate: Callable[[], int]


class WalletService:
    def __init__(
        self,
        store: SqliteStore,
        chain: ChainParts,
        network: str,
        signer_for: Callable[[bytes], WalletSigner],
        node_index: Callable[[bytes], int | None],
        runtime_id: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.chain = chain
        self.network = network
        self.coin = COIN_TYPES[network]
        self.signer_for = signer_for
        self.node_index = node_index
        self.runtime_id = f"{runtime_id}/wallet"
        self.clock = clock
        self._locks: dict[bytes, asyncio.Lock] = {}
        self._reserved: set[OutPoint] = set()
        """Coins of drafts not yet signed (a funding PSBT waits for funding_signed)."""

    # --- state ------------------------------------------------------------------------------

    def _index(self, node_id: bytes) -> int:
        index = self.node_index(node_id)
        if index is None:
            raise WalletError("unknown_node", node_id.hex())
        return index

    def _lock(self, node_id: bytes) -> asyncio.Lock:
        return self._locks.setdefault(node_id, asyncio.Lock())

    def _load(self, node_id: bytes) -> tuple[int, WalletState] | None:
        got = self.store.get(node_id, STORE_KEY)
        if got is None:
            return None
        return got[0], WalletState.decode(got[1])

    def _save(self, node_id: bytes, version: int, state: WalletState) -> int:
        try:
            return self.store.put(node_id, STORE_KEY, state.encode(), version)
        except StoreConflict as e:  # one supervisor writes wallets: a bug if it happens
            raise WalletError("conflict", str(e)) from None

    async def _register(
        self, node_id: bytes, version: int, state: WalletState
    ) -> tuple[int, WalletState]:
        """Watch GAP_LIMIT addresses past the next unused one on both chains, then
        record it (registering again after a crash in between is a no-op). The watcher
        call waits for the follower's current run of blocks: in a thread, off the loop."""
        state, todo = to_watch(state)
        if todo:
            acct = Account(state)
            index = self._index(node_id)
            for chain, purpose in ((RECEIVE, Purpose.RECEIVE), (CHANGE, Purpose.CHANGE)):
                scripts = [acct.script(c, i) for c, i in todo if c == chain]
                if scripts:
                    await asyncio.to_thread(
                        self.chain.watcher.watch_scripts, index, scripts, purpose
                    )
        return self._save(node_id, version, state), state

    async def _state(self, node_id: bytes) -> tuple[int, WalletState]:
        """The node's wallet state, fetching the account xpub from its signer the first
        time (the node need not be awake: the xpub is public data)."""
        found = self._load(node_id)
        if found is not None:
            return found
        self._index(node_id)
        try:
            xpub, fingerprint = await self.signer_for(node_id).account_xpub(node_id, 0)
        except KeyError as e:
            raise WalletError("signer_unavailable", str(e)) from None
        state = WalletState(xpub, fingerprint)
        Account(state)  # refuse a malformed key before storing it
        return await self._register(node_id, 0, state)

    async def ensure(self, node_id: bytes) -> None:
        """Create the node's wallet record if it has none (as the first address request
        would), so a runtime worker can derive the node's close script from it."""
        async with self._lock(node_id):
            await self._state(node_id)

    # --- reads ------------------------------------------------------------------------------

    async def new_address(self, node_id: bytes) -> dict[str, Any]:
        """A fresh receive address (registered with the watcher before it is returned)."""
        async with self._lock(node_id):
            version, state = await self._state(node_id)
            state, index = take_index(state, RECEIVE)
            version, state = await self._register(node_id, version, state)
        script = Account(state).script(RECEIVE, index)
        return {"address": script_to_address(script, self.network), "index": index,
                "script_pubkey": script.hex(),
                "path": f"m/84'/{self.coin}'/{Account(state).account_index}'/0/{index}"}  # fmt: skip

    def _pending(self) -> tuple[set[OutPoint], list[Tx]]:
        """Outpoints spent by, and the transactions of, what the broadcaster still sends
        (not yet seen in a block by the watcher)."""
        rows = self.chain.broadcaster.db.query(
            "SELECT raw FROM chain_broadcasts WHERE confirmed_height IS NULL"
        )
        txs: list[Tx] = []
        for (raw,) in rows:
            try:
                txs.append(Tx.parse(bytes(raw)))
            except TxDecodeError:
                continue
        return {i.prevout for tx in txs for i in tx.inputs}, txs

    def utxos(self, node_id: bytes) -> list[dict[str, Any]]:
        index = self._index(node_id)
        tip = self.chain.watcher.tip()
        spent, _ = self._pending()
        out = []
        for u in self.chain.watcher.utxos(index):
            if u.purpose not in WALLET_PURPOSES:
                continue  # a channel's funding output (FUNDING), not the wallet's
            out.append({
                "txid": display_hex(u.outpoint.txid), "vout": u.outpoint.vout,
                "value_sat": u.value_sat, "address": script_to_address(u.script_pubkey, self.network),
                "height": u.height, "confirmations": u.confirmations(tip.height if tip else 0),
                "purpose": u.purpose.name.lower(), "spending": u.outpoint in spent,
            })  # fmt: skip
        return out

    def balance(self, node_id: bytes) -> dict[str, Any]:
        """Confirmed and unconfirmed sat from the watcher; coins a pending send spends
        count in neither, its change to this node counts as unconfirmed."""
        index = self._index(node_id)
        w = self.chain.watcher
        bal = w.balance(index)
        confirmed, unconfirmed = bal.confirmed_sat, bal.unconfirmed_sat
        spent, txs = self._pending()
        known = {u.outpoint: u for u in w.utxos(index)}
        for op in spent & known.keys():
            if known[op].purpose not in WALLET_PURPOSES:
                continue  # not in the watcher's wallet balance (a channel's output)
            if known[op].height > 0:
                confirmed -= known[op].value_sat
            else:
                unconfirmed -= known[op].value_sat
        found = self._load(node_id)
        if found is not None:
            acct = Account(found[1])
            own = {acct.script(CHANGE, i) for i in range(found[1].watched[CHANGE])}
            for tx in txs:
                if not any(i.prevout in known for i in tx.inputs):
                    continue
                for vout, o in enumerate(tx.outputs):
                    if o.script_pubkey in own and OutPoint(tx.txid, vout) not in known:
                        unconfirmed += o.amount_sat
        tip = w.tip()
        return {"confirmed_sat": confirmed, "unconfirmed_sat": unconfirmed,
                "tip_height": tip.height if tip else None}  # fmt: skip

    # --- send -------------------------------------------------------------------------------

    def _coins(self, node_id: bytes, state: WalletState) -> list[Coin]:
        acct = Account(state)
        paths: dict[bytes, tuple[int, int]] = {}
        for chain in (RECEIVE, CHANGE):
            for i in range(state.watched[chain]):
                paths[acct.script(chain, i)] = (chain, i)
        spent, _ = self._pending()
        spent |= self._reserved
        coins = []
        for u in self.chain.watcher.utxos(self._index(node_id)):
            path = paths.get(u.script_pubkey)
            if u.height == 0 or path is None or u.outpoint in spent:
                continue
            coins.append(Coin(u.outpoint, u.value_sat, u.script_pubkey, *path))
        return coins

    def _destination(self, address: str) -> bytes:
        try:
            return address_to_script(address, self.network)
        except (AddressError, DecodeError, ValueError) as e:
            raise WalletError("bad_address", str(e)) from None

    async def _fee_rate(self) -> int:
        try:
            return await asyncio.to_thread(self.chain.fee_rate)
        except ChainError as e:
            raise WalletError("chain_unavailable", str(e)) from None

    async def quote(self, node_id: bytes, address: str, amount_sat: int) -> dict[str, Any]:
        """What a send would cost now: the fee the device should allow at least."""
        dest = self._destination(address)
        _, state = await self._state(node_id)
        rate = await self._fee_rate()
        change = Account(state).script(CHANGE, state.next_index[CHANGE])
        try:
            spend = build_spend(self._coins(node_id, state), dest, amount_sat, rate, change)
        except InsufficientFunds as e:
            raise WalletError("insufficient_funds", str(e)) from None
        return {"fee_sat": spend.fee_sat, "sat_per_kvb": rate, "inputs": len(spend.coins),
                "destination_script": dest.hex()}  # fmt: skip

    def _build(self, node_id: bytes, state: WalletState, dest: bytes, amount_sat: int,
               rate: int, max_fee: int | None) -> Spend:  # fmt: skip
        """The spend at `rate`; if its fee is above what the device allowed, at the
        highest rate that fits (the estimate moved since the quote), never above it."""
        change = Account(state).script(CHANGE, state.next_index[CHANGE])
        coins = self._coins(node_id, state)
        try:
            spend = build_spend(coins, dest, amount_sat, rate, change)
            if max_fee is not None and spend.fee_sat > max_fee:
                lower = rate * max_fee // spend.fee_sat
                spend = build_spend(coins, dest, amount_sat, lower, change)
        except InsufficientFunds as e:
            raise WalletError("insufficient_funds", str(e)) from None
        return spend

    def _epoch(self, node_id: bytes) -> tuple[int, Any]:
        try:
            lease = self.store.acquire_lease(node_id, self.runtime_id, self.clock(), LEASE_TTL)
        except LeaseHeld as e:
            return e.epoch, None
        return lease.epoch, lease

    async def send(self, node_id: bytes, address: str, amount_sat: int, authorisation: bytes,
                   confirmation: bytes = b"") -> dict[str, Any]:  # fmt: skip
        """Build, have signed and broadcast a spend; the txid. `WalletError` with code
        `refused` (and the signer's decision) if the signer does not sign."""
        dest = self._destination(address)
        async with self._lock(node_id):
            draft = await self._draft(node_id, dest, amount_sat, _max_fee(authorisation))
            out = await self._sign_and_broadcast(node_id, draft, authorisation, confirmation)
        return out | {"address": address}

    async def draft(self, node_id: bytes, script_pubkey: bytes, amount_sat: int,
                    max_fee_sat: int | None = None) -> Draft:  # fmt: skip
        """An unsigned spend paying `amount_sat` to `script_pubkey` (a channel's funding
        output: its txid is final, every input being segwit), for `sign_draft` later.
        Its coins count as spent for other drafts and sends until it is signed or
        `drop_draft`. Raises `WalletError` (insufficient_funds, chain_unavailable...)."""
        async with self._lock(node_id):
            return await self._draft(node_id, script_pubkey, amount_sat, max_fee_sat)

    async def sign_draft(self, node_id: bytes, draft: Draft, authorisation: bytes,
                         confirmation: bytes = b"") -> dict[str, Any]:  # fmt: skip
        """Have `draft` signed under the device's authorisation and broadcast (as `send`)."""
        async with self._lock(node_id):
            return await self._sign_and_broadcast(node_id, draft, authorisation, confirmation)

    def drop_draft(self, draft: Draft) -> None:
        """Release a draft's coins (its channel opening was abandoned)."""
        self._reserved -= {c.outpoint for c in draft.spend.coins}

    async def _draft(self, node_id: bytes, dest: bytes, amount_sat: int,
                     max_fee: int | None) -> Draft:  # fmt: skip
        version, state = await self._state(node_id)
        rate = await self._fee_rate()
        change_index = state.next_index[CHANGE]
        acct = Account(state)
        spend = self._build(node_id, state, dest, amount_sat, rate, max_fee)
        if spend.change_output is not None:  # the change address is used: move on
            state, _ = take_index(state, CHANGE)
            version, state = await self._register(node_id, version, state)
        psbt = psbt_build.unsigned_psbt(
            spend, acct, state.master_fingerprint, self.coin, change_index
        )
        self._reserved |= {c.outpoint for c in spend.coins}
        return Draft(psbt, spend, dest, amount_sat)

    async def _sign_and_broadcast(self, node_id: bytes, draft: Draft, authorisation: bytes,
                                  confirmation: bytes) -> dict[str, Any]:  # fmt: skip
        spend = draft.spend
        try:
            signer = self.signer_for(node_id)
        except KeyError as e:
            self.drop_draft(draft)
            raise WalletError("signer_unavailable", str(e)) from None
        epoch, lease = self._epoch(node_id)
        try:
            signed = await signer.sign_onchain(
                node_id, authorisation, draft.psbt, epoch, confirmation
            )
        finally:
            if lease is not None:
                self.store.release_lease(lease)
            self.drop_draft(draft)  # signed: the broadcaster's table covers its coins now
        decision = _decision(signed)
        if signed.outcome != "approve":
            raise WalletError("refused", signed.reason, decision=decision)
        try:
            raw = psbt_build.finalize(signed.psbt, spend)
        except DecodeError as e:
            raise WalletError("bad_signature", str(e), decision=decision) from None
        try:
            txid = await asyncio.to_thread(self.chain.broadcaster.submit, raw, self.clock())
            rejected = None
        except TxRejected as e:  # recorded; the broadcaster keeps trying
            txid, rejected = e.txid, e.reason
        except ChainError as e:
            txid, rejected = Tx.parse(raw).txid, f"chain unavailable: {e}"
        return {"txid": display_hex(txid), "fee_sat": spend.fee_sat, "amount_sat": draft.amount_sat,
                "change_output": spend.change_output,
                "broadcast_rejection": rejected, "decision": decision}  # fmt: skip


@dataclass(frozen=True)
class Draft:
    """An unsigned spend of a node's wallet (`WalletService.draft`)."""

    psbt: bytes
    spend: Spend
    script_pubkey: bytes
    amount_sat: int

    @property
    def outpoint(self) -> OutPoint:
        """The output paying `script_pubkey` (txid final before signing: segwit inputs)."""
        tx = self.spend.tx
        for vout, o in enumerate(tx.outputs):
            if o.script_pubkey == self.script_pubkey and o.amount_sat == self.amount_sat:
                return OutPoint(tx.txid, vout)
        raise WalletError("bad_draft", "no output pays the destination")


def _max_fee(authorisation: bytes) -> int | None:
    """The device's max fee, read from its authorisation (public; the signer checks it)."""
    try:
        return decode_onchain_authorisation(authorisation).max_fee_sat
    except DecodeError:
        return None


def _decision(d: lp.OnchainSigned) -> dict[str, Any]:
    return {"outcome": d.outcome, "reason": d.reason, "kind": d.decision_kind,
            "subject_id": d.subject_id.hex(), "device_id": d.device_id.hex() or None,
            "audit_seq": d.audit_seq}  # fmt: skip
