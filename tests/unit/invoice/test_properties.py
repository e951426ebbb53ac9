"""Property tests: encode/decode round trips, and hostile input only ever raises InvoiceError."""

from __future__ import annotations

import contextlib
from dataclasses import fields, replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vajra.crypto.secp256k1 import CURVE_ORDER, PrivateKey
from vajra.invoice import (
    Fallback,
    Invoice,
    InvoiceError,
    InvoiceFields,
    RawField,
    RouteHintHop,
    bech32,
    canonical_order,
    decode,
    encode,
)
from vajra.invoice.features import KNOWN_INVOICE_BITS

from .spec import valid_examples

KNOWN_TAGS = set("prx9fdsnhcm")
UNKNOWN_TAGS = sorted(set(bech32.CHARSET) - KNOWN_TAGS)

secrets = st.integers(1, CURVE_ORDER - 1).map(lambda k: k.to_bytes(32, "big"))
keys = secrets.map(PrivateKey)
pubkeys = keys.map(lambda k: k.pubkey)
hash32 = st.binary(min_size=32, max_size=32)


def u(bits: int) -> st.SearchStrategy[int]:
    return st.integers(0, 2**bits - 1)


def _words(data: bytes) -> bytes:
    return bytes(b & 31 for b in data)


fallbacks = st.one_of(
    st.builds(Fallback, st.just(0), st.binary(min_size=20, max_size=20)),
    st.builds(Fallback, st.just(0), st.binary(min_size=32, max_size=32)),
    st.builds(Fallback, st.integers(1, 16), st.binary(min_size=2, max_size=40)),
    st.builds(Fallback, st.sampled_from([17, 18]), st.binary(min_size=20, max_size=20)),
)
hops = st.builds(RouteHintHop, pubkeys, u(64), u(32), u(32), u(16))


@st.composite
def feature_sets(draw: st.DrawFn) -> frozenset[int]:
    """Known bits either way round, unknown bits only odd; dependencies satisfied."""
    known = draw(st.sets(st.sampled_from(sorted({b & ~1 for b in KNOWN_INVOICE_BITS}))))
    bits = {b + draw(st.integers(0, 1)) for b in known}
    if 16 in known:
        bits.add(14 + draw(st.integers(0, 1)))
    odd = draw(st.sets(st.integers(0, 300).map(lambda b: 2 * b + 1), max_size=3))
    bits |= odd - KNOWN_INVOICE_BITS
    return frozenset(bits)


raw_fields = st.one_of(
    st.builds(RawField, st.sampled_from(UNKNOWN_TAGS), st.binary(max_size=40).map(_words)),
    # an `f` of unknown version is skipped as well
    st.builds(
        RawField,
        st.just("f"),
        st.tuples(st.integers(19, 31), st.binary(max_size=30)).map(
            lambda t: bytes([t[0]]) + _words(t[1])
        ),
    ),
)


@st.composite
def invoice_fields(draw: st.DrawFn, payee: bytes | None = None) -> InvoiceFields:
    hashed = draw(st.booleans())
    f = InvoiceFields(
        currency=draw(st.sampled_from(["bc", "tb", "tbs", "bcrt"])),
        timestamp=draw(u(35)),
        payment_hash=draw(hash32),
        payment_secret=draw(hash32),
        amount_msat=draw(st.none() | st.integers(1, 2**64 - 1) | st.integers(1, 10**12)),
        description=None if hashed else draw(st.text(max_size=100)),
        description_hash=draw(hash32) if hashed else None,
        metadata=draw(st.none() | st.binary(max_size=64)),
        expiry=draw(st.sampled_from([3600]) | u(64)),
        min_final_cltv_expiry_delta=draw(st.sampled_from([18]) | u(64)),
        fallbacks=tuple(draw(st.lists(fallbacks, max_size=3))),
        route_hints=tuple(
            tuple(h) for h in draw(st.lists(st.lists(hops, min_size=1, max_size=3), max_size=2))
        ),
        features=draw(feature_sets()),
        explicit_payee=payee,
        unknown_fields=tuple(draw(st.lists(raw_fields, max_size=3))),
    )
    if draw(st.booleans()):
        order = draw(st.permutations(canonical_order(f)))
        f = replace(f, field_order=tuple(order))
    return f


def _content(inv: Invoice) -> InvoiceFields:
    return InvoiceFields(**{f.name: getattr(inv, f.name) for f in fields(InvoiceFields)})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), keys, st.booleans())
def test_encode_then_decode_gives_the_fields_back(
    data: st.DataObject, key: PrivateKey, with_n: bool
) -> None:
    f = data.draw(invoice_fields(payee=key.pubkey if with_n else None))
    s = encode(f, key.sign_recoverable)
    inv = decode(s)
    assert inv.payee == key.pubkey
    got = _content(inv)
    if f.field_order is None:
        got = replace(got, field_order=None)
    assert got == f
    assert encode(inv, key.sign_recoverable) == s  # and back to the same string
    assert decode(s.upper()) == inv


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_random_text_raises_only_invoice_error(s: str) -> None:
    with contextlib.suppress(InvoiceError):
        decode(s)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=bech32.CHARSET, max_size=400),
    st.sampled_from(["lnbc", "lntb2500u", "lnbcrt1p", "ln"]),
)
def test_random_words_with_a_good_checksum_raise_only_invoice_error(data: str, hrp: str) -> None:
    s = bech32.encode(hrp, bytes(bech32.CHARSET.index(c) for c in data))
    with contextlib.suppress(InvoiceError):
        decode(s)


EXAMPLES = [e.invoice for e in valid_examples()]


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(EXAMPLES), st.data())
def test_mutated_examples_raise_only_invoice_error(s: str, data: st.DataObject) -> None:
    """Mutations of the words, re-checksummed so they reach the field and signature rules."""
    hrp, words, _ = bech32.decode(s, max_length=None)
    w = bytearray(words)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["set", "insert", "delete", "truncate"]))
        i = data.draw(st.integers(0, max(len(w) - 1, 0)))
        if op == "set" and w:
            w[i] = data.draw(st.integers(0, 31))
        elif op == "insert":
            w.insert(i, data.draw(st.integers(0, 31)))
        elif op == "delete" and w:
            del w[i]
        elif op == "truncate":
            del w[i:]
    if data.draw(st.booleans()):
        hrp = data.draw(st.sampled_from(["lnbc", "lnbc1m", "lnbc1p", "lntbs", "lnbc0", "lnbcrt7n"]))
    with contextlib.suppress(InvoiceError):
        decode(bech32.encode(hrp, bytes(w)))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(EXAMPLES), st.integers(0, 10**6), st.characters())
def test_character_edits_raise_only_invoice_error(s: str, where: int, c: str) -> None:
    i = where % len(s)
    for mutated in (s[:i] + c + s[i + 1 :], s[:i] + s[i + 1 :], s[:i]):
        with contextlib.suppress(InvoiceError):
            decode(mutated)
