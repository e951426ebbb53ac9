"""Wake and sleep: a worker's awake nodes, their leases, their sealed state.

Life of a wake (one asyncio task per trigger; per-node lock, so one node's triggers run
in order):

1. lease   `acquire_lease(node, runtime_id)` -> epoch E (a fencing token). If another
           worker or runtime holds it, retry with backoff until `wake_wait` runs out
           (the holder sleeps the node after `idle_timeout` and releases it).
2. key     `signer.state_key(node, E)`: the signer sees the epoch and refuses an older
           one, so a fenced-out copy of the node cannot get its key again.
3. read    `SealedStore.get(node, "state")`: decrypted and checked against (node, key,
           version); a blob from elsewhere or an older version is an `IntegrityError`.
4. process the sans-IO `Node.handle(peer, message, now)` -> replies; then, while the
           node has signer requests (channel keys, channel signatures), ask the signer
           with epoch E and feed the answers back (`node_requests.answer_requests`).
5. write   if the state changed: `put(..., expected_version, lease_epoch=E)`: CAS on the
           version and fenced by the epoch, in one store transaction; then the node's
           non-secret channel summary (`CHANNELS_KEY`, unsealed, for the admin API).
6. effects only now: `SendTo` the peer in front of us are the replies, to other peers
           through `send` (their live session; dropped if none); `Watch` and `WakeAt`
           to the supervisor's watcher and timer table (`NodeServices`). BOLT 2: "MUST
           NOT send ... until it has persisted" -- a `funding_signed` or
           `revoke_and_ack` is never on the wire before the state committing to it is.
           At the first input of a wake, the node's pending chain events (wallet events
           wait for the next wake of any kind) then go to `Node.on_wake`, settled the
           same way.
7. sleep   after `idle_timeout` without triggers: release the lease, drop the state key
           and the decrypted state from memory.

`wake(node_id, Wake)` is the entry point for a chain event or a due timer (the
supervisor's push, decision 0021): the same lease/key/read path and per-node lock as a
peer message, then `Node.on_wake`, steps 4b-6 and only THEN the events' acknowledgement:
a crash between the two re-delivers them, and the node skips what its written state says
it handled (`NodeState.chain_seq`).

A channel request the signer cannot take (unreachable, fenced out) leaves the node
mid-protocol: the host drops it without writing (`ChannelAborted`; the worker cuts the
peer's session so `channel_reestablish` resumes from the written state).

Store calls block (SQLite with fsync), so they run on one thread of the worker; the
event loop keeps answering other connections meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from vajra.errors import DecodeError, PolicyViolation, VajraError
from vajra.node import Node, NodeState
from vajra.node.config import NodeConfig
from vajra.node.effects import Broadcast, Effect, SendTo, Wake, WakeAt, Watch
from vajra.node.funding import BroadcastFunding, FundChannel
from vajra.node.invoices import ReceiveKeys, invoice_key
from vajra.node.requests import CLOSE_CHANGE_INDEX
from vajra.runtime.effect_retry import EffectRetries
from vajra.runtime.justice_arm import arm_justice
from vajra.runtime.node_requests import ChannelSignerLost, answer_requests
from vajra.runtime.node_services import NodeServices, ServiceError
from vajra.runtime.payment_routing import PAYMENTS_KEY, PaymentRouting
from vajra.runtime.reconnect import PeerConnected, has_channel_with
from vajra.runtime.signer_api import SignerClient
from vajra.store import KVStore, Lease, LeaseHeld, LeaseLost, SealedStore
from vajra.wallet.account import CHANGE, Account, WalletState
from vajra.wallet.account import STORE_KEY as WALLET_KEY
from vajra.wire import Message

log = logging.getLogger("vajra.runtime.node_host")
T = TypeVar("T")
STATE_KEY = "state"
CHANNELS_KEY = "channels"
"""The node's channel summary in clear (JSON list of `ChannelEntry.summary()`): channel
ids, funding outpoints, capacities, balances -- what the operator's admin API lists for
a sleeping node without its state key. No key, signature or secret is in it."""


_NEWEST = re.compile(r"< newest (\d+)$")


def _newest_epoch(v: PolicyViolation) -> int | None:
    """The signer's newest epoch from a `stale_epoch` refusal ("epoch E < newest N")."""
    m = _NEWEST.search(v.detail) if v.reason == "stale_epoch" else None
    return int(m.group(1)) if m else None


class FunderSink(Protocol):
    """Who takes a funder node's `FundChannel`/`BroadcastFunding` effects (the worker's
    `runtime/open_calls.Opener`: they answer a node call waiting for them)."""

    def effect(self, node_id: bytes, effect: FundChannel | BroadcastFunding) -> None: ...


class WakeFailed(VajraError):
    """A node could not be woken (lease held elsewhere too long, signer refused, store)."""

    def __init__(self, node_id: bytes, reason: str) -> None:
        self.node_id = node_id
        self.reason = reason
        super().__init__(f"wake failed node={node_id.hex()} reason={reason}")


class ChannelAborted(WakeFailed):
    """A channel request could not be answered: the node's unwritten state was dropped
    (`ChannelSignerLost`); the peer's session must be cut."""


@dataclass(slots=True)
class HostConfig:
    runtime_id: str
    """This worker's identity in the lease table (stable per worker slot)."""
    idle_timeout: float = 5.0
    """Seconds without a trigger after which an awake node sleeps."""
    lease_ttl: float = 30.0
    """Lease length; renewed while the node is awake."""
    wake_wait: float = 15.0
    """How long a wake waits for a lease held by someone else."""


class _Awake:
    __slots__ = (
        "armed", "caught_up", "lease", "node", "paid", "sleep_at", "summary", "version",
    )  # fmt: skip

    def __init__(self, node: Node, lease: Lease, version: int, sleep_at: float) -> None:
        self.node = node
        self.lease = lease
        self.version = version
        self.sleep_at = sleep_at
        self.summary: tuple[int, bytes] | None = None
        """(version, blob) of the written channel summary, once read or written."""
        self.caught_up = False
        """True once this wake handed the node its pending chain events."""
        self.paid: tuple[int, bytes] | None = None
        """(version, blob) of the written payments summary, once read or written."""
        self.armed: dict[int, int] = {}
        """Channel index -> the counterparty revocation its penalty is stored for."""


class NodeHost:
    """The awake nodes of one worker."""

    def __init__(
        self,
        store: SealedStore,
        signer: SignerClient,
        config: HostConfig,
        *,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[bytes, bool], None] | None = None,
        services: NodeServices | None = None,
        node_config: NodeConfig | None = None,
        send: Callable[[bytes, bytes, Message], bool] | None = None,
        reachable: Callable[[bytes, bytes], bool] | None = None,
        plain: KVStore | None = None,
        identity: Callable[[bytes], bytes | None] | None = None,
    ) -> None:
        """`services`: the watcher and timer table (`Watch`/`WakeAt`); `send(node, peer,
        msg)` hands a message to the live session between them (False: none, dropped:
        BOLT 2 retransmission on `channel_reestablish` covers it); `reachable(node, peer)`:
        whether `send` has a live session to the peer now; `plain` (the store
        under `store`) receives the unsealed channel summary and holds the invoice records;
        `identity(node)`: the node's identity secret from the key table (its
        `ReceiveKeys`: onion ECDH and invoice preimages; None: the node cannot receive)."""
        self._identity = identity
        self._store = store
        self._signer = signer
        self.config = config
        self.node_config = node_config or NodeConfig()
        self._send = send
        self._reachable = reachable
        self._plain = plain
        self.channel_signer_requests = 0
        """Channel requests (keys, signatures) made to the signer."""
        self.sent_to_peers = 0
        self.dropped_sends = 0
        self._clock = clock
        self._awake: dict[bytes, _Awake] = {}
        self._locks: dict[bytes, asyncio.Lock] = {}
        self._io = ThreadPoolExecutor(1, thread_name_prefix="store")
        self._on_change = on_change
        self.wakes = 0
        self.sleeps = 0
        self.signer_requests = 0
        """`state_key` requests made (each wake attempt past the lease asks once)."""
        self.failures = 0
        self._services = services
        self.chain_wakes = 0
        """`wake` calls that went through (chain events or a due timer)."""
        self.effect_failures = 0
        """`Watch`/`WakeAt` effects the supervisor refused or could not take."""
        self.retries = EffectRetries()
        """Effects the supervisor could not take, retried by `retry_effects`."""
        self.routing = PaymentRouting()
        """Graph, scorer and height lent to awake nodes to send (decision 0023)."""
        self.funder: FunderSink | None = None
        """Takes the funder effects (decision 0028); None: they are dropped."""

    @property
    def awake(self) -> int:
        return len(self._awake)

    def is_awake(self, node_id: bytes) -> bool:
        return node_id in self._awake

    async def _run(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, lambda: fn(*args, **kw))

    async def is_channel_peer(self, node_id: bytes, peer: bytes) -> bool:
        """Whether `peer` has a channel with the node that a reconnection reestablishes
        (`reconnect.py`): from the awake node, else from its clear channel summary."""
        awake = self._awake.get(node_id)
        if awake is not None:
            return any(e.peer == peer for e in awake.node.book.channels.values())
        if self._plain is None:
            return False
        got = await self._run(self._plain.get, node_id, CHANNELS_KEY)
        return has_channel_with(None if got is None else got[1], peer)

    async def deliver(
        self, node_id: bytes, peer: bytes, msg: Message | PeerConnected
    ) -> list[Message]:
        """Hand one message (or `PEER_CONNECTED`: `Node.peer_connected`) to the node,
        waking it if needed; the replies to send to `peer` (written before they are
        returned). Raises `WakeFailed`."""
        lock = self._locks.get(node_id)
        if lock is None:
            lock = self._locks[node_id] = asyncio.Lock()
        async with lock:
            try:
                awake = self._awake.get(node_id) or await self._wake(node_id)
                now = self._clock()
                self.routing.lend(awake.node)
                if isinstance(msg, PeerConnected):
                    awake.node.peer_connected(peer, int(now))
                    replies = []
                else:
                    replies = awake.node.handle(peer, msg, int(now))
                replies += await self._settle(node_id, awake, now, peer)
                if not awake.caught_up:  # the first input of this wake
                    awake.caught_up = True
                    replies += await self._catch_up(node_id, awake, peer)
                return replies
            except LeaseLost:
                # Fenced out: someone else owns the node now; our copy must go.
                self._drop(node_id)
                self.failures += 1
                raise WakeFailed(node_id, "lease_lost") from None

    async def wake(self, node_id: bytes, wake: Wake) -> None:
        """Wake the node for chain events or a due timer (waking it if asleep): the same
        lease/key/read path and per-node lock as `deliver`, then `Node.on_wake`, the
        signer requests, the state write, the events' acknowledgement, the node's effects.
        `WakeFailed` as `deliver`; a failed acknowledgement is logged (the events come
        again and the node skips them)."""
        lock = self._locks.get(node_id)
        if lock is None:
            lock = self._locks[node_id] = asyncio.Lock()
        async with lock:
            try:
                awake = self._awake.get(node_id) or await self._wake(node_id)
                awake.caught_up = True  # `wake.events` are all the pending events
                self.routing.saw_height(wake.tip.height if wake.tip else None)
                self.routing.lend(awake.node)
                await self._on_wake(node_id, awake, wake)
                self.chain_wakes += 1
            except LeaseLost:
                self._drop(node_id)
                self.failures += 1
                raise WakeFailed(node_id, "lease_lost") from None

    async def act(self, node_id: bytes, fn: Callable[[Node, int], T], *, height: int) -> T:
        """Run `fn(node, now)` on the node, waking it if needed (the node calls'
        entry point, `runtime/node_calls.py`): the same lease/key/read path and per-node
        lock as `deliver`; then the node's signer requests answered, the state written
        and its effects carried out (messages to live peer sessions, watches, timers)
        before `fn`'s result is returned (a mutable result, e.g. a payment, shows the
        settled outcome when read afterwards). `height`: the chain tip (-1: none). Raises
        what `fn` raises (nothing is written then), `WakeFailed`."""
        lock = self._locks.get(node_id)
        if lock is None:
            lock = self._locks[node_id] = asyncio.Lock()
        async with lock:
            try:
                awake = self._awake.get(node_id) or await self._wake(node_id)
                now = self._clock()
                self.routing.saw_height(height if height >= 0 else None)
                self.routing.lend(awake.node)
                out = fn(awake.node, int(now))
                await self._settle(node_id, awake, now, None)
                return out
            except LeaseLost:
                self._drop(node_id)
                self.failures += 1
                raise WakeFailed(node_id, "lease_lost") from None

    async def pay(
        self, node_id: bytes, bolt11: str, authorisation: bytes, confirmation: bytes | None,
        *, height: int,
    ) -> dict[str, object]:  # fmt: skip
        """Start a payment of `bolt11` under a device's `authorisation` (decision 0023),
        waking the node if needed (`act`): `Node.pay`, the signer's `ApprovePayment` and
        the commitment carrying the HTLC answered, the state written, then the messages
        sent to the peer's live session. Returns the payment's view (its state may
        already be final: a refusal). Raises `PaymentError` (nothing asked), `WakeFailed`.
        `height`: the chain tip the HTLC's expiry counts from."""
        payment = await self.act(
            node_id,
            lambda node, now: node.pay(bolt11, authorisation, confirmation, now),
            height=height,
        )
        return payment.view()  # after the settle: a refusal is already in it

    def peer_reachable(self, node_id: bytes, peer: bytes) -> bool:
        """This worker holds a live session between the node and `peer` (its `SendTo`
        effects reach the peer now)."""
        return self._reachable is not None and self._reachable(node_id, peer)

    async def disconnected(self, node_id: bytes, peer: bytes) -> None:
        """The worker lost its session with `peer`: an awake node's channels with it
        learn it (BOLT 2 "upon disconnection"). A sleeping node is not woken for it: its
        channels learn it from the peer's next `channel_reestablish`."""
        lock = self._locks.get(node_id)
        if lock is None or node_id not in self._awake:
            return
        async with lock:
            awake = self._awake.get(node_id)
            if awake is None:
                return
            try:
                now = self._clock()
                awake.node.peer_disconnected(peer, int(now))
                await self._settle(node_id, awake, now, None)
            except LeaseLost:
                self._drop(node_id)
                self.failures += 1
            except WakeFailed as e:
                log.warning("event=disconnect_failed node=%s error=%s", node_id.hex(), e)

    async def _catch_up(self, node_id: bytes, awake: _Awake, peer: bytes) -> list[Message]:
        """The node's pending chain events, at the first input of a wake; what it sends
        `peer` goes after the replies to the input (BOLT 2: `channel_reestablish` first)."""
        if self._services is None:
            return []
        try:
            tip, events = await self._services.pending_events(node_id)
        except ServiceError as e:
            log.warning("event=events_unreadable node=%s error=%s", node_id.hex(), e)
            return []
        if not events:  # wallet events wait for the node's next wake of any kind
            if tip is None:
                return []
            # The tip still matters: incoming HTLCs are judged against it (BOLT 4 cltv).
            now = self._clock()
            awake.node.set_tip(tip.height)
            awake.node.receive(int(now))
            return await self._settle(node_id, awake, now, peer)
        return await self._on_wake(node_id, awake, Wake("chain", tip, tuple(events)), peer)

    async def _on_wake(
        self, node_id: bytes, awake: _Awake, wake: Wake, peer: bytes | None = None
    ) -> list[Message]:
        now = self._clock()
        awake.node.on_wake(wake, int(now))
        replies = await self._settle(node_id, awake, now, peer)
        if wake.events and self._services is not None:
            # Only now: the state that handled them is durable (decision 0021).
            try:
                await self._services.ack_events(node_id, max(e.seq for e in wake.events))
            except ServiceError as e:
                log.warning("event=ack_failed node=%s error=%s", node_id.hex(), e)
        return replies

    async def _settle(
        self, node_id: bytes, awake: _Awake, now: float, peer: bytes | None
    ) -> list[Message]:
        """After an input: the signer requests, the write, then the effects (steps 4b-6
        above); the messages for `peer`. Raises `ChannelAborted`, `LeaseLost`."""
        try:
            self.channel_signer_requests += await answer_requests(
                awake.node,
                self._signer,
                awake.lease.epoch,
                int(now),
                self._lookup_invoice,
                close_script=self.close_script,
            )
        except ChannelSignerLost as e:
            # Mid-protocol and unanswerable: drop the unwritten state (see top).
            log.warning("event=channel_signer_lost node=%s reason=%s", node_id.hex(), e.reason)
            self._drop(node_id)
            await self._run(self._release, awake.lease)
            self.failures += 1
            raise ChannelAborted(node_id, e.reason) from None
        if self._services is not None:
            # Justice without waking (decision 0026): a penalty for each commitment the
            # peer just revoked, signed now and kept by the watcher. Never fails the input.
            await arm_justice(
                awake.node, self._signer, awake.lease.epoch, awake.armed,
                self.close_script, self._services.store_justice,
            )  # fmt: skip
        effects = awake.node.take_effects()
        await self._write(node_id, awake)
        awake.sleep_at = now + self.config.idle_timeout
        if now > awake.lease.expiry - self.config.lease_ttl / 2:
            awake.lease = await self._run(
                self._store.renew_lease, awake.lease, now, self.config.lease_ttl
            )
        replies: list[Message] = []
        for eff in effects:
            if isinstance(eff, SendTo) and eff.peer == peer:
                replies.append(eff.message)
            else:
                await self._effect(node_id, eff)
        return replies

    async def _write(self, node_id: bytes, awake: _Awake) -> None:
        """The sealed state (CAS, fenced), then the channel summary if it changed."""
        node = awake.node
        if not node.dirty:
            return
        awake.version = await self._run(
            self._store.put, node_id, STATE_KEY, node.state.encode(), awake.version,
            lease_epoch=awake.lease.epoch,
        )  # fmt: skip
        node.dirty = False
        await self._write_payments(node_id, awake)
        if self._plain is None:
            return
        if node.state.channels or awake.summary is not None:
            blob = json.dumps(node.channel_summaries(), sort_keys=True).encode()
            awake.summary = await self._put_plain(node_id, awake, CHANNELS_KEY, blob,
                                                  awake.summary)  # fmt: skip

    async def _put_plain(
        self, node_id: bytes, awake: _Awake, key: str, blob: bytes, last: tuple[int, bytes] | None
    ) -> tuple[int, bytes]:
        """Write an unsealed summary if it changed (fenced by the lease epoch)."""
        assert self._plain is not None
        if last is None:
            last = await self._run(self._plain.get, node_id, key) or (0, b"")
        if last[1] == blob:
            return last
        v = await self._run(
            self._plain.put, node_id, key, blob, last[0], lease_epoch=awake.lease.epoch
        )
        return (v, blob)

    async def _lookup_invoice(self, node_id: bytes, payment_hash: bytes) -> bytes | None:
        """The node's invoice record for `payment_hash` (`vajra.node.invoices`)."""
        if self._plain is None:
            return None
        got = await self._run(self._plain.get, node_id, invoice_key(payment_hash))
        return None if got is None else got[1]

    async def close_script(self, node_id: bytes) -> bytes | None:
        """The node wallet's close script (`vajra.node.requests.CloseScript`): BIP 84
        change at `CLOSE_CHANGE_INDEX`, from the account xpub of the wallet record the
        supervisor's wallet service keeps, which it makes first if missing (None: it
        cannot yet; the channel asks again at its next input)."""
        if self._plain is None:
            return None
        got = await self._run(self._plain.get, node_id, WALLET_KEY)
        if got is None and self._services is not None:
            # BOLT 2 "MUST reply to a shutdown message with a shutdown": a node nobody
            # asked for an address yet has no wallet record; the supervisor makes it.
            try:
                await self._services.ensure_wallet(node_id)
            except ServiceError as e:
                log.warning("event=wallet_unavailable node=%s error=%s", node_id.hex(), e)
                return None
            got = await self._run(self._plain.get, node_id, WALLET_KEY)
        if got is None:
            return None
        try:
            return Account(WalletState.decode(got[1])).script(CHANGE, CLOSE_CHANGE_INDEX)
        except DecodeError:
            log.warning("event=wallet_record_bad node=%s", node_id.hex())
            return None

    async def _write_payments(self, node_id: bytes, awake: _Awake) -> None:
        """The clear payments list (sent and received, decisions 0022/0023), if changed."""
        blob = PaymentRouting.summary(awake.node)
        if self._plain is None or (blob is None and awake.paid is None):
            return
        awake.paid = await self._put_plain(node_id, awake, PAYMENTS_KEY, blob or b"[]", awake.paid)

    async def _effect(self, node_id: bytes, effect: Effect, attempts: int = 0) -> None:
        if isinstance(effect, SendTo):
            if self._send is not None and self._send(node_id, effect.peer, effect.message):
                self.sent_to_peers += 1
            else:
                self.dropped_sends += 1  # no session: BOLT 2 reestablish retransmits
            return
        if isinstance(effect, (FundChannel, BroadcastFunding)):
            if self.funder is not None:
                self.funder.effect(node_id, effect)
            return
        services = self._services
        try:
            if services is None:
                raise ServiceError("no_chain", "this host has no runtime services")
            if isinstance(effect, Watch):
                await services.watch(node_id, effect)
            elif isinstance(effect, WakeAt):
                await services.set_timer(node_id, effect)
            elif isinstance(effect, Broadcast):
                await services.broadcast(node_id, effect.raw_tx)
            else:
                return
            self.retries.succeeded(node_id, effect)
        except ServiceError as e:
            # The state is written already. A transient failure is retried with backoff
            # while this worker runs (`effect_retry.py`): a sleeping node must not lose a
            # watch, a deadline timer or a broadcast to a busy supervisor.
            self.effect_failures += 1
            retry = isinstance(effect, (Watch, WakeAt, Broadcast)) and self.retries.failed(
                node_id, effect, e.code, self._clock(), attempts
            )
            log.warning("event=effect_failed node=%s effect=%s retry=%s error=%s",
                        node_id.hex(), type(effect).__name__, retry, e)  # fmt: skip

    async def retry_effects(self) -> int:
        """Retry the failed effects that are due (the worker calls this once a second);
        how many were tried."""
        due = self.retries.take_due(self._clock())
        for node_id, effect, attempts in due:
            await self._effect(node_id, effect, attempts)
        return len(due)

    async def _wake(self, node_id: bytes) -> _Awake:
        cfg = self.config
        deadline = self._clock() + cfg.wake_wait
        delay = 0.005
        while True:
            try:
                lease = await self._run(
                    self._store.acquire_lease, node_id, cfg.runtime_id, self._clock(), cfg.lease_ttl
                )
                break
            except LeaseHeld:
                if self._clock() + delay > deadline:
                    self.failures += 1
                    raise WakeFailed(node_id, "lease_held") from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)
        try:
            try:
                self.signer_requests += 1
                key = await self._signer.state_key(node_id, lease.epoch)
            except PolicyViolation as v:
                newest = _newest_epoch(v)
                if newest is None:
                    raise
                # The signer has seen a newer epoch than our store's: another holder of
                # the link key (a rogue runtime) pushed it. Take newest + 1 in the store
                # (fencing out whoever holds `newest`) and ask once more.
                lease = await self._run(self._store.raise_lease_epoch, lease, newest + 1)
                log.warning("event=epoch_recovered node=%s signer_newest=%d epoch=%d",
                            node_id.hex(), newest, lease.epoch)  # fmt: skip
                self.signer_requests += 1
                key = await self._signer.state_key(node_id, lease.epoch)
            self._store.unlock(node_id, key)
            got = await self._run(self._store.get, node_id, STATE_KEY)
        except BaseException:
            self._store.forget(node_id)
            await self._run(self._release, lease)
            self.failures += 1
            raise
        version, state = (0, NodeState()) if got is None else (got[0], NodeState.decode(got[1]))
        secret = self._identity(node_id) if self._identity is not None else None
        keys = ReceiveKeys(secret) if secret is not None else None
        node = Node(node_id, state, self.node_config, keys)
        awake = _Awake(node, lease, version, self._clock() + cfg.idle_timeout)
        self._awake[node_id] = awake
        self.wakes += 1
        log.info("event=wake node=%s epoch=%d version=%d", node_id.hex(), lease.epoch, version)
        if self._on_change is not None:
            self._on_change(node_id, True)
        return awake

    def _release(self, lease: Lease) -> None:
        with contextlib.suppress(LeaseLost):
            self._store.release_lease(lease)

    def _drop(self, node_id: bytes) -> _Awake | None:
        awake = self._awake.pop(node_id, None)
        # The state key and decrypted state leave memory with the node; the rollback
        # marks go too (the signer will keep them once the link carries them).
        self._store.forget(node_id)
        if awake is not None and self._on_change is not None:
            self._on_change(node_id, False)
        return awake

    async def sleep_idle(self) -> int:
        """Put to sleep every node idle past its timeout; how many slept."""
        now = self._clock()
        for n in [n for n, lk in self._locks.items() if n not in self._awake and not lk.locked()]:
            del self._locks[n]  # left by failed wakes
        due = [n for n, a in self._awake.items() if a.sleep_at <= now]
        for node_id in due:
            await self.sleep(node_id)
        return len(due)

    async def sleep(self, node_id: bytes) -> None:
        lock = self._locks.get(node_id)
        if lock is not None and lock.locked():
            return  # a trigger is running; it pushed sleep_at forward
        awake = self._drop(node_id)
        self._locks.pop(node_id, None)
        if awake is None:
            return
        await self._run(self._release, awake.lease)
        self.sleeps += 1
        log.info("event=sleep node=%s epoch=%d", node_id.hex(), awake.lease.epoch)

    async def close(self, grace: float = 5.0) -> None:
        """Sleep every node (release leases) and stop the store thread. A node whose
        trigger is still running (a signer round trip, a state write) gets up to `grace`
        seconds to finish, so its lease is released rather than left to expire."""
        for node_id in list(self._awake):
            lock = self._locks.get(node_id)
            if lock is not None and lock.locked():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lock.acquire(), grace)
                    lock.release()
            await self.sleep(node_id)
        self._io.shutdown(wait=True)
