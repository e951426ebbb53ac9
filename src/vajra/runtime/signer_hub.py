"""The runtime's end of the signer link: an asyncio server that live signers dial into.

Signers sit behind home NAT, so they connect to the runtime. Each connection is a BOLT 8
session in which the hub is the responder with its own static link key. After the
handshake the hub knows the signer's static key and either

- finds it pinned (paired earlier): the hub sends the newest audit head it has seen
  from that signer (the anchor, decision 0012) and requires the signer's own head to
  be no older (else ERROR `stale_audit_head` and close); the link is attached to that
  signer's `RemoteSigner`, the signer's HELLO lists its nodes, requests flow, and every
  newer head the signer reports is kept (`heads.json`); or
- the handshake matched a pairing key instead of the hub's own key (decision 0007): the
  code is consumed, the signer proves the code, the hub pins the signer's key and
  answers with its own key and the signer id; the connection then closes; or
- neither: the connection is closed.

State directory (never inside the repository): `link_key` (the hub's static secret,
0600, sealed with Argon2id + ChaCha20-Poly1305 when VAJRA_RUNTIME_KEY_PASSWORD is set),
`signers.json` (pinned signer keys, public), `heads.json` (the newest audit head
seen per signer: the anchor; public but integrity-relevant, 0600),
`backups/signer-N.bin` (the newest sealed state backup per signer: the hub cannot read
it, it hands it back when a restored signer pairs again), `hub.log`, `admin.sock` (0600). Identity
secrets the signers release stay in memory. Nothing secret is logged.

`vajra runtime` (without --dev) embeds a hub in its supervisor (decision 0008).
Standalone (for tests):

    python -m vajra.runtime.signer_hub --state-dir DIR --port P
        prints {"event": "ready", "port": ..., "runtime_pubkey": ..., "admin": ...}
    python -m vajra.runtime.signer_hub admin --state-dir DIR pairing-code
    python -m vajra.runtime.signer_hub admin --state-dir DIR call '{"op": "signers"}'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vajra.crypto.secp256k1 import generate_secret
from vajra.errors import DecodeError, PolicyViolation, VajraError
from vajra.noise import ACT_ONE_SIZE, ACT_THREE_SIZE, HandshakeError, StaticKey
from vajra.osutil import write_private
from vajra.runtime.remote_signer import RemoteSigner, SignerUnavailable
from vajra.runtime.source_limits import SourceLimits
from vajra.signer import link_pairing as pairing
from vajra.signer import link_proto as lp
from vajra.signer.link_io import HANDSHAKE_TIMEOUT, FramedLink, LinkClosed

log = logging.getLogger("vajra.runtime.signer_hub")

KEY_PASSWORD_ENV = "VAJRA_RUNTIME_KEY_PASSWORD"
ADMIN_SOCKET = "admin.sock"


def _event(event: str, **fields: object) -> str:
    """One structured log line: event=... key=value ..."""
    return " ".join([f"event={event}", *(f"{k}={v}" for k, v in fields.items())])


# --- persistent hub state -------------------------------------------------------------------


def load_link_key(state_dir: Path, password: str | None = None) -> StaticKey:
    """The hub's static link key, created on first use."""
    from vajra.signer.seed import open_seed, seal_seed

    password = password if password is not None else os.environ.get(KEY_PASSWORD_ENV)
    sealed, plain = state_dir / "link_key.sealed", state_dir / "link_key"
    if sealed.exists():
        if password is None:
            raise VajraError(f"{sealed} is sealed: set {KEY_PASSWORD_ENV}")
        return StaticKey(open_seed(sealed.read_bytes(), password))
    if plain.exists():
        return StaticKey(plain.read_bytes())
    secret = generate_secret()
    if password is not None:
        write_private(sealed, seal_seed(secret, password))
    else:
        write_private(plain, secret)
    return StaticKey(secret)


class PinStore:
    """Pinned signer link keys: signer id -> compressed pubkey, in `signers.json`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pins: dict[int, bytes] = {}
        if path.exists():
            for row in json.loads(path.read_text())["signers"]:
                self.pins[int(row["signer_id"])] = bytes.fromhex(row["link_pubkey"])

    def lookup(self, pubkey: bytes) -> int | None:
        for sid, pk in self.pins.items():
            if pk == pubkey:
                return sid
        return None

    def pin(self, pubkey: bytes) -> int:
        """The signer id for `pubkey`, pinning it under a new id if it is new."""
        sid = self.lookup(pubkey)
        if sid is None:
            sid = max(self.pins, default=0) + 1
            self.pins[sid] = pubkey
            rows = [{"signer_id": s, "link_pubkey": p.hex()} for s, p in sorted(self.pins.items())]
            write_private(self.path, json.dumps({"signers": rows}, indent=1).encode())
        return sid


class HeadStore:
    """The newest audit head seen per signer: signer id -> (length, hash), in
    `heads.json`. Written at most every `FLUSH_DELAY` seconds and at close (a wake must
    not wait for a file write); a runtime crash loses at most that much of the anchor,
    and the devices keep their own copy."""

    FLUSH_DELAY = 0.5

    def __init__(self, path: Path) -> None:
        self.path = path
        self.heads: dict[int, tuple[int, bytes]] = {}
        self._dirty = False
        self._timer: asyncio.TimerHandle | None = None
        if path.exists():
            for row in json.loads(path.read_text())["heads"]:
                self.heads[int(row["signer_id"])] = (int(row["length"]), bytes.fromhex(row["hash"]))

    def get(self, signer_id: int) -> tuple[int, bytes]:
        return self.heads.get(signer_id, (0, bytes(32)))

    def see(self, signer_id: int, length: int, head_hash: bytes) -> bool:
        """Record a head the signer reported; False if it is older than one seen (or
        differs at the same length): the signer's log lost entries."""
        known, known_hash = self.get(signer_id)
        if length < known or (length == known and head_hash != known_hash):
            return False
        if length > known:
            self.heads[signer_id] = (length, head_hash)
            self._dirty = True
            self._schedule()
        return True

    def _schedule(self) -> None:
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._timer = loop.call_later(self.FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        self._timer = None
        if not self._dirty:
            return
        rows = [
            {"signer_id": s, "length": n, "hash": h.hex()}
            for s, (n, h) in sorted(self.heads.items())
        ]
        write_private(self.path, json.dumps({"heads": rows}, indent=1).encode())
        self._dirty = False


# --- the hub --------------------------------------------------------------------------------


class SignerHub:
    """Accepts signer links; one `RemoteSigner` per paired signer."""

    def __init__(
        self,
        state_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        request_timeout: float = 10.0,
        code_ttl: float = pairing.CODE_TTL,
        clock: Callable[[], float] = time.time,
        key_password: str | None = None,
        max_codes: int = pairing.MAX_OUTSTANDING,
        limits: SourceLimits | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.host = host
        self.port = port
        self.key = load_link_key(self.state_dir, key_password)
        self.key_sealed = (self.state_dir / "link_key.sealed").exists()
        if not self.key_sealed:
            # Issue 13 item 2: whoever copies this file can pose as this runtime to every
            # paired signer (and receive their identity secrets). Say so at every start.
            log.warning("event=link_key_in_clear path=%s -- WARNING: the runtime's link key "
                        "is stored in clear: anyone who copies it can pose as this runtime "
                        "to its signers; set %s to seal it", self.state_dir / "link_key",
                        KEY_PASSWORD_ENV)  # fmt: skip
        self.pins = PinStore(self.state_dir / "signers.json")
        self.heads = HeadStore(self.state_dir / "heads.json")
        self.codes = pairing.PairingCodes(code_ttl, max_codes)
        self.limits = limits or SourceLimits()
        """Per-source bounds on handshakes to the signer port."""
        self.clock = clock
        self.request_timeout = request_timeout
        self._signers: dict[int, RemoteSigner] = {}
        self._server: asyncio.Server | None = None
        self._admin: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.identities: dict[bytes, bytes] = {}
        """node id -> identity secret, in memory only (DESIGN section 4)."""
        self.on_connect: Callable[[RemoteSigner], None] | None = None
        """Called when a paired signer's link is up (the runtime loads its nodes)."""
        self.admin_creates_nodes = True
        """False inside `vajra runtime`: nodes are created through its admin API, which
        registers them (a node created here would be in no registry)."""

    @property
    def pubkey(self) -> bytes:
        return self.key.pubkey

    def signer(self, signer_id: int) -> RemoteSigner:
        """The `SignerClient` for a paired signer (connected or not)."""
        if signer_id not in self.pins.pins:
            raise KeyError(f"no signer {signer_id} is paired")
        rs = self._signers.get(signer_id)
        if rs is None:
            rs = RemoteSigner(signer_id, self.pins.pins[signer_id], self.request_timeout)
            self._signers[signer_id] = rs
        return rs

    def signer_for(self, node_id: bytes) -> RemoteSigner:
        for sid in self.pins.pins:
            rs = self.signer(sid)
            if node_id in rs.node_ids:
                return rs
        raise KeyError(f"no connected signer serves node {node_id.hex()}")

    def pairing_code(self) -> pairing.PendingCode:
        p = self.codes.issue(self.clock())
        log.info(_event("pairing_code_issued", expires=int(p.expires)))  # never the code
        return p

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info(_event("hub_listening", host=self.host, port=self.port, pubkey=self.pubkey.hex()))

    async def start_admin(self, path: Path | None = None) -> Path:
        path = path or self.state_dir / ADMIN_SOCKET
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        old = os.umask(0o177)
        try:
            self._admin = await asyncio.start_unix_server(self._on_admin, str(path))
        finally:
            os.umask(old)
        return path

    async def close(self) -> None:
        self.heads.flush()
        for server in (self._server, self._admin):
            if server is not None:
                server.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in (self._server, self._admin):
            if server is not None:
                with contextlib.suppress(Exception):
                    await server.wait_closed()

    # --- connections ------------------------------------------------------------------------

    async def _on_connection(self, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = w.get_extra_info("peername")
        source = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        if not self.limits.admit(source, time.monotonic()):
            log.info(_event("link_refused", why="source_limit", source=source))
            w.close()
            return
        self._tasks.add(task)
        try:
            try:
                link, code = await asyncio.wait_for(self._handshake(reader, w), HANDSHAKE_TIMEOUT)
            finally:
                self.limits.done(source)
            if link is None:
                return
            if code is not None:
                await self._pair(link, code)
            else:
                await self._serve(link)
        except (TimeoutError, asyncio.IncompleteReadError, LinkClosed, ConnectionError) as e:
            log.info(_event("link_closed", peer=peer, why=type(e).__name__))
        except DecodeError as e:
            log.warning(_event("link_protocol_error", peer=peer, error=type(e).__name__))
        except asyncio.CancelledError:
            pass
        finally:
            w.close()
            self._tasks.discard(task)

    async def _handshake(
        self, reader: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> tuple[FramedLink | None, pairing.PendingCode | None]:
        first = await reader.readexactly(1)
        loc = None
        if first == pairing.PRELUDE_MAGIC[:1]:
            rest = await reader.readexactly(pairing.PRELUDE_SIZE - 1)
            if first + rest[:1] != pairing.PRELUDE_MAGIC:
                log.info(_event("link_refused", why="bad_prelude"))
                return None, None
            loc = rest[1:]
            first = await reader.readexactly(1)
        act_one = first + await reader.readexactly(ACT_ONE_SIZE - 1)
        try:
            hs, act_two, code = pairing.accept_act_one(
                self.key, self.codes, act_one, self.clock(), loc
            )
        except HandshakeError:
            log.info(_event("link_refused", why="handshake_to_unknown_key"))
            return None, None
        w.write(act_two)
        remote, transport = hs.read_act_three(await reader.readexactly(ACT_THREE_SIZE))
        return FramedLink(reader, w, transport, remote), code

    async def _pair(self, link: FramedLink, code: pairing.PendingCode) -> None:
        frame = await asyncio.wait_for(link.recv(), HANDSHAKE_TIMEOUT)
        signer_key = link.remote_pubkey
        expected = pairing.signer_mac(code.code, signer_key, code.key.pubkey)
        if not isinstance(frame, lp.PairRequest) or not pairing.macs_equal(frame.mac, expected):
            log.warning(_event("pairing_refused", why="bad_mac", signer=signer_key.hex()))
            link.send(lp.Error(0, "bad_mac", "pairing proof does not match the code"))
            await link.writer.drain()
            return
        sid = self.pins.pin(signer_key)
        mac = pairing.runtime_mac(code.code, signer_key, self.pubkey)
        link.send(lp.PairAccept(0, self.pubkey, sid, mac))
        # A signer restored from its words gets its anchor and its state back.
        known, known_hash = self.heads.get(sid)
        link.send(lp.AuditHead(0, known, known_hash))
        stored = self._backup_path(sid)
        if stored.exists():
            raw = stored.read_bytes()
            link.send(lp.Backup(0, int.from_bytes(raw[:8], "big"), raw[8:]))
        await link.writer.drain()
        log.info(_event("signer_paired", signer_id=sid, signer=signer_key.hex()))

    async def _serve(self, link: FramedLink) -> None:
        sid = self.pins.lookup(link.remote_pubkey)
        if sid is None:
            log.warning(_event("link_refused", why="unpinned_key", key=link.remote_pubkey.hex()))
            return
        known, known_hash = self.heads.get(sid)
        link.send(lp.AuditHead(0, known, known_hash))
        head = await asyncio.wait_for(link.recv(), HANDSHAKE_TIMEOUT)
        if not isinstance(head, lp.AuditHead):
            raise lp.LinkDecodeError("first frame is not AUDIT_HEAD")
        if not self.heads.see(sid, head.length, head.hash):
            await self._refuse_head(link, sid, head)
            return
        hello = await asyncio.wait_for(link.recv(), HANDSHAKE_TIMEOUT)
        if not isinstance(hello, lp.Hello):
            raise lp.LinkDecodeError("frame after AUDIT_HEAD is not HELLO")
        rs = self.signer(sid)
        rs.attach(link, hello.node_ids)
        log.info(_event("signer_connected", signer_id=sid, nodes=len(hello.node_ids)))
        if self.on_connect is not None:
            self.on_connect(rs)
        why = "closed"
        try:
            while True:
                frame = await link.recv()
                if isinstance(frame, lp.Hello):
                    rs.add_nodes(frame.node_ids)
                    continue
                if isinstance(frame, lp.AuditHead):
                    if not self.heads.see(sid, frame.length, frame.hash):
                        await self._refuse_head(link, sid, frame)
                        return
                    continue
                if isinstance(frame, lp.Backup):
                    self._keep_backup(sid, frame)
                    continue
                if frame.KIND in lp.REQUEST_KINDS:
                    raise lp.LinkDecodeError(f"signer sent {type(frame).__name__}")
                if not rs.on_frame(frame):
                    log.info(_event("late_response", signer_id=sid, id=frame.id))
        except BaseException as e:
            why = type(e).__name__
            raise
        finally:
            rs.detach(link, why)
            log.info(_event("signer_disconnected", signer_id=sid, why=why))

    def _backup_path(self, sid: int) -> Path:
        return self.state_dir / "backups" / f"signer-{sid}.bin"

    def _keep_backup(self, sid: int, b: lp.Backup) -> None:
        """Keep the newest sealed backup (we cannot read it; the signer can)."""
        path = self._backup_path(sid)
        if path.exists() and int.from_bytes(path.read_bytes()[:8], "big") > b.length:
            return
        path.parent.mkdir(mode=0o700, exist_ok=True)
        write_private(path, b.length.to_bytes(8, "big") + b.blob)

    async def _refuse_head(self, link: FramedLink, sid: int, head: lp.AuditHead) -> None:
        known, _ = self.heads.get(sid)
        log.error(
            _event("signer_refused", signer_id=sid, why="stale_audit_head", known=known,
                   presented=head.length)
        )  # fmt: skip
        detail = f"this runtime saw {known} audit entries; the signer presents {head.length}"
        link.send(lp.Error(0, "stale_audit_head", detail))
        await link.writer.drain()

    # --- admin ------------------------------------------------------------------------------

    async def _on_admin(self, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            try:
                req = json.loads(line)
                resp = await self.admin(req)
            except (ValueError, KeyError, TypeError) as e:
                resp = {"error": "bad_request", "detail": str(e)}
            except PolicyViolation as v:
                resp = {"error": v.reason, "detail": v.detail}
            except SignerUnavailable as e:
                resp = {"error": "signer_unavailable", "detail": e.detail}
            except pairing.PairingError as e:
                resp = {"error": e.reason, "detail": str(e)}
            w.write(json.dumps(resp).encode() + b"\n")
            await w.drain()
        finally:
            w.close()

    async def admin(self, req: dict[str, Any]) -> dict[str, Any]:
        """One admin request (the operator's, over the 0600 admin socket). Answers hold
        public data only: node ids, decisions, never a secret."""
        op = req["op"]
        if op == "pairing_code":
            p = self.pairing_code()
            return {"code": p.code, "expires": int(p.expires), "runtime_pubkey": self.pubkey.hex()}
        if op == "signers":
            return {
                "signers": [
                    {
                        "signer_id": sid,
                        "link_pubkey": pk.hex(),
                        "connected": self.signer(sid).connected,
                        "node_ids": sorted(n.hex() for n in self.signer(sid).node_ids),
                    }
                    for sid, pk in sorted(self.pins.pins.items())
                ]
            }
        if op == "wait_signer":
            rs = self.signer(int(req.get("signer_id", 1)))
            await rs.wait_connected(float(req.get("timeout", 10)))
            return {"signer_id": rs.signer_id, "connected": True}
        if op == "create_nodes":
            if not self.admin_creates_nodes:
                raise ValueError("create nodes with `vajra nodes create` (registers them)")
            rs = self.signer(int(req.get("signer_id", 1)))
            grants = await rs.create_nodes(int(req["count"]))
            for g in grants:
                self.identities[g.node_id] = g.identity_secret
            return {"node_ids": [g.node_id.hex() for g in grants]}
        if op == "ping":
            rs = self.signer(int(req.get("signer_id", 1)))
            t = time.perf_counter()
            await rs.ping()
            return {"rtt_ms": (time.perf_counter() - t) * 1000}
        if op == "authorise_payment":
            node_id = bytes.fromhex(req["node_id"])
            d = await self.signer_for(node_id).authorise_payment(
                node_id,
                bytes.fromhex(req["authorisation"]),
                int(req.get("epoch", 1)),
                bytes.fromhex(req.get("confirmation", "")),
            )
            return decision_json(d)
        if op == "device_command":
            rs = self.signer(int(req.get("signer_id", 1)))
            return decision_json(await rs.device_command(bytes.fromhex(req["command"])))
        if op in ("new_channel", "channel_request"):
            # The channel requests on bytes (`vajra.channel.signer_codec`, decision 0017),
            # as a node's worker sends them: the hub run alone for tests and tools.
            node_id = bytes.fromhex(req["node_id"])
            rs, epoch = self.signer_for(node_id), int(req["epoch"])
            if op == "new_channel":
                index, keys = await rs.new_channel_bytes(node_id, epoch)
                return {"channel_index": index, "keys": keys.hex()}
            index, raw = int(req["channel_index"]), bytes.fromhex(req["request"])
            return {"result": (await rs.channel_request_bytes(node_id, epoch, index, raw)).hex()}
        raise ValueError(f"unknown op {op!r}")


def decision_json(d: lp.DecisionFrame) -> dict[str, Any]:
    return {
        "outcome": d.outcome,
        "reason": d.reason,
        "kind": d.decision_kind,
        "subject_id": d.subject_id.hex(),
        "device_id": d.device_id.hex() or None,
        "audit_seq": d.audit_seq,
        "audit_time": d.audit_time,
        "prev_hash": d.prev_hash.hex(),
        "signature": d.signature.hex(),
    }


def admin_call(state_dir: Path, req: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Send one admin request to a running hub (blocking); its JSON answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(Path(state_dir) / ADMIN_SOCKET))
        s.sendall(json.dumps(req).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    out: dict[str, Any] = json.loads(buf)
    return out


# --- standalone entry point -----------------------------------------------------------------


def _setup_logging(state_dir: Path) -> None:
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    root = logging.getLogger("vajra")
    root.setLevel(logging.INFO)
    for h in (logging.StreamHandler(sys.stderr), logging.FileHandler(state_dir / "hub.log")):
        h.setFormatter(fmt)
        root.addHandler(h)


async def _serve_forever(args: argparse.Namespace) -> int:
    hub = SignerHub(Path(args.state_dir), args.host, args.port)
    await hub.start()
    admin = await hub.start_admin()
    ready = {
        "event": "ready",
        "port": hub.port,
        "host": hub.host,
        "runtime_pubkey": hub.pubkey.hex(),
        "admin": str(admin),
    }
    print(json.dumps(ready), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await hub.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["admin"]:
        p = argparse.ArgumentParser(prog="python -m vajra.runtime.signer_hub admin")
        p.add_argument("--state-dir", required=True, type=Path)
        p.add_argument("what", choices=["pairing-code", "signers", "call"])
        p.add_argument("request", nargs="?", help="for `call`: a JSON request")
        a = p.parse_args(argv[1:])
        ops = {"pairing-code": {"op": "pairing_code"}, "signers": {"op": "signers"}}
        req = json.loads(a.request) if a.what == "call" else ops[a.what]
        out = admin_call(a.state_dir, req)
        print(json.dumps(out))
        return 1 if "error" in out else 0
    p = argparse.ArgumentParser(
        prog="python -m vajra.runtime.signer_hub",
        description="Run the runtime's signer hub alone: signers dial in and pair here.",
    )
    p.add_argument("--state-dir", required=True, help="hub state directory (link key, pins)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: any free port (see the ready line)")
    args = p.parse_args(argv)
    os.umask(0o077)  # hub.log, pins, link key: the hub's user only
    Path(args.state_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    _setup_logging(Path(args.state_dir))
    return asyncio.run(_serve_forever(args))


if __name__ == "__main__":
    sys.exit(main())
