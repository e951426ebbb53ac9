"""The signer clock cannot lock the owner out (issue 13 item 5): a request stamped ten
years ahead moves it only as far as real time passed (plus CLOCK_SKEW); a jump taken
while stopped is undone by an owner-signed RESET_CLOCK, which restamps later spends (no
limit refilled), is refused from a spender or when replayed, and keeps the log valid."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tests.unit.signer.helpers import AUDIT_KEY, NODE, RING_RULES, T0, World, key
from vajra.signer import audit
from vajra.signer.devices import DeviceKey, KeyType
from vajra.signer.keys import SignerKeys
from vajra.signer.messages import CommandKind, DeviceCommand
from vajra.signer.policy import CLOCK_SKEW, Policy, Reason
from vajra.signer.state import SqliteState

TEN_YEARS = 10 * 365 * 86400
RING = key(KeyType.P256, 1)


class Mono:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _reset(w: World, clock: int, *, by: DeviceKey | None = None) -> bytes:
    issuer = by or w.owner
    cmd = DeviceCommand(CommandKind.RESET_CLOCK, issuer.device_id, w.next_counter(issuer),
                        clock + 300, issuer.device_id, clock=clock)  # fmt: skip
    return cmd.signed(issuer).encode()


def test_a_glitch_while_running_moves_the_clock_only_as_far_as_real_time() -> None:
    mono = Mono()
    w = World()
    w.policy = Policy(w.state, AUDIT_KEY, mono)
    w.bootstrap(now=T0)
    mono.t += 5
    # One request stamped ten years ahead (the box's clock glitched)...
    w.enroll(RING, now=T0)  # signed at the device's (right) time
    glitch = w.policy.authorise_request("ecdh", node_id=NODE, epoch=1, subject=b"",
                                        now=T0 + TEN_YEARS)  # fmt: skip
    assert glitch.entry is not None and glitch.entry.time <= T0 + 5 + CLOCK_SKEW
    # ...and the owner's next command, signed at the right time, is not "expired".
    mono.t += 5
    d = w.policy.command(w.command(CommandKind.FREEZE, RING, now=T0 + 10), T0 + 10)
    assert d.approved, d
    # Without the bound (no monotonic clock) the same glitch locks the owner out.
    w2 = World()
    w2.bootstrap(now=T0)
    w2.policy.authorise_request("ecdh", node_id=NODE, epoch=1, subject=b"", now=T0 + TEN_YEARS)
    d2 = w2.policy.command(w2.command(CommandKind.FREEZE, w2.owner, now=T0 + 10), T0 + 10)
    assert d2.reason == Reason.EXPIRED


def test_owner_signed_reset_recovers_a_jump_taken_while_stopped(tmp_path: Path) -> None:
    state = SqliteState(tmp_path / "s.db", key=SignerKeys(bytes(range(64))).state_key())
    w = World(state=state)
    w.bootstrap(now=T0)
    w.enroll(RING, rules=dataclasses.replace(RING_RULES, auto_approve_below_msat=10**9), now=T0)
    # The signer restarts with the box's clock ten years ahead: a fresh process believes it.
    ahead = T0 + TEN_YEARS
    paid = w.auth(RING, 150_000_000, now=ahead)
    assert w.policy.decide(paid.encode(), node_id=NODE, now=ahead).approved
    assert w.policy.command(w.command(CommandKind.FREEZE, RING, now=T0 + 10), T0 + 10).reason == (
        Reason.EXPIRED
    )
    # A spender cannot reset the clock; the owner can.
    assert not w.policy.command(_reset(w, T0 + 20, by=RING), T0 + 20).approved
    reset = _reset(w, T0 + 20)
    d = w.policy.command(reset, T0 + 20)
    assert d.approved and d.entry is not None and d.entry.time == T0 + 20
    assert not w.policy.command(reset, T0 + 20).approved  # replay: its counter is used
    # The spend made "in the future" still counts in this hour's window: nothing refilled.
    assert w.policy.usage(RING.device_id, T0 + 30).hourly_msat == 150_000_000
    more = w.auth(RING, 60_000_000, now=T0 + 30)
    assert w.policy.decide(more.encode(), node_id=NODE, now=T0 + 30).reason == (
        Reason.OVER_HOURLY_LIMIT
    )
    assert w.policy.command(w.command(CommandKind.FREEZE, RING, now=T0 + 40), T0 + 40).approved
    audit.verify(state.audit_entries(), AUDIT_KEY.pubkey)  # the step back is allowed there
    state.close()
    # The reset state reopens: MAC and cross-check agree.
    SqliteState(tmp_path / "s.db", key=SignerKeys(bytes(range(64))).state_key(), create=False)
