"""BOLT 3 Appendix D (per-commitment secrets) and E (key derivation), read from the spec."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.channel.bolt3_vectors import (
    generation_vectors,
    key_derivation_vectors,
    storage_vectors,
)
from vajra.channel.keys import (
    ChannelSecrets,
    derive_privkey,
    derive_pubkey,
    derive_revocation_privkey,
    derive_revocation_pubkey,
)
from vajra.channel.shachain import (
    MAX_INDEX,
    ShachainError,
    ShachainReceiver,
    derive_secret,
    generate_from_seed,
)
from vajra.crypto.secp256k1 import pubkey_from_secret

GEN = generation_vectors()
STORE = storage_vectors()
KEYS = key_derivation_vectors()


def test_vectors_were_found() -> None:
    assert len(GEN) == 5
    assert len(STORE) == 9
    assert sum(1 for _, steps in STORE for *_, ok in steps if not ok) == 8
    assert {"base_secret", "localpubkey", "revocationprivkey"} <= KEYS.keys()


@pytest.mark.parametrize(("name", "seed", "index", "output"), GEN, ids=[g[0] for g in GEN])
def test_generate_from_seed(name: str, seed: bytes, index: int, output: bytes) -> None:
    assert generate_from_seed(seed, index) == output


@pytest.mark.parametrize(("name", "steps"), STORE, ids=[s[0] for s in STORE])
def test_insert_secret(name: str, steps: list[tuple[int, bytes, bool]]) -> None:
    r = ShachainReceiver()
    for index, secret, ok in steps:
        if ok:
            r.insert_secret(secret, index)
            assert r.derive_old_secret(index) == secret
        else:
            with pytest.raises(ShachainError):
                r.insert_secret(secret, index)
    # Every vector that ends in ERROR fails exactly at its last step.
    assert [ok for *_, ok in steps].count(False) == (0 if "correct sequence" in name else 1)


def test_derive_old_secret_after_storage_roundtrip() -> None:
    seed = b"\xff" * 32
    r = ShachainReceiver()
    for n in range(70):
        r.insert_secret(generate_from_seed(seed, MAX_INDEX - n), MAX_INDEX - n)
    r2 = ShachainReceiver.from_bytes(r.to_bytes())
    assert len(r.to_bytes()) <= 8 + 49 * 41
    for n in range(70):
        assert r2.derive_old_secret(MAX_INDEX - n) == generate_from_seed(seed, MAX_INDEX - n)
    with pytest.raises(ShachainError):
        r2.derive_old_secret(MAX_INDEX - 70)
    with pytest.raises(ShachainError):  # out of order
        r2.insert_secret(generate_from_seed(seed, MAX_INDEX - 71), MAX_INDEX - 71)


# no deadline: up to 300 x 48 hashes per example, and the machine is shared
@settings(deadline=None)
@given(st.binary(min_size=32, max_size=32), st.integers(1, 300))
def test_receiver_accepts_any_honest_sequence(seed: bytes, count: int) -> None:
    r = ShachainReceiver()
    for n in range(count):
        r.insert_secret(generate_from_seed(seed, MAX_INDEX - n), MAX_INDEX - n)
    assert r.derive_old_secret(MAX_INDEX) == generate_from_seed(seed, MAX_INDEX)


def test_appendix_e_points() -> None:
    assert pubkey_from_secret(KEYS["base_secret"]) == KEYS["base_point"]
    assert pubkey_from_secret(KEYS["per_commitment_secret"]) == KEYS["per_commitment_point"]


def test_appendix_e_derive_pubkey_and_privkey() -> None:
    pub = derive_pubkey(KEYS["base_point"], KEYS["per_commitment_point"])
    assert pub == KEYS["localpubkey"]
    priv = derive_privkey(KEYS["base_secret"], KEYS["per_commitment_point"])
    assert priv == KEYS["localprivkey"]
    assert pubkey_from_secret(priv) == pub


def test_appendix_e_revocation_keys() -> None:
    pub = derive_revocation_pubkey(KEYS["base_point"], KEYS["per_commitment_point"])
    assert pub == KEYS["revocationpubkey"]
    priv = derive_revocation_privkey(KEYS["base_secret"], KEYS["per_commitment_secret"])
    assert priv == KEYS["revocationprivkey"]
    assert pubkey_from_secret(priv) == pub


def test_channel_secrets_basepoints_match_secrets() -> None:
    s = ChannelSecrets(*(bytes([i]) * 32 for i in range(1, 7)))
    bp = s.basepoints()
    assert bp.htlc_basepoint == pubkey_from_secret(bytes([5]) * 32)
    assert bp.first_per_commitment_point == pubkey_from_secret(
        generate_from_seed(bytes([6]) * 32, MAX_INDEX)
    )
    assert "01" * 32 not in repr(s)


@pytest.mark.parametrize(
    "index",
    [MAX_INDEX, MAX_INDEX - 1, MAX_INDEX - 65_535, MAX_INDEX - 65_536, 0x1234_5678_9ABC, 65_536, 0],
)
def test_generate_from_seed_across_its_prefix_table(index: int) -> None:
    # The kept subtree node (bits 47..16) must give what the plain 48-step walk gives,
    # on both sides of a 2^16 boundary, twice (the second time from the table).
    seed = bytes(range(32))
    for _ in range(2):
        assert generate_from_seed(seed, index) == derive_secret(seed, 48, index)
