"""BOLT 9 feature bits: the assigned features, their contexts, and our own feature set.

A feature vector on the wire is a big-endian byte string whose least-significant bit is
bit 0; here it is a `frozenset[int]` of the bits that are set. Features come in pairs:
the even bit means "required", the odd bit "optional" ("it's OK to be odd").

`FEATURES` transcribes the BOLT 9 table (tests/unit/wire/test_features.py parses the
table in 09-features.md and checks it against this one). `OUR_FEATURES` is the one
place that says what Vajra offers; `init_features()` and friends derive the vectors for
each context from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from vajra.errors import ProtocolError

INIT, NODE, CHANNEL, INVOICE, BLINDED_PATH, CHANNEL_TYPE = "I", "N", "C", "9", "B", "T"
CHANNEL_OPTIONAL, CHANNEL_REQUIRED = "C-", "C+"


@dataclass(frozen=True, slots=True)
class Feature:
    """One row of the BOLT 9 table."""

    name: str
    bit: int
    """The even (required) bit; the optional bit is `bit + 1`."""
    contexts: frozenset[str]
    """The spec's Context column: I, N, C, C-, C+, 9, B, T."""
    depends: tuple[str, ...] = ()
    assumed: bool = False
    """BOLT 9 "ASSUMED": so widespread it is assumed present; its context column is empty."""


def _f(
    name: str, bit: int, ctx: str, depends: tuple[str, ...] = (), assumed: bool = False
) -> Feature:
    contexts = frozenset(ctx.replace("C-", "").replace("C+", "")) | {
        c for c in (CHANNEL_OPTIONAL, CHANNEL_REQUIRED) if c in ctx
    }
    return Feature(name, bit, contexts, depends, assumed)


FEATURES: tuple[Feature, ...] = (
    _f("option_data_loss_protect", 0, "", assumed=True),
    _f("option_upfront_shutdown_script", 4, "IN"),
    _f("gossip_queries", 6, ""),
    _f("var_onion_optin", 8, "", assumed=True),
    _f("gossip_queries_ex", 10, "IN"),
    _f("option_static_remotekey", 12, "", assumed=True),
    _f("payment_secret", 14, "", assumed=True),
    _f("basic_mpp", 16, "IN9", ("payment_secret",)),
    _f("option_support_large_channel", 18, "IN"),
    _f("option_anchors", 22, "INT"),
    _f("option_route_blinding", 24, "IN9"),
    _f("option_shutdown_anysegwit", 26, "IN"),
    _f("option_dual_fund", 28, "IN"),
    _f("option_quiesce", 34, "IN"),
    _f("option_attribution_data", 36, "IN9"),
    _f("option_onion_messages", 38, "IN"),
    _f("option_provide_storage", 42, "IN"),
    _f("option_channel_type", 44, "", assumed=True),
    _f("option_scid_alias", 46, "INT"),
    _f("option_payment_metadata", 48, "9"),
    _f("option_zeroconf", 50, "INT", ("option_scid_alias",)),
    _f("option_simple_close", 60, "IN", ("option_shutdown_anysegwit",)),
    _f("option_splice", 62, "IN"),
)
BY_NAME: Mapping[str, Feature] = {f.name: f for f in FEATURES}
BY_BIT: Mapping[int, Feature] = {f.bit: f for f in FEATURES} | {f.bit + 1: f for f in FEATURES}

# Features whose context column is empty but which peers implementing earlier revisions
# of BOLT 9 (most deployed nodes) still expect in `init` and `node_announcement`: the
# ASSUMED ones, and `gossip_queries`, whose row lost its context while BOLT 7 still
# speaks of peers "offering" it. We keep presenting them there, as those revisions did.
COMPAT_CONTEXTS: Mapping[str, frozenset[str]] = {
    "option_data_loss_protect": frozenset("IN"),
    "gossip_queries": frozenset("IN"),
    "var_onion_optin": frozenset("IN9"),
    "option_static_remotekey": frozenset("IN"),
    "payment_secret": frozenset("IN9"),
    "option_channel_type": frozenset("IN"),
}


def contexts_of(f: Feature) -> frozenset[str]:
    return f.contexts | COMPAT_CONTEXTS.get(f.name, frozenset())


class Need(Enum):
    """Whether we set the even (required) or the odd (optional) bit of a feature."""

    REQUIRED = 0
    OPTIONAL = 1


# What Vajra offers, and why each bit is even (required) or odd (optional).
#
# BOLT 9: "MUST NOT set feature bits it does not support", so a feature joins this table
# when the code implementing it lands. The required/optional choice decides who accepts
# us: a peer closes on an even bit it does not support (BOLT 1 "unknown even bit"; in
# practice every implementation also refuses a required feature it knows but lacks, e.g.
# Electrum's `ln_compare_features`: "remote wanted feature we don't have"), while an odd
# bit is never a reason to refuse (BOLT 1: "it's OK to be odd") and satisfies a peer that
# requires the feature (BOLT 9: the feature is offered if either bit is set). So an even
# bit buys nothing at `init` and costs every peer that lacks the feature. The rule:
#
#   require only what BOLT 9 says every node MUST support; offer the rest as optional,
#   and enforce what we insist on where it is used, not at `init`.
#
# - var_onion_optin: REQUIRED. BOLT 9 "MUST support: var_onion_optin"; every deployed
#   implementation has it (Electrum 4.3.4 offers bit 9, LND/CLN/Eclair/LDK require it).
# - option_static_remotekey, option_channel_type: OPTIONAL. ASSUMED in BOLT 9, so peers
#   that predate the ASSUMED marking may lack them: Electrum 4.3.4's gossip feature set
#   (LNGOSSIP_FEATURES) has no channel_type bit and closed on our former required bit 44
#   (tests/interop/test_electrum.py). We still never open a legacy channel: the
#   channel_type of `open_channel`/`accept_channel` (BOLT 2) is where that is enforced.
# - payment_secret: OPTIONAL at `init` for the same reason; our invoices require it in
#   their own (BOLT 11) feature field, which is what a payer reads.
# - option_data_loss_protect: optional; `channel_reestablish` always carries its fields.
# - basic_mpp: optional (depends on payment_secret, which we set).
# - gossip_queries: optional; the runtime answers queries (hibernation.py) and keeps one
#   shared graph. Electrum requires it (bit 6): our odd bit satisfies that.
# - option_shutdown_anysegwit: optional; we accept future segwit shutdown scripts.
# - option_scid_alias: optional. With the bit negotiated, LND gives every channel an
#   alias in `channel_ready` (and forwards by it) even without the scid_alias channel
#   type; a hosted node's channels are private, so that alias is what its invoices'
#   route hints name (BOLT 2 "MAY use ... alias ... in BOLT 11 r fields"). The channel
#   core keeps the peer's alias and offers the channel type (establish_io.py).
OUR_FEATURES: Mapping[str, Need] = {
    "option_data_loss_protect": Need.OPTIONAL,
    "gossip_queries": Need.OPTIONAL,
    "var_onion_optin": Need.REQUIRED,
    "option_static_remotekey": Need.OPTIONAL,
    "payment_secret": Need.OPTIONAL,
    "basic_mpp": Need.OPTIONAL,
    "option_shutdown_anysegwit": Need.OPTIONAL,
    "option_channel_type": Need.OPTIONAL,
    "option_scid_alias": Need.OPTIONAL,
}

# Features earlier BOLT 9 revisions assigned and later retired from the table (so not in
# FEATURES), keyed by their even bit. A peer may still set them; they are known, and we
# name them in a refusal rather than calling them "unknown".
RETIRED: Mapping[int, str] = {
    2: "initial_routing_sync",
    20: "option_anchor_outputs",
}


def feature_name(bit: int) -> str | None:
    """The BOLT 9 name of either bit of a pair (current or retired), or None if unknown."""
    f = BY_BIT.get(bit)
    if f is not None:
        return f.name
    return RETIRED.get(bit & ~1)


class FeatureError(ProtocolError):
    """A feature vector that breaks a BOLT 9 / BOLT 1 rule."""


# --- bit vectors -----------------------------------------------------------------------


def bits_from_bytes(data: bytes) -> frozenset[int]:
    """The set bits of a big-endian feature vector (bit 0 = least significant)."""
    value = int.from_bytes(data, "big")
    return frozenset(i for i in range(value.bit_length()) if value >> i & 1)


def bits_to_bytes(bits: Iterable[int]) -> bytes:
    """BOLT 1/7: "padded to bytes with 0s", using "the minimum length required"."""
    value = 0
    for b in bits:
        value |= 1 << b
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def combine_init(globalfeatures: bytes, features: bytes) -> frozenset[int]:
    """BOLT 1 `init`: "MUST combine (bitwise OR) the two feature bitmaps"."""
    return bits_from_bytes(globalfeatures) | bits_from_bytes(features)


def has(bits: frozenset[int], name: str) -> bool:
    """Offered: either bit of the pair is set."""
    bit = BY_NAME[name].bit
    return bit in bits or bit + 1 in bits


def requires(bits: frozenset[int], name: str) -> bool:
    """BOLT 9: "if both the optional and the mandatory feature bits in a pair are set, the
    feature should be treated as mandatory" - so only the even bit matters here."""
    return BY_NAME[name].bit in bits


def unknown_required(bits: Iterable[int], known: Iterable[int] | None = None) -> frozenset[int]:
    """Even bits set whose feature is not in `known` (BOLT 1: "MUST close the connection").

    `known` is the set of feature bits (either of a pair) we understand; by default, the
    features Vajra implements (`OUR_FEATURES`).
    """
    if known is None:
        known = our_bits_all_contexts()
    understood = set()
    for b in known:
        understood.add(b & ~1)
    return frozenset(b for b in bits if not b & 1 and b not in understood)


def missing_dependencies(bits: frozenset[int]) -> list[tuple[str, str]]:
    """(feature, dependency) pairs where a set feature's dependency is not set.

    BOLT 9: "MUST set all transitive feature dependencies"; BOLT 1 `init`: "if the feature
    vector does not set all known, transitive dependencies: MUST close the connection".
    """
    out: list[tuple[str, str]] = []
    for f in FEATURES:
        if has(bits, f.name):
            out += [(f.name, d) for d in _closure(f.name) if not has(bits, d)]
    return out


def _closure(name: str) -> list[str]:
    seen: list[str] = []
    todo = list(BY_NAME[name].depends)
    while todo:
        d = todo.pop()
        if d not in seen:
            seen.append(d)
            todo += BY_NAME[d].depends
    return seen


def out_of_context(bits: frozenset[int], context: str) -> frozenset[int]:
    """Known feature bits set where BOLT 9's Context column does not allow them."""
    return frozenset(
        b for b in bits if b in BY_BIT and not _allowed(BY_BIT[b], context, b & 1 == 1)
    )


def _allowed(f: Feature, context: str, odd: bool) -> bool:
    ctx = contexts_of(f)
    if context == CHANNEL:
        # BOLT 9: "C-" always odd, "C+" always even.
        return (
            CHANNEL in ctx
            or (CHANNEL_OPTIONAL in ctx and odd)
            or (CHANNEL_REQUIRED in ctx and not odd)
        )
    return context in ctx


def check_peer_features(bits: frozenset[int], known: Iterable[int] | None = None) -> None:
    """The BOLT 1 `init` receive checks; raise `FeatureError` if the connection must close.

    A required bit we do not support is reported as "unsupported" with its BOLT 9 name
    when BOLT 9 (now or in an earlier revision) assigns it, and as "unknown" otherwise.
    """
    if refused := unknown_required(bits, known):
        named = {b: n for b in sorted(refused) if (n := feature_name(b)) is not None}
        unknown = sorted(refused - named.keys())
        parts = []
        if named:
            names = ", ".join(named.values())
            parts.append(f"unsupported required feature bits {sorted(named)} ({names})")
        if unknown:
            parts.append(f"unknown required feature bits {unknown}")
        raise FeatureError("; ".join(parts), message="init")
    if missing := missing_dependencies(bits):
        raise FeatureError(f"missing feature dependencies {missing}", message="init")


# --- our feature set -------------------------------------------------------------------


def our_bits(context: str) -> frozenset[int]:
    """The bits Vajra sets in `context` (INIT, NODE, INVOICE, ...)."""
    out = set()
    for name, need in OUR_FEATURES.items():
        f = BY_NAME[name]
        if context in contexts_of(f):
            out.add(f.bit + need.value)
    return frozenset(out)


def our_bits_all_contexts() -> frozenset[int]:
    return frozenset(BY_NAME[n].bit + need.value for n, need in OUR_FEATURES.items())


def init_features() -> bytes:
    """The `features` field of our `init` (`globalfeatures` stays empty, BOLT 1)."""
    return bits_to_bytes(our_bits(INIT))


def node_features() -> bytes:
    """The `features` field of our `node_announcement`."""
    return bits_to_bytes(our_bits(NODE))


def advertised(context: str = INIT) -> dict[str, str]:
    """Our features in `context` by BOLT 9 name: "even" (required) or "odd" (optional).
    The runtime's ready line carries it for `init` (the lnprototest Runner's `has_option`)."""
    out = {}
    for b in sorted(our_bits(context)):
        out[BY_BIT[b].name] = "odd" if b & 1 else "even"
    return out
