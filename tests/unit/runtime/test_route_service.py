"""One graph and one scorer for every worker (decision 0027): the supervisor's route
service over real SOCK_SEQPACKET pairs, filled through the gossip sync's apply path with
signed BOLT 7 messages; what one worker's attempt teaches changes another's route."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.unit.gossip.helpers import CHAIN, NOW, Lookup, announce, node_id, update
from vajra.gossip.core import STALE_AFTER_S
from vajra.invoice.model import RouteHintHop
from vajra.routing.types import FirstHop, NoRoute, RouteParams
from vajra.runtime import route_proto as rp
from vajra.runtime.gossip_sync import GossipPeer, GossipSync
from vajra.runtime.graph_service import GraphConfigError, GraphService
from vajra.runtime.route_client import RemoteRouter
from vajra.runtime.route_service import RouteService, SharedGraph

AMOUNT = 50_000_000
MAX = 900_000_000
HINT_SCID = (700 << 40) | (1 << 16) | 1


def _diamond(shared: SharedGraph) -> GossipSync:
    """alice-bob-dave (cheap) and alice-carol-dave (dearer), applied as a peer sent them."""
    lookup = Lookup()
    sync = GossipSync(shared, [], lambda: lookup, CHAIN, clock=lambda: NOW)
    msgs = []
    for i, (a, b, fee) in enumerate(
        (("alice", "bob", 0), ("bob", "dave", 0), ("alice", "carol", 5), ("carol", "dave", 5))
    ):
        ann = announce(a, b, 100 + i, 1_000_000, lookup)
        msgs += [
            ann,
            update(ann, a, NOW, fee_base_msat=fee, htlc_maximum_msat=MAX),
            update(ann, b, NOW, fee_base_msat=fee, htlc_maximum_msat=MAX),
        ]
    sync.apply_batch(msgs, lookup)
    assert sync.outcomes == {"added": 12}
    return sync


def _route(r: RemoteRouter, payee: bytes, **kw: object) -> list[int]:
    route = r.route(
        node_id("alice"), payee, AMOUNT, NOW, final_cltv_expiry_delta=18,
        route_hints=kw.get("hints", ()), first_hops=None, params=RouteParams(),  # type: ignore[arg-type]
        excluded=(),
    )  # fmt: skip
    return [h.short_channel_id for h in route.hops]


def test_two_workers_share_one_graph_and_one_scorer(tmp_path: Path) -> None:
    shared = SharedGraph.open(tmp_path / "g.gossip", CHAIN)
    _diamond(shared)
    service = RouteService(shared, 2)
    service.start()
    w0 = RemoteRouter(os.dup(service.worker_fd(0)), timeout=5)
    w1 = RemoteRouter(os.dup(service.worker_fd(1)), timeout=5)
    try:
        cheap = _route(w0, node_id("dave"))
        assert cheap == _route(w1, node_id("dave"))  # one graph
        # worker 0's attempt fails at bob -> dave: the one scorer learns it ...
        route = w0.route(node_id("alice"), node_id("dave"), AMOUNT, NOW,
                         final_cltv_expiry_delta=18, route_hints=(), first_hops=None,
                         params=RouteParams(), excluded=())  # fmt: skip
        w0.path_failed(route.hops, 1, NOW)
        # ... and worker 1, which never paid, now routes around it
        other = _route(w1, node_id("dave"))
        assert other != cheap and len(other) == 2
        assert service.reports == 1 and service.status()["scored_directions"] == 2
        # a hint reaches a private payee behind dave (route hints travel in the query)
        hint = (RouteHintHop(node_id("dave"), HINT_SCID, 1000, 10, 40),)
        assert _route(w1, node_id("erin"), hints=(hint,))[-1] == HINT_SCID
        with pytest.raises(NoRoute) as e:
            _route(w1, node_id("erin"))
        assert e.value.reason.value == "unknown_payee"
    finally:
        service.close()
        shared.close()
    # the graph was persisted: a restart reloads it
    again = SharedGraph.open(tmp_path / "g.gossip", CHAIN)
    assert again.status()["channels"] == 4
    again.close()


def test_malformed_packets_are_counted_and_a_silent_service_is_unavailable() -> None:
    shared = SharedGraph.open(None, CHAIN)
    service = RouteService(shared, 1)
    assert service.handle(b"") is None
    assert service.handle(bytes((rp.QUERY,)) + bytes(8) + b"{not json") is None
    assert service.handle(bytes((rp.REPORT,)) + b'{"hops": 5}') is None
    assert service.handle(bytes((9,))) is None
    assert service.bad_packets == 4
    # not started: nobody answers, the node's payment sees `unavailable`
    r = RemoteRouter(os.dup(service.worker_fd(0)), timeout=0.2)
    with pytest.raises(NoRoute) as e:
        r.route(node_id("a"), node_id("b"), 1000, NOW, final_cltv_expiry_delta=18,
                route_hints=(), first_hops=(FirstHop(1, node_id("b"), 5000),),
                params=RouteParams(max_fee_msat=10), excluded=(3,))  # fmt: skip
    assert e.value.reason.value == "unavailable"
    # the stale query is still in the channel: a late service answers it, and the client
    # drops that answer for its next query's
    a_end = service.pairs[0][0]
    q = rp.Query.decode(a_end.recv(rp.MAX_PACKET))
    assert q.first_hops == (FirstHop(1, node_id("b"), 5000),) and q.excluded == (3,)
    assert q.params.max_fee_msat == 10
    a_end.send(rp.Answer(q.id, no_route="no_path").encode())
    service.start()
    try:
        with pytest.raises(NoRoute) as e:
            r.route(node_id("a"), node_id("b"), 1000, NOW, final_cltv_expiry_delta=18,
                    route_hints=(), first_hops=None, params=RouteParams(), excluded=())  # fmt: skip
        assert e.value.reason.value == "unknown_payee"  # this query's answer, not "no_path"
    finally:
        service.close()
    r.path_succeeded((), NOW)  # a report to a closed service is dropped, never raised
    socket.socket(fileno=os.dup(service.worker_fd(0))).close()


def test_stale_channels_are_pruned_and_the_store_forgets_them(tmp_path: Path) -> None:
    shared = SharedGraph.open(tmp_path / "g.gossip", CHAIN)
    sync = _diamond(shared)
    sync._clock = lambda: NOW + STALE_AFTER_S + 1
    assert len(sync.prune()) == 4 and sync.pruned == 4
    shared.close()
    again = SharedGraph.open(tmp_path / "g.gossip", CHAIN)
    assert again.status()["channels"] == 0
    again.close()


def test_gossip_configuration_errors() -> None:
    assert GossipPeer.parse("02" + "11" * 32 + "@127.0.0.1:9735").port == 9735
    for bad in ("nohex@h:1", "02" + "11" * 32 + "@h", "02" + "11" * 32 + "@h:0", "x"):
        with pytest.raises(ValueError):
            GossipPeer.parse(bad)
    with pytest.raises(GraphConfigError):
        GraphService(None, CHAIN, 1, ["02" + "11" * 32 + "@127.0.0.1:9735"], None)


def test_a_peers_private_channel_update_becomes_the_nodes_route_hint_policy() -> None:
    from tests.unit.gossip.helpers import secret
    from vajra.gossip.sign import sign_channel_update
    from vajra.wire import scid_from_parts

    shared = SharedGraph.open(None, CHAIN)
    service = RouteService(shared, 1, clock=lambda: NOW)
    node, lsp = node_id("hosted"), node_id("lsp")
    scid = scid_from_parts(321, 7, 1)  # a private channel: never announced
    direction = 0 if lsp < node else 1

    def upd(signer: str, ts: int, d: int = direction) -> bytes:
        m = sign_channel_update(CHAIN, scid, secret(signer), ts, direction=d,
                                fee_base_msat=1000, fee_proportional_millionths=1,
                                cltv_expiry_delta=80)  # fmt: skip
        return rp.PeerUpdate(node, lsp, m.encode()).encode()

    assert service.handle(upd("mallory", NOW)) is None  # not the peer's signature
    assert service.handle(upd("lsp", NOW, 1 - direction)) is None  # not its direction
    assert service.peer_updates_refused == 2
    assert shared.peer_policy(node, lsp, None, 321, 1) is None
    service.handle(upd("lsp", NOW))
    # found by the funding's height and output index (the node knows no tx index)
    assert shared.peer_policy(node, lsp, None, 321, 1) == (scid, 1000, 1, 80)
    assert shared.peer_policy(node, lsp, None, 321, 0) is None
    assert shared.peer_policy(node_id("other"), lsp, None, 321, 1) is None
    assert shared.status()["peer_updates"] == 1
    assert service.handle(bytes((rp.PEER_UPDATE,)) + bytes(66) + b"\x01\x02") is None
    assert service.bad_packets == 1
