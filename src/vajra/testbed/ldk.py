"""An LDK peer: testbed/ldk/harness.mjs (LDK's WASM bindings under Node) over JSON lines.

The harness prints only JSON lines on stdout: replies `{"id":N,"ok":...}` and unsolicited
`{"event":...}`; its logs (LDK's included) go to the log file in its work directory. A
reader thread sorts stdout lines into replies (matched by id) and an event list.

Channels need a chain: `attach_chain(btcd)` hands the harness btcd's RPC address, pinned
certificate and credentials over stdin (never argv), and the harness feeds LDK every block
from height 1. The harness's wallet (one seed-derived P2WPKH key per address) funds
`open_channel` and receives cooperative-close outputs. With `data_dir` its channels and
wallet survive `restart()`; without, its state is in memory.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import queue
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vajra.testbed import paths as tb_paths
from vajra.testbed.btcd import Btcd
from vajra.testbed.errors import DaemonFailed, TestbedTimeout
from vajra.testbed.procs import ManagedProcess, wait_until


@dataclass(frozen=True, slots=True)
class LdkChannel:
    """One row of the harness's `list_channels` (LDK's `ChannelDetails`).

    `outbound_msat`/`inbound_msat` are LDK's outbound/inbound *capacity*: what can be sent
    or received now, the channel reserves excluded. `short_channel_id` is the BOLT 7 u64.
    """

    channel_id: str
    counterparty: str
    capacity_sat: int
    outbound_msat: int
    inbound_msat: int
    is_usable: bool
    is_channel_ready: bool
    is_outbound: bool
    is_announced: bool
    short_channel_id: int | None
    confirmations: int | None
    confirmations_required: int | None
    funding_txid: str | None
    funding_output_index: int | None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LdkChannel:
        scid = d.get("short_channel_id")
        return cls(
            channel_id=str(d["channel_id"]),
            counterparty=str(d["counterparty"]),
            capacity_sat=int(d["capacity_sat"]),
            outbound_msat=int(d["outbound_msat"]),
            inbound_msat=int(d["inbound_msat"]),
            is_usable=bool(d["is_usable"]),
            is_channel_ready=bool(d["is_channel_ready"]),
            is_outbound=bool(d["is_outbound"]),
            is_announced=bool(d["is_announced"]),
            short_channel_id=None if scid is None else int(scid),
            confirmations=_opt_int(d.get("confirmations")),
            confirmations_required=_opt_int(d.get("confirmations_required")),
            funding_txid=None if d.get("funding_txid") is None else str(d["funding_txid"]),
            funding_output_index=_opt_int(d.get("funding_output_index")),
        )


@dataclass(frozen=True, slots=True)
class LdkBalance:
    """The harness wallet's confirmed coins (sat); `locked_sat` funds unconfirmed channels."""

    confirmed_sat: int
    spendable_sat: int
    locked_sat: int
    immature_sat: int
    utxos: int
    height: int


@dataclass(frozen=True, slots=True)
class LdkOpened:
    """`open_channel`'s answer at LDK's ChannelPending: the funding transaction is out."""

    temporary_channel_id: str
    channel_id: str
    funding_txid: str
    funding_output_index: int
    funding_fee_sat: int | None


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)


class LdkPeer:
    """One LDK node run by the Node harness (KeysManager + ChannelManager + PeerManager)."""

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        seed_hex: str | None = None,
        data_dir: Path | None = None,
        log_level: str = "debug",
        start_timeout: float = 30.0,
    ) -> None:
        """`data_dir`: keep channels and wallet there across `restart` (needs a fixed seed,
        so one is drawn here if `seed_hex` is not given)."""
        tp = tb_paths.installed("ldk")
        node = shutil.which("node")
        if node is None:
            raise DaemonFailed("`node` is not on PATH", name="ldk")
        self.argv = [node, str(tp.ldk_harness), "--ldk-dir", str(tp.ldk_module)]
        self.argv += ["--log-level", log_level]
        if data_dir is not None and seed_hex is None:
            seed_hex = secrets.token_hex(32)
        if seed_hex is not None:
            self.argv += ["--seed", seed_hex]
        if data_dir is not None:
            self.argv += ["--data-dir", str(data_dir)]
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="vajra-ldk-"))
        self.start_timeout = start_timeout
        self.proc: ManagedProcess | None = None
        self.events: list[dict[str, Any]] = []
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._node_id: str | None = None
        self.listen_port: int | None = None
        """The port `listen` bound (None: not listening)."""

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> LdkPeer:
        with self._lock:
            seen = len(self.events)
        self.proc = ManagedProcess("ldk", self.argv, workdir=self.workdir, pipe_stdio=True).start()
        self._reader = threading.Thread(target=self._read_loop, name="ldk-stdout", daemon=True)
        self._reader.start()
        ready = wait_until(
            lambda: next((e for e in self.events[seen:] if e.get("event") == "ready"), None),
            timeout=self.start_timeout,
            what="LDK harness ready",
            interval=0.05,
            proc=self.proc,
        )
        self._node_id = str(ready["node_id"])
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the harness to shut down; the supervisor kills it if it does not."""
        if self.proc is None:
            return
        if self.proc.alive():
            with contextlib.suppress(DaemonFailed, TestbedTimeout, OSError):
                self.request("shutdown", timeout=5)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.popen.wait(timeout)
        self.proc.stop()
        self.proc = None

    def restart(self) -> LdkPeer:
        """Stop the harness and start it again (same seed and data dir); events are kept.

        The chain must be attached and peers connected again.
        """
        self.stop()
        return self.start()

    def __enter__(self) -> LdkPeer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _read_loop(self) -> None:
        assert self.proc is not None
        stdout = self.proc.popen.stdout
        if stdout is None:
            return
        for line in stdout:
            line = line.strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                # The protocol forbids this; keep it visible rather than crash the reader.
                msg = {"event": "garbage", "line": line[:500]}
            if not isinstance(msg, dict):
                continue
            rid = msg.get("id")
            if "event" in msg or rid is None:
                with self._lock:
                    self.events.append(msg)
                continue
            with self._lock:
                q = self._replies.get(int(rid))
            if q is not None:
                q.put(msg)

    # -- protocol --------------------------------------------------------------------------

    def request(self, cmd: str, *, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        """Send one command; return the reply (raise `DaemonFailed` if it is not ok)."""
        if self.proc is None or not self.proc.alive():
            raise DaemonFailed(f"{cmd}: harness not running", name="ldk", log_tail=self._tail())
        rid = next(self._ids)
        q: queue.Queue[dict[str, Any]] = queue.Queue()
        with self._lock:
            self._replies[rid] = q
        stdin = self.proc.popen.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps({"id": rid, "cmd": cmd, **fields}) + "\n")
            stdin.flush()
            deadline = time.monotonic() + timeout
            while True:
                try:
                    reply = q.get(timeout=0.2)
                    break
                except queue.Empty:
                    if not self.proc.alive():
                        raise DaemonFailed(
                            f"{cmd}: harness exited", name="ldk", log_tail=self._tail()
                        ) from None
                    if time.monotonic() > deadline:
                        raise TestbedTimeout(f"ldk {cmd}: no reply in {timeout}s") from None
        finally:
            with self._lock:
                self._replies.pop(rid, None)
        if not reply.get("ok"):
            raise DaemonFailed(f"{cmd}: {reply.get('error')}", name="ldk")
        return reply

    def _tail(self) -> str:
        return self.proc.log_tail() if self.proc is not None else ""

    # -- commands --------------------------------------------------------------------------

    @property
    def node_id(self) -> str:
        if self._node_id is None:
            raise DaemonFailed("not started", name="ldk")
        return self._node_id

    def info(self) -> dict[str, Any]:
        return self.request("info")

    def connect(self, host: str, port: int, pubkey: str, timeout: float = 20.0) -> None:
        """Dial as BOLT 8 initiator; returns once `init` was exchanged."""
        self.request(
            "connect",
            host=host,
            port=port,
            pubkey=pubkey,
            timeout_ms=int(timeout * 1000),
            timeout=timeout + 5,
        )

    def listen(self, port: int = 0) -> int:
        """Accept BOLT 8 connections on 127.0.0.1:`port` (0 = any); return the port."""
        self.listen_port = int(self.request("listen", port=port)["port"])
        return self.listen_port

    def list_peers(self) -> list[str]:
        return [str(p["node_id"]) for p in self.request("peers")["peers"]]

    def ping(self, pubkey: str, timeout: float = 10.0) -> float:
        """Make LDK ping its peers; wait for `pubkey`'s pong; return the round trip (ms)."""
        reply = self.request(
            "ping", pubkey=pubkey, timeout_ms=int(timeout * 1000), timeout=timeout + 5
        )
        return float(reply["rtt_ms"])

    def events_named(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e.get("event") == name]

    def wait_event(
        self,
        name: str,
        *,
        timeout: float = 30.0,
        where: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Wait for an event named `name` whose fields include `where`; return it."""

        def found() -> dict[str, Any] | None:
            for e in self.events_named(name):
                if all(e.get(k) == v for k, v in (where or {}).items()):
                    return e
            return None

        return wait_until(found, timeout=timeout, what=f"ldk event {name} {where or ''}")

    # -- chain, wallet, channels -----------------------------------------------------------

    def attach_chain(self, btcd: Btcd, *, poll_ms: int = 200, timeout: float = 60.0) -> int:
        """Feed LDK btcd's blocks (from height 1) and broadcast through it; return the height.

        The credentials travel over the harness's stdin, not its command line.
        """
        host, _, port = btcd.rpc_host.rpartition(":")
        reply = self.request(
            "chain",
            host=host,
            port=int(port),
            cert=str(btcd.rpc_cert),
            user=btcd.rpcuser,
            password=btcd.rpcpass,
            poll_ms=poll_ms,
            timeout=timeout,
        )
        return int(reply["height"])

    def sync(self, timeout: float = 60.0) -> int:
        """Catch up with btcd's tip now; return the height LDK and the wallet are at."""
        return int(self.request("sync", timeout=timeout)["height"])

    def new_address(self) -> str:
        """A fresh P2WPKH address of the harness wallet (bech32)."""
        return str(self.request("new_address")["address"])

    def balance(self) -> LdkBalance:
        r = self.request("balance")
        return LdkBalance(
            confirmed_sat=int(r["confirmed_sat"]),
            spendable_sat=int(r["spendable_sat"]),
            locked_sat=int(r["locked_sat"]),
            immature_sat=int(r["immature_sat"]),
            utxos=int(r["utxos"]),
            height=int(r["height"]),
        )

    def open_channel(
        self,
        pubkey: str,
        amount_sat: int,
        *,
        push_msat: int = 0,
        announce: bool = False,
        feerate_sat_per_vb: int = 2,
        timeout: float = 60.0,
    ) -> LdkOpened:
        """Open a channel to a connected peer, funded by the harness wallet.

        Returns at LDK's ChannelPending (funding signed by both sides and broadcast);
        raises `DaemonFailed` with LDK's closure reason if the peer refuses.
        """
        r = self.request(
            "open_channel",
            pubkey=pubkey,
            amount_sat=amount_sat,
            push_msat=push_msat,
            announce=announce,
            feerate_sat_per_vb=feerate_sat_per_vb,
            timeout_ms=int(timeout * 1000),
            timeout=timeout + 5,
        )
        fee = r.get("funding_fee_sat")
        return LdkOpened(
            temporary_channel_id=str(r["temporary_channel_id"]),
            channel_id=str(r["channel_id"]),
            funding_txid=str(r["funding_txid"]),
            funding_output_index=int(r["funding_output_index"]),
            funding_fee_sat=None if fee is None else int(fee),
        )

    def list_channels(self) -> list[LdkChannel]:
        return [LdkChannel.from_json(c) for c in self.request("list_channels")["channels"]]

    def channel(self, channel_id: str) -> LdkChannel | None:
        return next((c for c in self.list_channels() if c.channel_id == channel_id), None)

    def close_channel(self, channel_id: str, counterparty: str) -> None:
        """Start a cooperative close (BOLT 2 `shutdown`); watch `channel_closed`."""
        self.request("close_channel", channel_id=channel_id, counterparty=counterparty)

    def invoice(self, amount_msat: int | None, description: str = "", expiry_s: int = 3600) -> str:
        """LDK's own BOLT 11 invoice (route hints for its unannounced channels); a
        payment to it is claimed at once (event `payment_claimed`)."""
        r = self.request("invoice", amount_msat=amount_msat, description=description,
                         expiry_s=expiry_s)  # fmt: skip
        return str(r["bolt11"])

    def pay(self, bolt11: str, timeout: float = 60.0) -> dict[str, Any]:
        """Pay a BOLT 11 invoice (LDK's router, 3 attempts): {payment_hash, preimage,
        fee_msat} at PaymentSent; `DaemonFailed` with LDK's reason at PaymentFailed."""
        return self.request("pay", bolt11=bolt11, timeout_ms=int(timeout * 1000),
                            timeout=timeout + 5)  # fmt: skip

    def force_close_channel(self, channel_id: str, counterparty: str) -> None:
        """Broadcast LDK's latest commitment transaction."""
        self.request("force_close_channel", channel_id=channel_id, counterparty=counterparty)
