"""A closing channel's claims as the chain moves: durable facts, a decision table.

Theory of operation
-------------------
Once the funding output is spent by a commitment (ours or the peer's, `classify`), the
node keeps one `Resolution` per channel in its sealed state: the claims of `claims_of`,
and for each only *facts* the chain and the node established, each idempotent:

    confirmed_at   height of the block holding the claim's output (0: not yet / reorged)
    spend_txid     the transaction spending the output, if one was seen (ours or not)
    spend_height   its block height (0: mempool)
    ours           `spend_txid` is a transaction the node broadcast for this claim

Its state is not stored but *derived* from the facts, the chain tip and the preimages
the node knows, by the first matching row of `STATE_TABLE`:

    | state          | when                                                        |
    |----------------|-------------------------------------------------------------|
    | DONE           | spent by our transaction, confirmed                         |
    | LOST           | spent by another transaction, confirmed (the peer's timeout |
    |                | or preimage path won the race)                              |
    | BROADCAST      | our spend is out and not confirmed                          |
    | CONTESTED      | another spend is in the mempool (we may still win)          |
    | PENDING        | the output's transaction is not confirmed                   |
    | NEEDS_PREIMAGE | an HTLC we received whose preimage we lack                  |
    | MATURING       | tip below `spendable_height`                                |
    | READY          | otherwise: sign and broadcast now                           |

Inputs (`on_*`) only record facts: `on_confirmed(txid, height)` / `on_unconfirmed(txid)`
(a block, a reorg), `on_spent(outpoint, txid, height)` / `on_unspent(outpoint)`,
`on_broadcast(txid, outpoints)` (the node handed a signed spend to the broadcaster). So
a re-delivered chain event, a restart between any two steps or a reorg leaves the same
state as the chain itself: nothing to replay, and a claim in BROADCAST is never put in a
second transaction (`ready` skips it) unless its spend left the mempool and chain
(`on_unspent` / the broadcaster gave up), when it is READY again. A confirmed spend of
our HTLC-timeout/success transaction adds its SECOND_STAGE claim (`on_spent`).

Outputs: `ready(tip, preimages)`, the claims to spend now; `next_height(tip)`, the
lowest height at which another claim matures (the node's `WakeAt`); `settled`, every
claim DONE or LOST.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from vajra.bitcoin.tx import OutPoint
from vajra.channel.commitment import htlc_success_fee_sat, htlc_timeout_fee_sat
from vajra.channel.spec import ChannelParams, Side
from vajra.errors import DecodeError
from vajra.onchain.claims import Claim, ClaimKind, claims_of, preimage_for, second_stage
from vajra.onchain.classify import Classified, CloseKind
from vajra.onchain.view import ChannelView


class ClaimState(enum.StrEnum):
    DONE = "done"
    LOST = "lost"
    BROADCAST = "broadcast"
    CONTESTED = "contested"
    PENDING = "pending"
    NEEDS_PREIMAGE = "needs_preimage"
    MATURING = "maturing"
    READY = "ready"


@dataclass(slots=True)
class Tracked:
    claim: Claim
    confirmed_at: int = 0
    spend_txid: bytes | None = None
    spend_height: int = 0
    ours: bool = False

    def to_json(self) -> dict[str, object]:
        c = self.claim
        return {
            "kind": c.kind.value,
            "txid": c.outpoint.txid.hex(),
            "vout": c.outpoint.vout,
            "value": c.value_sat,
            "ws": c.witness_script.hex(),
            "csv": c.csv,
            "cltv": c.cltv,
            "ww": c.witness_weight,
            "owner": int(c.owner),
            "number": c.number,
            "htlc": None if c.htlc is None else [int(c.htlc[0]), c.htlc[1]],
            "hash": None if c.payment_hash is None else c.payment_hash.hex(),
            "conf": self.confirmed_at,
            "spend": None if self.spend_txid is None else self.spend_txid.hex(),
            "spend_h": self.spend_height,
            "ours": self.ours,
        }

    @classmethod
    def from_json(cls, o: Mapping[str, object]) -> Tracked:
        def b(k: str) -> bytes:
            return bytes.fromhex(str(o[k]))

        def i(k: str) -> int:
            v = o[k]
            if not isinstance(v, int):
                raise DecodeError(f"claim {k} is not an integer")
            return v

        htlc = o["htlc"]
        hp = None
        if htlc is not None:
            if not isinstance(htlc, list) or len(htlc) != 2:
                raise DecodeError("claim htlc")
            hp = (Side(int(htlc[0])), int(htlc[1]))
        claim = Claim(
            ClaimKind(str(o["kind"])),
            OutPoint(b("txid"), i("vout")),
            i("value"),
            b("ws"),
            i("csv"),
            i("cltv"),
            i("ww"),
            Side(i("owner")),
            i("number"),
            hp,
            None if o["hash"] is None else b("hash"),
        )
        return cls(
            claim,
            i("conf"),
            None if o["spend"] is None else b("spend"),
            i("spend_h"),
            bool(o["ours"]),
        )


Row = tuple[ClaimState, Callable[[Tracked, int, Mapping[bytes, bytes]], bool]]

STATE_TABLE: tuple[Row, ...] = (
    (ClaimState.DONE, lambda t, tip, p: t.ours and t.spend_height > 0),
    (
        ClaimState.LOST,
        lambda t, tip, p: t.spend_txid is not None and not t.ours and t.spend_height > 0,
    ),
    (ClaimState.BROADCAST, lambda t, tip, p: t.ours),
    (ClaimState.CONTESTED, lambda t, tip, p: t.spend_txid is not None),
    (ClaimState.PENDING, lambda t, tip, p: t.confirmed_at == 0),
    (
        ClaimState.NEEDS_PREIMAGE,
        lambda t, tip, p: t.claim.needs_preimage and preimage_for(t.claim, p) is None,
    ),
    (ClaimState.MATURING, lambda t, tip, p: tip < t.claim.spendable_height(t.confirmed_at)),
    (ClaimState.READY, lambda t, tip, p: True),
)
"""The first row whose condition holds is the claim's state (see the module docstring)."""


def state_of(t: Tracked, tip: int, preimages: Mapping[bytes, bytes]) -> ClaimState:
    for state, when in STATE_TABLE:
        if when(t, tip, preimages):
            return state
    raise AssertionError("STATE_TABLE ends with an unconditional row")


@dataclass(slots=True)
class Resolution:
    """One channel's on-chain resolution (see the module docstring)."""

    close: CloseKind
    closing_txid: bytes
    claims: list[Tracked] = field(default_factory=list)
    second_stage_keys: tuple[bytes, bytes] | None = None
    """(revocation pubkey, local delayed pubkey) of our commitment on chain: the
    script of our HTLC transactions' outputs (HOLDER closes only)."""
    feerate_per_kw: int = 0
    """The feerate of our commitment on chain (its HTLC transactions' pre-paid fee)."""

    @classmethod
    def start(
        cls,
        close: CloseKind,
        txid: bytes,
        claims: Iterable[Claim],
        second_stage_keys: tuple[bytes, bytes] | None = None,
        feerate_per_kw: int = 0,
    ) -> Resolution:
        return cls(close, txid, [Tracked(c) for c in claims], second_stage_keys, feerate_per_kw)

    # -- facts -------------------------------------------------------------------------

    def on_confirmed(self, txid: bytes, height: int) -> None:
        """`txid` (the commitment, or an HTLC transaction of ours) is in the block at
        `height`: every claim on its outputs starts maturing from there."""
        for t in self.claims:
            if t.claim.outpoint.txid == txid:
                t.confirmed_at = height

    def on_unconfirmed(self, txid: bytes) -> None:
        """A reorg took `txid` out of the chain (it may be back in the mempool)."""
        self.on_confirmed(txid, 0)

    def on_spent(
        self, outpoint: OutPoint, txid: bytes, height: int, params: ChannelParams | None = None
    ) -> None:
        """`outpoint` was spent by `txid` at `height` (0: mempool). A confirmed spend of
        our HTLC-timeout/success claim by our own transaction adds the SECOND_STAGE
        claim of its output 0 (our HTLC transaction's input 0 and output 0: BOLT 3)."""
        for t in list(self.claims):
            if t.claim.outpoint != outpoint:
                continue
            if t.spend_txid != txid:
                t.ours = False
            t.spend_txid, t.spend_height = txid, height
            if (t.ours or self._broadcast_by_us(txid)) and height > 0:
                t.ours = True
                self._add_second_stage(t, txid, height, params)

    def on_unspent(self, outpoint: OutPoint) -> None:
        """The spend of `outpoint` left the chain and mempool (reorg, eviction, or the
        broadcaster gave up): the claim is open again."""
        for t in self.claims:
            if t.claim.outpoint == outpoint:
                t.spend_txid, t.spend_height, t.ours = None, 0, False

    def on_broadcast(self, txid: bytes, outpoints: Iterable[OutPoint]) -> None:
        """The node handed `txid`, spending `outpoints`, to the broadcaster."""
        ops = set(outpoints)
        for t in self.claims:
            if t.claim.outpoint in ops:
                t.spend_txid, t.spend_height, t.ours = txid, 0, True

    def _broadcast_by_us(self, txid: bytes) -> bool:
        return any(t.ours and t.spend_txid == txid for t in self.claims)

    def _add_second_stage(
        self, t: Tracked, txid: bytes, height: int, params: ChannelParams | None
    ) -> None:
        if t.claim.kind not in (ClaimKind.HTLC_TIMEOUT_TX, ClaimKind.HTLC_SUCCESS_TX):
            return
        out = OutPoint(txid, 0)
        if params is None or self.second_stage_keys is None:
            return
        if any(x.claim.outpoint == out for x in self.claims):
            return
        # The HTLC transaction pays the HTLC amount minus its (pre-paid, non-anchors)
        # fee; under anchors it carries the whole amount (the fee came from other inputs).
        value = t.claim.value_sat
        if not params.anchors:
            fee = (
                htlc_timeout_fee_sat
                if t.claim.kind is ClaimKind.HTLC_TIMEOUT_TX
                else (htlc_success_fee_sat)
            )
            value -= fee(self.feerate_per_kw, anchors=False)
        rev, delayed = self.second_stage_keys
        claim = second_stage(t.claim, params, out, value, rev, delayed)
        self.claims.append(Tracked(claim, confirmed_at=height))

    # -- outputs -----------------------------------------------------------------------

    def states(self, tip: int, preimages: Mapping[bytes, bytes]) -> list[ClaimState]:
        return [state_of(t, tip, preimages) for t in self.claims]

    def ready(self, tip: int, preimages: Mapping[bytes, bytes]) -> list[Claim]:
        """The claims to spend now (READY), in claim order."""
        return [t.claim for t in self.claims if state_of(t, tip, preimages) is ClaimState.READY]

    def next_height(self, tip: int, preimages: Mapping[bytes, bytes]) -> int | None:
        """The lowest height above `tip` at which a MATURING claim becomes READY."""
        heights = [
            t.claim.spendable_height(t.confirmed_at)
            for t in self.claims
            if state_of(t, tip, preimages) is ClaimState.MATURING
        ]
        return min(heights, default=None)

    def settled(self, tip: int, preimages: Mapping[bytes, bytes]) -> bool:
        """Nothing left to do: every claim DONE or LOST, or a received HTLC without its
        preimage once the peer can time it out (it is theirs then)."""
        return all(s in (ClaimState.DONE, ClaimState.LOST) for s in self.states(tip, preimages))

    def claims_open(self) -> bool:
        """Some claim is not yet settled by a confirmed spend (ours or the peer's)."""
        return any(t.spend_height == 0 for t in self.claims)

    def summary(self) -> dict[str, object]:
        """Non-secret facts for the operator's listing (txids as explorers print them)."""
        return {
            "close": self.close.value,
            "txid": self.closing_txid[::-1].hex(),
            "claims": [
                {
                    "kind": t.claim.kind.value,
                    "outpoint": str(t.claim.outpoint),
                    "value_sat": t.claim.value_sat,
                    "confirmed_at": t.confirmed_at,
                    "spendable_height": t.claim.spendable_height(t.confirmed_at)
                    if t.confirmed_at
                    else None,
                    "spend_txid": None if t.spend_txid is None else t.spend_txid[::-1].hex(),
                    "spend_height": t.spend_height,
                    "ours": t.ours,
                }
                for t in self.claims
            ],
        }

    # -- persistence -------------------------------------------------------------------

    def to_json(self) -> dict[str, object]:
        return {
            "close": self.close.value,
            "txid": self.closing_txid.hex(),
            "claims": [t.to_json() for t in self.claims],
            "ss": None
            if self.second_stage_keys is None
            else [k.hex() for k in self.second_stage_keys],
            "feerate": self.feerate_per_kw,
        }

    @classmethod
    def from_json(cls, o: object) -> Resolution:
        try:
            assert isinstance(o, dict)
            ss = o.get("ss")
            keys = None if ss is None else (bytes.fromhex(ss[0]), bytes.fromhex(ss[1]))
            return cls(
                CloseKind(o["close"]),
                bytes.fromhex(o["txid"]),
                [Tracked.from_json(c) for c in o["claims"]],
                keys,
                int(o.get("feerate", 0)),
            )
        except (AssertionError, KeyError, ValueError, TypeError, IndexError) as e:
            raise DecodeError(f"bad resolution: {e}") from None


def begin(view: ChannelView, c: Classified) -> Resolution:
    """The resolution of a classified close: its claims, and for our own commitment the
    keys and feerate its HTLC transactions' outputs need."""
    keys, feerate = None, 0
    if c.kind is CloseKind.HOLDER and c.ref is not None:
        k = c.ref.keys(view.params)
        keys, feerate = (k.revocation_pubkey, k.local_delayed_pubkey), c.ref.spec.feerate_per_kw
    return Resolution.start(c.kind, c.txid, claims_of(c, view.params), keys, feerate)
