"""`vajra signer run`: the live signer's process.

It dials the runtime (homes are behind NAT, so the signer connects out), serves every
request for all its nodes over that one link, and redials with exponential backoff and
jitter whenever the link drops or the runtime is unreachable. Alongside, it listens on
the local link (`local_link`) so an owner can freeze a device with the runtime down.

On every connection the runtime first sends the newest audit head it has seen from this
signer; the signer checks it against its own log (`anchor.check_runtime_head`) and stops
for good (`fatal`) if its log is older or forked, or if the runtime refuses its head;
likewise when its state fails the integrity check while serving (decision 0012). It
never silently restarts: `vajra signer run` exits with code 2 and the reason.

Requests are served one at a time, in order, on the event loop: each is one short
state transaction (`SignerCore` / `Policy`), so there is nothing to gain from threads on
a signer box, and order of arrival is order of decision. What the runtime has pipelined
(every request already received when one is read) is decided as one group commit
(`SignerState.group`): one fsync for the batch, and no answer of the batch is sent before
that commit, so every answer still reports a durable decision. Pairing (`pair`) is a separate
one-shot connection (decision 0007).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vajra.errors import DecodeError, VajraError
from vajra.noise import StaticKey
from vajra.signer import link_pairing as pairing
from vajra.signer import link_proto as lp
from vajra.signer import local_link
from vajra.signer.anchor import AnchorMismatch, check_runtime_head
from vajra.signer.link_io import FramedLink, LinkClosed, dial
from vajra.signer.link_server import LinkHandler

log = logging.getLogger("vajra.signer.daemon")

BACKOFF_BASE = 0.25
BACKOFF_CAP = 30.0


def backoff_delay(
    attempt: int, rand: float, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP
) -> float:
    """Seconds to wait before redial number `attempt` (0 = first retry): exponential,
    capped, with "equal jitter" (half fixed, half random, `rand` in [0, 1)) so that many
    signers cut off together do not all redial in the same instant."""
    d: float = min(cap, base * 2.0 ** min(attempt, 32))
    return d / 2 + d / 2 * rand


@dataclass(frozen=True, slots=True)
class RuntimeAddress:
    host: str
    port: int
    pubkey: bytes
    """The runtime's long-term link key, pinned at pairing."""


@dataclass(frozen=True, slots=True)
class Paired:
    runtime_pubkey: bytes
    signer_id: int
    head: lp.AuditHead | None = None
    """The newest audit head the runtime saw from this signer (the anchor), if any."""
    backup: lp.Backup | None = None
    """The newest sealed state backup the runtime holds for this signer, if any."""


class PairingRefused(VajraError):
    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"pairing refused: {reason} {detail}".strip())


async def pair(host: str, port: int, code: str, link_key: StaticKey) -> Paired:
    """Pair with a runtime that showed `code`; the runtime key to pin and our signer id."""
    pkey = pairing.pairing_key(code)
    try:
        link = await dial(host, port, link_key, pkey.pubkey, prelude=pairing.prelude(pkey.pubkey))
    except (DecodeError, LinkClosed):
        # The runtime closed the handshake or did not answer as the holder of the code's
        # key would: it does not know this code (wrong, expired or already used).
        raise PairingRefused("bad_code", "the runtime does not know this code") from None
    try:
        link.send(lp.PairRequest(0, pairing.signer_mac(code, link_key.pubkey, pkey.pubkey)))
        await link.writer.drain()
        try:
            resp = await asyncio.wait_for(link.recv(), 10.0)
        except LinkClosed:
            raise PairingRefused("closed", "the runtime closed the connection") from None
        if isinstance(resp, lp.Error):
            raise PairingRefused(resp.reason, resp.detail)
        if not isinstance(resp, lp.PairAccept):
            raise PairingRefused("protocol", f"unexpected {type(resp).__name__}")
        expected = pairing.runtime_mac(code, link_key.pubkey, resp.runtime_pubkey)
        if not pairing.macs_equal(resp.mac, expected):
            raise PairingRefused("bad_mac", "the runtime's proof does not match the code")
        head, backup = None, None
        with contextlib.suppress(LinkClosed, TimeoutError, DecodeError):
            while True:  # AUDIT_HEAD and BACKUP follow, then the runtime closes
                extra = await asyncio.wait_for(link.recv(), 10.0)
                if isinstance(extra, lp.AuditHead):
                    head = extra
                elif isinstance(extra, lp.Backup):
                    backup = extra
        return Paired(resp.runtime_pubkey, resp.signer_id, head, backup)
    finally:
        await link.close()


class SignerDaemon:
    """The signer's network side: the runtime link (redialled forever) + the local link."""

    def __init__(
        self,
        handler: LinkHandler,
        link_key: StaticKey,
        runtime: RuntimeAddress | None,
        local_path: Path | None,
        *,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        backoff_base: float = BACKOFF_BASE,
        backoff_cap: float = BACKOFF_CAP,
    ) -> None:
        self.handler = handler
        self.link_key = link_key
        self.runtime = runtime
        self.local_path = local_path
        self.clock = clock
        self.rand = rand
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.connected = asyncio.Event()
        self.listening = asyncio.Event()
        """Set once the local link accepts connections (at once without one)."""
        self.connections = 0
        """Links established so far (tests watch reconnects with it)."""
        self._stop = asyncio.Event()
        self._link: FramedLink | None = None
        self.fatal: str | None = None
        """Why the daemon stopped for good (state refused, log behind the anchor)."""
        handler.on_fatal = self._die

    def _die(self, why: str) -> None:
        if self.fatal is None:
            self.fatal = why
            log.error("event=signer_stopped why=%s", why.replace(" ", "_")[:200])
        self.stop()

    async def run(self) -> None:
        """Serve until `stop()`."""
        local = None
        if self.local_path is not None:
            local = await local_link.serve(self.handler, self.local_path, self.clock)
            log.info("event=local_link_listening path=%s", self.local_path)
        self.listening.set()
        try:
            if self.runtime is None:
                await self._stop.wait()
            else:
                await self._dial_loop(self.runtime)
        finally:
            if local is not None:
                local.close()
            if self._link is not None:
                await self._link.close()

    def stop(self) -> None:
        self._stop.set()
        if self._link is not None:
            self._link.writer.close()

    async def _dial_loop(self, rt: RuntimeAddress) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                link = await dial(rt.host, rt.port, self.link_key, rt.pubkey)
            except (OSError, TimeoutError, LinkClosed, DecodeError) as e:
                log.info(
                    "event=dial_failed host=%s port=%d why=%s", rt.host, rt.port, type(e).__name__
                )
            else:
                attempt = 0
                await self._serve(link)
            if self._stop.is_set():
                break
            delay = backoff_delay(attempt, self.rand(), self.backoff_base, self.backoff_cap)
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _serve(self, link: FramedLink) -> None:
        self._link = link
        self.connections += 1
        why = "closed"
        try:
            if not await self._anchor(link):
                return
            head = self.handler.head()
            link.send(head)
            for hello in self.handler.hello():
                link.send(hello)
            self._send_backup(link)
            await link.writer.drain()
            self.connected.set()
            log.info("event=link_up runtime=%s", link.remote_pubkey.hex())
            while True:
                batch = [await link.recv_bytes(), *link.received()]
                if any(self._refused(data) for data in batch):
                    return
                for out in self._answer_all(batch, int(self.clock())):
                    link.send_bytes(out)
                if self.handler.fatal is None:
                    new = self.handler.head()
                    if new != head:  # the runtime keeps the newest head (the anchor)
                        head = new
                        link.send(head)
                    if any(len(d) > 1 and d[1] in _CHANGES_BACKUP for d in batch):
                        self._send_backup(link)
                await link.writer.drain()
                if self.fatal is not None:
                    return
        except (LinkClosed, ConnectionError, DecodeError, TimeoutError) as e:
            why = type(e).__name__
        finally:
            self.connected.clear()
            self._link = None
            await link.close()
            log.info("event=link_down why=%s", why)

    def _answer_all(self, batch: list[bytes], now: int) -> list[bytes]:
        """The answers to `batch`, decided in one group commit; released only after it."""
        try:
            with self.handler.group():
                return [self._answer(data, now) for data in batch]
        except Exception as e:  # the COMMIT failed: no decision of the batch is durable
            log.error("event=commit_failed requests=%d error=%s", len(batch), type(e).__name__)
            return [lp.Error(_frame_id(data), "internal").encode() for data in batch]

    def _answer(self, data: bytes, now: int) -> bytes:
        try:
            return self.handler.handle_bytes(data, now)
        except Exception as e:  # a bug must not take the signer down; no detail leaks
            log.error("event=request_failed error=%s", type(e).__name__)
            return lp.Error(_frame_id(data), "internal").encode()

    def _send_backup(self, link: FramedLink) -> None:
        b = self.handler.backup()
        if b is None:
            log.warning("event=backup_too_large state_exceeds_one_frame")
            return
        link.send(b)

    async def _anchor(self, link: FramedLink) -> bool:
        """Check the runtime's newest head for us against our log; False: stopped."""
        frame = await asyncio.wait_for(link.recv(), 10.0)
        if isinstance(frame, lp.Error):
            self._die(f"the runtime refused this signer: {frame.reason} {frame.detail}")
            return False
        if not isinstance(frame, lp.AuditHead):
            raise lp.LinkDecodeError(f"expected AUDIT_HEAD, got {type(frame).__name__}")
        try:
            check_runtime_head(self.handler.core.state, frame.length, frame.hash)
        except AnchorMismatch as e:
            self._die(str(e))
            return False
        return True

    def _refused(self, data: bytes) -> bool:
        """An ERROR with id 0 from the runtime: it refuses this signer (a stale head)."""
        if len(data) < 2 or data[1] != lp.Kind.ERROR or _frame_id(data) != 0:
            return False
        try:
            frame = lp.decode(data)
        except DecodeError:
            return False
        assert isinstance(frame, lp.Error)
        self._die(f"the runtime refused this signer: {frame.reason} {frame.detail}")
        return True


# Requests whose decisions change what the backup holds (nodes, devices, counters, spends,
# channel records: a restored signer must not hold an older channel than the runtime).
_CHANGES_BACKUP = frozenset(
    {lp.Kind.CREATE_NODES, lp.Kind.AUTHORISE_PAYMENT, lp.Kind.DEVICE_COMMAND, lp.Kind.SIGN_ONCHAIN,
     lp.Kind.NEW_CHANNEL, lp.Kind.CHANNEL_REQUEST, lp.Kind.AUTHORISE_HTLC}
)  # fmt: skip


def _frame_id(data: bytes) -> int:
    return int.from_bytes(data[2:10], "big") if len(data) >= 10 else 0
