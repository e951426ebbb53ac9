"""The worker <-> supervisor route channel's packets (pure; decision 0027).

One `SOCK_SEQPACKET` socket pair per worker, made by the supervisor, which keeps both
ends (as with the control channel): a restarted worker finds its channel again. The
supervisor's route service (`route_service`) holds the runtime's ONE graph and scorer;
workers ask it for routes and tell it every attempt's outcome. One packet is one
message; the first byte says which, then a big-endian u64 id where there is one, then a
JSON body (routes are rare next to the search they cost; JSON keeps the shapes readable):

    worker -> supervisor
      QUERY    1 | id u64 | {payer, payee, amount_msat, now, final_cltv_expiry_delta,
                             route_hints: [[[pubkey, scid, fee_base_msat,
                             fee_proportional_millionths, cltv_expiry_delta], ...], ...],
                             first_hops: [[scid, node_id, outbound_msat,
                             htlc_minimum_msat], ...] | null, params: [max_total_cltv_expiry_delta,
                             max_fee_msat | null, max_hops], excluded: [scid, ...]}
      REPORT   3 | {hops: [hop, ...], failed_index: int | null, now}   (no answer)
      PEER_UPDATE 4 | node_id 33 | peer 33 | channel_update (a BOLT 7 message, type
               first) that `peer` sent the hosted node `node_id`   (no answer)
    supervisor -> worker
      ROUTE    2 | id u64 | {hops: [hop, ...]} or {no_route: reason, detail}

A hop is `[node_id, scid, direction, amount_msat, cltv_expiry_delta, fee_msat,
capacity_msat | null]` (`routing.types.RouteHop`); node ids are hex. A worker's ids start
at a random value per process, so an answer meant for a query that timed out, or for a
dead predecessor, is dropped. A malformed packet is `RouteDecodeError` (a `DecodeError`).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vajra.errors import DecodeError
from vajra.invoice.model import RouteHintHop
from vajra.routing.types import FirstHop, NoRouteReason, RouteHop, RouteParams

QUERY, ROUTE, REPORT, PEER_UPDATE = 1, 2, 3, 4
MAX_PACKET = 1 << 16
"""A query carries an invoice's hints (BOLT 11 bounds them by the invoice's length) and a
route at most 20 hops: far below this."""

_ID = struct.Struct(">BQ")


class RouteDecodeError(DecodeError):
    """A malformed route-channel packet."""


@dataclass(frozen=True, slots=True)
class Query:
    id: int
    payer: bytes
    payee: bytes
    amount_msat: int
    now: float
    final_cltv_expiry_delta: int
    route_hints: tuple[tuple[RouteHintHop, ...], ...]
    first_hops: tuple[FirstHop, ...] | None
    """None: the payer's channels in the graph (`find_route`'s default)."""
    params: RouteParams
    excluded: tuple[int, ...]

    def encode(self) -> bytes:
        p = self.params
        body = {
            "payer": self.payer.hex(), "payee": self.payee.hex(),
            "amount_msat": self.amount_msat, "now": self.now,
            "final_cltv_expiry_delta": self.final_cltv_expiry_delta,
            "route_hints": [
                [[h.pubkey.hex(), h.short_channel_id, h.fee_base_msat,
                  h.fee_proportional_millionths, h.cltv_expiry_delta] for h in hint]
                for hint in self.route_hints
            ],
            "first_hops": None if self.first_hops is None else [
                [f.short_channel_id, f.node_id.hex(), f.outbound_msat, f.htlc_minimum_msat]
                for f in self.first_hops
            ],
            "params": [p.max_total_cltv_expiry_delta, p.max_fee_msat, p.max_hops],
            "excluded": list(self.excluded),
        }  # fmt: skip
        return _ID.pack(QUERY, self.id) + _dump(body)

    @classmethod
    def decode(cls, data: bytes) -> Query:
        rid, o = _split(data, QUERY)
        try:
            hints = tuple(
                tuple(RouteHintHop(_node(h[0]), _u64(h[1]), _u32(h[2]), _u32(h[3]), _u16(h[4]))
                      for h in hint)
                for hint in o["route_hints"]
            )  # fmt: skip
            fh = o["first_hops"]
            firsts = (
                None
                if fh is None
                else tuple(FirstHop(_u64(f[0]), _node(f[1]), _u64(f[2]), _u64(f[3])) for f in fh)
            )
            cltv, max_fee, max_hops = o["params"]
            params = RouteParams(
                _u32(cltv), None if max_fee is None else _u64(max_fee), _u32(max_hops)
            )
            return cls(
                rid, _node(o["payer"]), _node(o["payee"]), _u64(o["amount_msat"]),
                _num(o["now"]), _u32(o["final_cltv_expiry_delta"]), hints, firsts, params,
                tuple(_u64(x) for x in o["excluded"]),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise RouteDecodeError(f"bad query: {e!r}") from None


@dataclass(frozen=True, slots=True)
class Answer:
    """A route (`hops`) or why there is none (`no_route`: a `NoRouteReason` value)."""

    id: int
    hops: tuple[RouteHop, ...] = ()
    no_route: str = ""
    detail: str = ""

    def encode(self) -> bytes:
        body: dict[str, Any] = (
            {"no_route": self.no_route, "detail": self.detail}
            if self.no_route
            else {"hops": hops_json(self.hops)}
        )
        return _ID.pack(ROUTE, self.id) + _dump(body)

    @classmethod
    def decode(cls, data: bytes) -> Answer:
        rid, o = _split(data, ROUTE)
        try:
            if "no_route" in o:
                reason = NoRouteReason(str(o["no_route"])).value
                return cls(rid, no_route=reason, detail=str(o.get("detail", "")))
            hops = hops_from_json(o["hops"])
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise RouteDecodeError(f"bad answer: {e!r}") from None
        if not hops:
            raise RouteDecodeError("a route without hops")
        return cls(rid, hops)


@dataclass(frozen=True, slots=True)
class Report:
    """An attempt's outcome: succeeded (`failed_index` None) or failed at that hop."""

    hops: tuple[RouteHop, ...]
    failed_index: int | None
    now: float

    def encode(self) -> bytes:
        body = {"hops": hops_json(self.hops), "failed_index": self.failed_index, "now": self.now}
        return bytes((REPORT,)) + _dump(body)

    @classmethod
    def decode(cls, data: bytes) -> Report:
        if not data or data[0] != REPORT or len(data) > MAX_PACKET:
            raise RouteDecodeError("not a report")
        o = _load(data[1:])
        try:
            hops = hops_from_json(o["hops"])
            fi = o["failed_index"]
            failed = None if fi is None else _u32(fi)
            return cls(hops, failed, _num(o["now"]))
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise RouteDecodeError(f"bad report: {e!r}") from None


@dataclass(frozen=True, slots=True)
class PeerUpdate:
    """Gossip a hosted node's session received, handed to the graph's owner: the peer's
    `channel_update` (for a private channel, the only copy the runtime gets)."""

    node_id: bytes
    peer: bytes
    update: bytes

    def encode(self) -> bytes:
        return bytes((PEER_UPDATE,)) + self.node_id + self.peer + self.update

    @classmethod
    def decode(cls, data: bytes) -> PeerUpdate:
        if len(data) < 67 or len(data) > MAX_PACKET or data[0] != PEER_UPDATE:
            raise RouteDecodeError("not a peer update")
        return cls(data[1:34], data[34:67], data[67:])


def kind(data: bytes) -> int:
    return data[0] if data else 0


def hops_json(hops: Sequence[RouteHop]) -> list[list[object]]:
    return [
        [h.node_id.hex(), h.short_channel_id, h.direction, h.amount_msat, h.cltv_expiry_delta,
         h.fee_msat, h.capacity_msat]
        for h in hops
    ]  # fmt: skip


def hops_from_json(rows: Any) -> tuple[RouteHop, ...]:
    """Raises KeyError/TypeError/ValueError/IndexError on a malformed list."""
    if not isinstance(rows, list) or len(rows) > 64:
        raise ValueError("hops: a list of at most 64")
    return tuple(
        RouteHop(_node(r[0]), _u64(r[1]), _bit(r[2]), _u64(r[3]), _u32(r[4]), _u64(r[5]),
                 None if r[6] is None else _u64(r[6]))
        for r in rows
    )  # fmt: skip


# --- helpers --------------------------------------------------------------------------------


def _dump(o: object) -> bytes:
    data = json.dumps(o, separators=(",", ":")).encode()
    if len(data) + _ID.size > MAX_PACKET:
        raise ValueError("route packet too large")
    return data


def _load(data: bytes) -> dict[str, Any]:
    try:
        o = json.loads(data)
    except (UnicodeDecodeError, ValueError) as e:
        raise RouteDecodeError(f"not JSON: {e}") from None
    if not isinstance(o, dict):
        raise RouteDecodeError("not a JSON object")
    return o


def _split(data: bytes, want: int) -> tuple[int, dict[str, Any]]:
    if len(data) < _ID.size or len(data) > MAX_PACKET or data[0] != want:
        raise RouteDecodeError(f"not a packet of kind {want}")
    _, rid = _ID.unpack_from(data)
    return rid, _load(data[_ID.size :])


def _int(v: object, bits: int) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << bits:
        raise ValueError(f"not a u{bits}: {v!r}")
    return v


def _u64(v: object) -> int:
    return _int(v, 64)


def _u32(v: object) -> int:
    return _int(v, 32)


def _u16(v: object) -> int:
    return _int(v, 16)


def _bit(v: object) -> int:
    return _int(v, 1)


def _num(v: object) -> float:
    if not isinstance(v, int | float) or isinstance(v, bool):
        raise ValueError(f"not a number: {v!r}")
    return float(v)


def _node(v: object) -> bytes:
    if not isinstance(v, str):
        raise ValueError("node id: not a string")
    b = bytes.fromhex(v)
    if len(b) not in (0, 33):  # 0: a first hop whose peer the payer leaves open
        raise ValueError("node id: not 33 bytes")
    return b
