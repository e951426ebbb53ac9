"""The link over real loopback sockets: pairing and pinning, request/response matching,
timeouts, reconnect with backoff, and the local link with no runtime at all."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.unit.signer.helpers import T0, World, key
from vajra.errors import PolicyViolation
from vajra.noise import HandshakeError, Initiator, Responder, StaticKey
from vajra.runtime.remote_signer import RemoteSigner, SignerUnavailable
from vajra.runtime.signer_hub import SignerHub
from vajra.signer import link_pairing as pairing
from vajra.signer import link_proto as lp
from vajra.signer import local_link
from vajra.signer.core import SignerCore
from vajra.signer.daemon import PairingRefused, RuntimeAddress, SignerDaemon, backoff_delay, pair
from vajra.signer.devices import KeyType
from vajra.signer.keys import SignerKeys
from vajra.signer.link_io import FramedLink, LinkClosed, dial
from vajra.signer.link_server import LinkHandler
from vajra.signer.messages import CommandKind

KEYS = SignerKeys(bytes(range(64)))
LINK_KEY = StaticKey(KEYS.link_key().secret)


def run(coro_fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test body on a fresh loop (no pytest-asyncio here)."""

    @functools.wraps(coro_fn)
    def wrapper(*args: Any, **kw: Any) -> None:
        asyncio.run(asyncio.wait_for(coro_fn(*args, **kw), 30))

    return wrapper


@contextlib.asynccontextmanager
async def hub_at(state: Path, port: int = 0, **kw: Any) -> AsyncIterator[SignerHub]:
    hub = SignerHub(state, port=port, **kw)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.close()


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# --- pairing --------------------------------------------------------------------------------


def test_codes_are_80_bit_base32_and_normalised() -> None:
    code = pairing.new_code()
    assert len(code) == 19 and code.count("-") == 3
    assert pairing.normalize_code(code.lower().replace("-", " ")) == code.replace("-", "")
    for bad in ("ABCD-EFGH", "ABCD-EFGH-IJKL-MNO1", ""):
        with pytest.raises(pairing.PairingError):
            pairing.normalize_code(bad)
    assert pairing.pairing_key(code).pubkey == pairing.pairing_key(code.lower()).pubkey
    assert pairing.pairing_key(code).pubkey != pairing.pairing_key(pairing.new_code()).pubkey


def test_pending_codes_expire_and_are_consumed() -> None:
    codes = pairing.PairingCodes(ttl=60)
    a = codes.issue(T0)
    b = codes.issue(T0 + 30)
    assert codes.candidates(T0 + 59) == [a, b]
    codes.consume(a)
    assert codes.candidates(T0 + 59) == [b]
    assert codes.candidates(T0 + 90) == []


def test_act_one_matching_is_sans_io_and_single_use() -> None:
    """No prelude: the runtime's key only; a prelude: the code it names only, once."""
    own = StaticKey(b"\x01" * 32)
    codes = pairing.PairingCodes(ttl=60)
    p = codes.issue(T0)
    act_own = Initiator(LINK_KEY, own.pubkey).act_one()
    assert pairing.accept_act_one(own, codes, act_own, T0)[2] is None
    loc = pairing.locator(p.key.pubkey)
    assert pairing.prelude(p.key.pubkey) == b"VP" + loc and len(loc) == 16
    act_pair = Initiator(LINK_KEY, p.key.pubkey).act_one()
    with pytest.raises(HandshakeError):  # a pairing act one without its prelude
        pairing.accept_act_one(own, codes, act_pair, T0)
    _hs, act_two, matched = pairing.accept_act_one(own, codes, act_pair, T0, loc)
    assert matched is p and len(act_two) == 50 and len(codes) == 0
    with pytest.raises(HandshakeError):  # the same act one replayed: the code is spent
        pairing.accept_act_one(own, codes, act_pair, T0, loc)
    late = codes.issue(T0)
    act_late = Initiator(LINK_KEY, late.key.pubkey).act_one()
    with pytest.raises(HandshakeError):  # expired
        pairing.accept_act_one(own, codes, act_late, T0 + 61, pairing.locator(late.key.pubkey))


def test_outstanding_codes_are_capped() -> None:
    codes = pairing.PairingCodes(ttl=60, cap=3)
    issued = [codes.issue(T0) for _ in range(3)]
    with pytest.raises(pairing.PairingError, match="too_many_codes"):
        codes.issue(T0 + 1)
    codes.consume(issued[0])
    codes.issue(T0 + 1)  # a used code frees its place
    assert len(codes.candidates(T0 + 59)) == 3
    assert codes.issue(T0 + 61) is not None  # expired codes free theirs


@run
async def test_pairing_pins_both_keys(tmp_path: Path) -> None:
    async with hub_at(tmp_path / "hub") as hub:
        code = hub.pairing_code().code
        paired = await pair("127.0.0.1", hub.port, code, LINK_KEY)
        assert paired.runtime_pubkey == hub.pubkey and paired.signer_id == 1
        assert hub.pins.pins == {1: LINK_KEY.pubkey}
        # Pinned on disk: a restarted hub (same state dir) knows the signer, same key.
        again = SignerHub(tmp_path / "hub")
        assert again.pins.pins == {1: LINK_KEY.pubkey} and again.pubkey == hub.pubkey
        # Pairing the same signer again keeps its id.
        p2 = await pair("127.0.0.1", hub.port, hub.pairing_code().code, LINK_KEY)
        assert p2.signer_id == 1


@run
async def test_wrong_replayed_and_expired_codes_are_refused(tmp_path: Path) -> None:
    clock = Clock()
    async with hub_at(tmp_path / "hub", clock=clock, code_ttl=60) as hub:
        code = hub.pairing_code().code
        with pytest.raises(PairingRefused, match="bad_code"):
            await pair("127.0.0.1", hub.port, pairing.new_code(), LINK_KEY)
        await pair("127.0.0.1", hub.port, code, LINK_KEY)
        with pytest.raises(PairingRefused, match="bad_code"):  # replay of a used code
            await pair("127.0.0.1", hub.port, code, StaticKey(b"\x05" * 32))
        late = hub.pairing_code().code
        clock.t += 61
        with pytest.raises(PairingRefused, match="bad_code"):
            await pair("127.0.0.1", hub.port, late, StaticKey(b"\x05" * 32))
        assert list(hub.pins.pins.values()) == [LINK_KEY.pubkey]


@run
async def test_a_bad_signer_proof_burns_the_code(tmp_path: Path) -> None:
    async with hub_at(tmp_path / "hub") as hub:
        code = hub.pairing_code().code
        pk = pairing.pairing_key(code).pubkey
        link = await dial("127.0.0.1", hub.port, LINK_KEY, pk, prelude=pairing.prelude(pk))
        link.send(lp.PairRequest(0, bytes(32)))
        resp = await link.recv()
        assert isinstance(resp, lp.Error) and resp.reason == "bad_mac"
        await link.close()
        assert hub.pins.pins == {} and len(hub.codes) == 0


@run
async def test_the_signer_checks_the_runtime_proof(tmp_path: Path) -> None:
    """A runtime that knows the code but answers with a proof for other keys is refused."""
    code = pairing.new_code()
    pkey = pairing.pairing_key(code)

    async def fake_runtime(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        hs = Responder(pkey)
        assert await r.readexactly(18) == pairing.prelude(pkey.pubkey)
        w.write(hs.read_act_one(await r.readexactly(50)))
        remote, t = hs.read_act_three(await r.readexactly(66))
        link = FramedLink(r, w, t, remote)
        await link.recv()
        other = StaticKey(b"\x07" * 32).pubkey
        link.send(lp.PairAccept(0, other, 1, pairing.runtime_mac(code, remote, pkey.pubkey)))
        await w.drain()

    server = await asyncio.start_server(fake_runtime, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with pytest.raises(PairingRefused, match="bad_mac"):
        await pair("127.0.0.1", port, code, LINK_KEY)
    server.close()


@run
async def test_only_pinned_signers_are_served(tmp_path: Path) -> None:
    async with hub_at(tmp_path / "hub") as hub:
        stranger = StaticKey(b"\x09" * 32)
        link = await dial("127.0.0.1", hub.port, stranger, hub.pubkey)
        link.send(lp.Hello(0, ()))
        with pytest.raises(LinkClosed):
            await link.recv()
        assert hub.pins.pins == {}


# --- requests over a live link --------------------------------------------------------------


async def _paired_daemon(
    tmp_path: Path, hub: SignerHub, core: SignerCore, **kw: Any
) -> tuple[SignerDaemon, asyncio.Task[None]]:
    p = await pair("127.0.0.1", hub.port, hub.pairing_code().code, LINK_KEY)
    rt = RuntimeAddress("127.0.0.1", hub.port, p.runtime_pubkey)
    daemon = SignerDaemon(LinkHandler(core), LINK_KEY, rt, tmp_path / "local.sock", **kw)
    return daemon, asyncio.create_task(daemon.run())


@run
async def test_remote_signer_serves_the_signer_client_calls(tmp_path: Path) -> None:
    core = SignerCore(KEYS, World().state)
    async with hub_at(tmp_path / "hub") as hub:
        daemon, task = await _paired_daemon(tmp_path, hub, core)
        rs = hub.signer(1)
        await rs.wait_connected(5)
        grants = await rs.create_nodes(3)
        ids = [g.node_id for g in grants]
        assert ids == [KEYS.node(i).node_id for i in range(3)]
        assert await rs.identity_secrets(ids, 2) == [g.identity_secret for g in grants]
        # Many requests in flight at once: each answer finds its own request.
        keys = await asyncio.gather(*(rs.state_key(ids[i % 3], 2) for i in range(30)))
        assert keys == [KEYS.node(i % 3).state_key() for i in range(30)]
        with pytest.raises(PolicyViolation) as e:
            await rs.state_key(ids[0], 1)
        assert e.value.reason == "stale_epoch"
        daemon.stop()
        await task
        with pytest.raises(SignerUnavailable):
            await rs.ping()


class _FakeLink:
    def __init__(self) -> None:
        self.sent: list[lp.Frame] = []

    def send(self, frame: lp.Frame) -> None:
        self.sent.append(frame)


@run
async def test_responses_match_requests_by_id_in_any_order() -> None:
    rs = RemoteSigner(1, LINK_KEY.pubkey, timeout=5)
    link = _FakeLink()
    rs.attach(link, ())  # type: ignore[arg-type]
    node = KEYS.node(0).node_id
    calls = [asyncio.create_task(rs.state_key(node, i)) for i in range(5)]
    await asyncio.sleep(0)
    sent = list(link.sent)
    assert len({f.id for f in sent}) == 5
    for f in reversed(sent):
        assert isinstance(f, lp.StateKey)
        assert rs.on_frame(lp.Secret(f.id, bytes([f.epoch]) * 32))
    assert await asyncio.gather(*calls) == [bytes([i]) * 32 for i in range(5)]
    assert not rs.on_frame(lp.Secret(999, bytes(32)))  # nobody waits for that id


@run
async def test_timeouts_and_lost_links_raise_signer_unavailable() -> None:
    rs = RemoteSigner(1, LINK_KEY.pubkey, timeout=0.05)
    with pytest.raises(SignerUnavailable, match="not connected"):
        await rs.ping()
    link = _FakeLink()
    rs.attach(link, ())  # type: ignore[arg-type]
    with pytest.raises(SignerUnavailable, match="no answer"):
        await rs.ping()
    rs.timeout = 5
    pending = asyncio.create_task(rs.ping())
    await asyncio.sleep(0)
    rs.detach(link, "test")  # type: ignore[arg-type]
    with pytest.raises(SignerUnavailable, match="link lost"):
        await pending
    # A late answer after the timeout is dropped, not delivered to a newer request.
    assert not rs.on_frame(lp.Pong(link.sent[0].id))


def test_backoff_is_exponential_capped_and_jittered() -> None:
    lo = [backoff_delay(a, 0.0, 0.25, 30) for a in range(12)]
    hi = [backoff_delay(a, 0.999999, 0.25, 30) for a in range(12)]
    assert lo[0] == 0.125 and lo[1] == 0.25 and lo[2] == 0.5
    assert all(x <= y for x, y in itertools.pairwise(lo))
    assert max(hi) <= 30 and hi[-1] > 29.9 and lo[-1] == 15
    assert backoff_delay(10**6, 0.5) <= 30


@run
async def test_signer_redials_after_the_runtime_restarts(tmp_path: Path) -> None:
    core = SignerCore(KEYS, World().state)
    async with hub_at(tmp_path / "hub") as hub:
        port = hub.port
        daemon, task = await _paired_daemon(tmp_path, hub, core, backoff_base=0.05, backoff_cap=0.2)
        await hub.signer(1).wait_connected(5)
        (node,) = [g.node_id for g in await hub.signer(1).create_nodes(1)]
    assert daemon.connections == 1
    await asyncio.sleep(0.5)  # the runtime is down: the signer keeps redialling
    async with hub_at(tmp_path / "hub", port=port) as hub2:
        rs = hub2.signer(1)
        await rs.wait_connected(5)
        assert node in rs.node_ids  # HELLO lists the signer's nodes
        assert await rs.state_key(node, 1) == KEYS.node(0).state_key()
    assert daemon.connections == 2
    daemon.stop()
    await task


@run
async def test_local_link_freezes_with_no_runtime(tmp_path: Path) -> None:
    w = World()
    w.bootstrap()
    ring = key(KeyType.SECP256K1, 3)
    w.enroll(ring)
    core = SignerCore(KEYS, w.state)
    sock = tmp_path / "local.sock"
    daemon = SignerDaemon(LinkHandler(core), LINK_KEY, None, sock, clock=lambda: T0)
    task = asyncio.create_task(daemon.run())
    deadline = asyncio.get_running_loop().time() + 30  # generous: a loaded 2-core machine
    while not sock.exists():
        assert asyncio.get_running_loop().time() < deadline, "local link socket never appeared"
        await asyncio.sleep(0.01)
    assert sock.stat().st_mode & 0o777 == 0o600
    freeze = w.command(CommandKind.FREEZE, ring)
    r = await asyncio.to_thread(local_link.call, sock, lp.DeviceCommandReq(1, freeze))
    assert isinstance(r, lp.DecisionFrame) and r.outcome == "approve"
    assert [d.status.name for d in core.policy.devices() if d.device_id == ring.device_id] == [
        "FROZEN"
    ]
    # Nothing but commands (and ping) locally: no secret, no enrolment bypass.
    r = await asyncio.to_thread(local_link.call, sock, lp.StateKey(2, KEYS.node(0).node_id, 1))
    assert isinstance(r, lp.Error) and r.reason == "not_allowed_locally"
    replayed = await asyncio.to_thread(local_link.call, sock, lp.DeviceCommandReq(3, freeze))
    assert isinstance(replayed, lp.DecisionFrame) and replayed.reason == "replay"
    daemon.stop()
    await task


# --- the anchor over a live link (decision 0012) ----------------------------------------------


@run
async def test_the_hub_keeps_the_newest_head_and_refuses_an_older_one(tmp_path: Path) -> None:
    core = SignerCore(KEYS, World().state)
    async with hub_at(tmp_path / "hub") as hub:
        daemon, task = await _paired_daemon(tmp_path, hub, core)
        rs = hub.signer(1)
        await rs.wait_connected(5)
        ids = [g.node_id for g in await rs.create_nodes(2)]
        await rs.state_key(ids[0], 2)
        await asyncio.sleep(0.05)  # the AUDIT_HEAD after the answer
        assert hub.heads.get(1) == core.state.head()
        assert hub.heads.get(1)[0] >= 3
        # A backup followed the state-changing request.
        assert (tmp_path / "hub" / "backups" / "signer-1.bin").exists()
        daemon.stop()
        await task
        known = hub.heads.get(1)
        # A signer that skips its own check and presents an older head is refused.
        link = await dial("127.0.0.1", hub.port, LINK_KEY, hub.pubkey)
        first = await link.recv()
        assert isinstance(first, lp.AuditHead) and (first.length, first.hash) == known
        link.send(lp.AuditHead(0, known[0] - 1, bytes(32)))
        refusal = await link.recv()
        assert isinstance(refusal, lp.Error) and refusal.reason == "stale_audit_head"
        await link.close()
        assert not rs.connected
    # The head survives a hub restart (heads.json).
    async with hub_at(tmp_path / "hub") as again:
        assert again.heads.get(1) == known


@run
async def test_a_rolled_back_signer_stops_itself(tmp_path: Path) -> None:
    world = World()
    core = SignerCore(KEYS, world.state)
    async with hub_at(tmp_path / "hub") as hub:
        daemon, task = await _paired_daemon(tmp_path, hub, core)
        await hub.signer(1).wait_connected(5)
        await hub.signer(1).create_nodes(1)
        await asyncio.sleep(0.05)
        daemon.stop()
        await task
        # The same signer keys over an empty state: everything it once logged is gone.
        fresh = SignerCore(KEYS, World().state)
        rt = RuntimeAddress("127.0.0.1", hub.port, hub.pubkey)
        back = SignerDaemon(LinkHandler(fresh), LINK_KEY, rt, None, backoff_base=0.01)
        await asyncio.wait_for(back.run(), 5)  # returns: it stopped for good
        assert back.fatal is not None and "rolled back" in back.fatal
        assert not hub.signer(1).connected
