"""The signer's decisions: payment and on-chain authorisations, registry commands, and
the validate-before-sign seam for runtime requests.

Theory of operation. `Policy` owns no data: everything lives in a `SignerState`, and
each public method is one state transaction that (1) advances the signer clock to
max(now, highest time seen), (2) decides, (3) writes what the decision consumes
(counter, spend, epoch) and (4) appends the signed audit entry. All of it commits
together, so limits are consumed atomically and there is no decision without its entry.
Times are unix seconds, passed in. Time only ever moves forward inside the signer: a clock set back cannot refill a rolling
window, re-open an expired authorisation or reorder the log. Forward, it moves at most
as far as real time has passed (the process's monotonic clock) plus CLOCK_SKEW since
the previous decision of this process: one request stamped years ahead (an NTP glitch)
cannot lock every later command out as "expired" (issue 13). A jump that happened while
the signer was stopped cannot be told from downtime and is taken; the owner then resets
the clock with an owner-signed RESET_CLOCK command (its expiry is not checked: the
clock is what is wrong; its counter is), which is logged and restamps spends dated
after the new time to it, so no limit is refilled.

Payment authorisation checks, in order (first failure decides):

    decode -> MALFORMED (empty: NO_AUTHORISATION)
    [on-chain only: lease epoch older than the newest -> STALE_EPOCH]
    signature -> BAD_SIGNATURE / UNKNOWN_DEVICE
    status -> DEVICE_FROZEN / _REMOVED  counter <= last -> REPLAY
    ---- from here on a final answer (approve or deny) uses up the counter ----
    node id -> WRONG_NODE               expiry -> EXPIRED / EXPIRY_TOO_FAR
    [on-chain only: the transaction does not match the consent -> onchain-* reasons
     (vajra.signer.onchain); these do NOT use up the counter: the runtime built it]
    per-payment max -> OVER_PER_PAYMENT_MAX
    rolling hour / day -> OVER_HOURLY_LIMIT / OVER_DAILY_LIMIT
    tier: below auto-approve -> approve; up to confirm-above -> approve if the device
    attests user presence, else NEEDS_CONFIRMATION; above -> approve only with an owner
    confirmation (another active owner device), else NEEDS_CONFIRMATION.

NEEDS_CONFIRMATION consumes nothing, so the same authorisation can come back with the
confirmation. Replay protection is a strictly increasing counter per device (shared by
its authorisations and commands): O(1) state per device, survives restarts, no seen-set
to expire; a device signs one request at a time, so out-of-order arrival is the rare
case and is answered REPLAY (the device signs again with a fresh counter).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from vajra.crypto.hashes import sha256
from vajra.crypto.secp256k1 import PrivateKey
from vajra.errors import DecodeError, PolicyViolation
from vajra.signer import audit
from vajra.signer.devices import Device, DeviceStatus, Role
from vajra.signer.devices import device_id as make_device_id
from vajra.signer.messages import (
    CommandKind,
    DeviceCommand,
    Enrolment,
    decode_authorisation,
    decode_command,
    decode_confirmation,
)
from vajra.signer.state import SignerState, Spend, StateTxn, check_epoch

CLOCK_SKEW = 120  # s: an NTP step or slew within this is believed at once
HOUR = 3600
DAY = 86400
# An authorisation may not be valid for longer than this: a leaked pre-signed one is
# then worthless within a day. A tap at a terminal needs seconds to minutes.
MAX_AUTH_LIFETIME = DAY


class Outcome(StrEnum):
    APPROVE = "approve"
    NEEDS_CONFIRMATION = "needs_confirmation"
    DENY = "deny"


class Reason(StrEnum):
    """Stable reason codes (they go into the audit log and over the link)."""

    AUTO_APPROVED = "auto_approved"
    USER_PRESENT = "user_present"
    OWNER_CONFIRMED = "owner_confirmed"
    APPLIED = "applied"
    BOOTSTRAPPED = "bootstrapped"
    OK = "ok"
    USER_PRESENCE_REQUIRED = "user_presence_required"
    OWNER_CONFIRMATION_REQUIRED = "owner_confirmation_required"
    MALFORMED = "malformed"
    UNKNOWN_DEVICE = "unknown_device"
    BAD_SIGNATURE = "bad_signature"
    DEVICE_FROZEN = "device_frozen"
    DEVICE_REMOVED = "device_removed"
    REPLAY = "replay"
    WRONG_NODE = "wrong_node"
    EXPIRED = "expired"
    EXPIRY_TOO_FAR = "expiry_too_far"
    NO_AUTHORISATION = "no_authorisation"
    OVER_PER_PAYMENT_MAX = "over_per_payment_max"
    OVER_HOURLY_LIMIT = "over_hourly_limit"
    OVER_DAILY_LIMIT = "over_daily_limit"
    BAD_CONFIRMATION = "bad_confirmation"
    NOT_OWNER = "not_owner"
    LAST_OWNER = "last_owner"
    ALREADY_ENROLLED = "already_enrolled"
    OWNER_EXISTS = "owner_exists"
    INVALID_TRANSITION = "invalid_transition"
    STALE_EPOCH = "stale_epoch"


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one request, as logged."""

    outcome: Outcome
    reason: str
    """A `Reason` value, or the code of a `PolicyViolation` raised by a request check."""
    kind: str
    """What was decided: "payment", "onchain", "command", "bootstrap" or a runtime
    request kind."""
    subject_id: bytes
    """Names what was decided: the authorisation id, SHA-256 of a command's signed message,
    of a request's subject, or of undecodable input."""
    device_id: bytes | None
    """The paying device (payments), the target device (commands), else None."""
    audit_seq: int
    entry: audit.AuditEntry | None = None
    """The decision's signed audit entry (what a device verifies)."""

    @property
    def approved(self) -> bool:
        return self.outcome == Outcome.APPROVE


class _Refuse(Exception):
    """Internal: a check failed. `consume` says whether the counter is used up."""

    def __init__(self, reason: str, outcome: Outcome = Outcome.DENY, consume: bool = False):
        self.reason = reason
        self.outcome = outcome
        self.consume = consume


class Consent(Protocol):
    """What every device consent has (`PaymentAuthorisation`, `OnchainAuthorisation`)."""

    @property
    def node_id(self) -> bytes: ...
    @property
    def device_id(self) -> bytes: ...
    @property
    def signature(self) -> bytes: ...
    @property
    def counter(self) -> int: ...
    @property
    def expiry(self) -> int: ...
    @property
    def user_present(self) -> bool: ...
    @property
    def total_msat(self) -> int: ...
    @property
    def auth_id(self) -> bytes: ...
    def signed_message(self) -> bytes: ...
    def encode(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Usage:
    """A device's consumption in the rolling windows at a given signer time."""

    hourly_msat: int
    daily_msat: int


def _usage(txn: StateTxn, device_id: bytes, now: int) -> Usage:
    """Sum of spends in (now - 1 h, now] and (now - 1 day, now]. No spend is ever later
    than `now`: spends are stamped with the signer clock, which only moves forward."""
    return Usage(txn.spent_since(device_id, now - HOUR), txn.spent_since(device_id, now - DAY))


class Policy:
    """Device rules and fencing over a `SignerState`; every answer is audited."""

    def __init__(
        self,
        state: SignerState,
        audit_key: PrivateKey,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        """`monotonic` (the daemon passes `time.monotonic`): bound the clock's forward
        steps by it; None (tests, tools) believes every `now`."""
        self.state = state
        self._audit_key = audit_key
        self._monotonic = monotonic
        self._last: tuple[float, int] | None = None
        """(monotonic time, signer time) of this process's last tick: the forward bound."""

    @property
    def audit_pubkey(self) -> bytes:
        return self._audit_key.pubkey

    # --- plumbing ---------------------------------------------------------------------------

    def _tick(self, txn: StateTxn, now: int) -> int:
        # The signer clock never goes back: max(now, highest time seen), persisted; and
        # forward at most real elapsed time + CLOCK_SKEW since this process last ticked.
        clock = txn.clock()
        if self._monotonic is None:
            t = max(now, clock)
            txn.set_clock(t)
            return t
        mono = self._monotonic()
        if self._last is not None:
            last_mono, last_t = self._last
            now = min(now, max(clock, last_t) + int(max(0.0, mono - last_mono)) + CLOCK_SKEW)
        t = max(now, clock)
        txn.set_clock(t)
        self._last = (mono, t)
        return t

    def _log(
        self,
        txn: StateTxn,
        t: int,
        kind: str,
        subject: bytes,
        outcome: Outcome,
        reason: str,
        *,
        subject_id: bytes,
        device_id: bytes | None,
    ) -> Decision:
        entry = audit.append(
            self._audit_key,
            txn.audit_head(),
            time=t,
            kind=kind,
            subject=subject,
            outcome=outcome.value,
            reason=str(reason),
        )
        txn.append_audit(entry)
        return Decision(outcome, str(reason), kind, subject_id, device_id, entry.seq, entry)

    def _malformed(
        self, txn: StateTxn, t: int, kind: str, data: bytes, why: Reason = Reason.MALFORMED
    ) -> Decision:
        # Undecodable input is logged by its hash: any length, nothing attacker-chosen.
        digest = sha256(data)
        return self._log(txn, t, kind, digest, Outcome.DENY, why, subject_id=digest, device_id=None)

    @staticmethod
    def _authenticate(txn: StateTxn, device_id: bytes, sig: bytes, message: bytes) -> Device:
        device = txn.device(device_id)
        if device is None:
            raise _Refuse(Reason.UNKNOWN_DEVICE)
        if not device.verify(sig, message):
            raise _Refuse(Reason.BAD_SIGNATURE)
        if device.status == DeviceStatus.FROZEN:
            raise _Refuse(Reason.DEVICE_FROZEN)
        if device.status == DeviceStatus.REMOVED:
            raise _Refuse(Reason.DEVICE_REMOVED)
        return device

    @staticmethod
    def _check_counter(device: Device, counter: int) -> None:
        if counter <= device.last_counter:
            raise _Refuse(Reason.REPLAY)

    @staticmethod
    def _check_expiry(expiry: int, t: int) -> None:
        if t >= expiry:
            raise _Refuse(Reason.EXPIRED, consume=True)
        if expiry - t > MAX_AUTH_LIFETIME:
            raise _Refuse(Reason.EXPIRY_TOO_FAR, consume=True)

    # --- payment authorisations -------------------------------------------------------------

    def decide(
        self, data: bytes, *, node_id: bytes, now: int, confirmation: bytes | None = None
    ) -> Decision:
        """Decide one payment authorisation for a payment by `node_id` at signer time `now`."""
        return self.decide_consent(
            "payment", data, decode_authorisation, node_id=node_id, now=now,
            confirmation=confirmation,
        )  # fmt: skip

    def decide_consent(
        self,
        kind: str,
        data: bytes,
        decoder: Callable[[bytes], Consent],
        *,
        node_id: bytes,
        now: int,
        confirmation: bytes | None = None,
        epoch: int | None = None,
        cover: Callable[[Any, StateTxn], bytes] | None = None,
    ) -> Decision:
        """Decide one device consent (a payment authorisation, `kind` "payment", or an
        on-chain authorisation, "onchain", decision 0011) with the same checks, limits,
        counter and audit. `epoch` (requests that sign something that moves funds):
        fencing first, a stale epoch is refused and consumes nothing. `cover(consent, txn)`
        (on-chain: does the transaction match the consent?) runs after the node and
        expiry checks and before the limits; a `PolicyViolation` it raises refuses with
        its reason and does not use up the counter (what it checks was attached by the
        runtime, which must not be able to burn the user's consent). It returns bytes
        appended to the audit subject (the transaction's id)."""
        with self.state.transaction() as txn:
            t = self._tick(txn, now)
            try:
                auth = decoder(data)
            except DecodeError:
                why = Reason.MALFORMED if data else Reason.NO_AUTHORISATION
                return self._malformed(txn, t, kind, data, why)
            device = None
            extra = b""
            try:
                if epoch is not None:
                    try:
                        check_epoch(txn, node_id, epoch)
                    except PolicyViolation as v:
                        raise _Refuse(v.reason) from None
                device = self._authenticate(
                    txn, auth.device_id, auth.signature, auth.signed_message()
                )
                self._check_counter(device, auth.counter)
                if auth.node_id != node_id:
                    raise _Refuse(Reason.WRONG_NODE, consume=True)
                self._check_expiry(auth.expiry, t)
                if cover is not None:
                    try:
                        extra = cover(auth, txn)
                    except PolicyViolation as v:
                        raise _Refuse(v.reason) from None
                outcome, reason = self._payment(txn, device, auth, t, confirmation)
                consume = outcome != Outcome.NEEDS_CONFIRMATION
            except _Refuse as r:
                outcome, reason, consume = r.outcome, r.reason, r.consume
            if consume and device is not None:
                txn.put_device(dataclasses.replace(device, last_counter=auth.counter))
            return self._log(
                txn,
                t,
                kind,
                auth.encode() + extra,
                outcome,
                reason,
                subject_id=auth.auth_id,
                device_id=auth.device_id,
            )

    def _payment(
        self,
        txn: StateTxn,
        device: Device,
        auth: Consent,
        t: int,
        confirmation: bytes | None,
    ) -> tuple[Outcome, str]:
        rules, total = device.rules, auth.total_msat
        if total > rules.per_payment_max_msat:
            raise _Refuse(Reason.OVER_PER_PAYMENT_MAX, consume=True)
        used = _usage(txn, device.device_id, t)
        if used.hourly_msat + total > rules.hourly_limit_msat:
            raise _Refuse(Reason.OVER_HOURLY_LIMIT, consume=True)
        if used.daily_msat + total > rules.daily_limit_msat:
            raise _Refuse(Reason.OVER_DAILY_LIMIT, consume=True)
        if total < rules.auto_approve_below_msat:
            reason = Reason.AUTO_APPROVED
        elif total <= rules.confirm_above_msat:
            if not auth.user_present:
                return Outcome.NEEDS_CONFIRMATION, Reason.USER_PRESENCE_REQUIRED
            reason = Reason.USER_PRESENT
        elif confirmation is None:
            return Outcome.NEEDS_CONFIRMATION, Reason.OWNER_CONFIRMATION_REQUIRED
        else:
            self._check_confirmation(txn, device, auth, confirmation)
            reason = Reason.OWNER_CONFIRMED
        # Spends older than a day have left both windows: forget them with this write.
        txn.prune_spends(device.device_id, t - DAY)
        txn.add_spend(device.device_id, Spend(t, total))
        return Outcome.APPROVE, reason

    def _check_confirmation(self, txn: StateTxn, payer: Device, auth: Consent, data: bytes) -> None:
        # A bad confirmation does not use up the authorisation: whoever attached it (the
        # runtime) must not be able to burn the user's consent.
        try:
            conf = decode_confirmation(data)
            owner = self._authenticate(txn, conf.device_id, conf.signature, conf.signed_message())
        except (DecodeError, _Refuse):
            raise _Refuse(Reason.BAD_CONFIRMATION) from None
        if conf.auth_id != auth.auth_id or owner.role != Role.OWNER:
            raise _Refuse(Reason.BAD_CONFIRMATION)
        if owner.device_id == payer.device_id:  # confirmation means a second device
            raise _Refuse(Reason.BAD_CONFIRMATION)

    def usage(self, device_id: bytes, now: int) -> Usage:
        """The device's current rolling-window consumption (read only)."""
        with self.state.transaction() as txn:
            t = max(now, txn.clock())
            return _usage(txn, device_id, t)

    # --- registry commands ------------------------------------------------------------------

    def bootstrap_owner(self, enrolment: Enrolment, now: int) -> Decision:
        """Enrol an owner directly (local admin on the signer box, seed unlocked). Allowed
        only while no active owner exists: first setup, or recovery after every owner
        was frozen or removed."""
        d_id = make_device_id(enrolment.key_type, enrolment.pubkey)
        with self.state.transaction() as txn:
            t = self._tick(txn, now)
            if enrolment.role != Role.OWNER:
                reason, outcome = Reason.NOT_OWNER, Outcome.DENY
            elif any(_active_owner(d) for d in txn.devices()):
                reason, outcome = Reason.OWNER_EXISTS, Outcome.DENY
            elif txn.device(d_id) is not None:
                reason, outcome = Reason.ALREADY_ENROLLED, Outcome.DENY
            else:
                txn.put_device(_new_device(enrolment, d_id, t, b""))
                reason, outcome = Reason.BOOTSTRAPPED, Outcome.APPROVE
            subject = enrolment.encode()
            return self._log(
                txn,
                t,
                "bootstrap",
                subject,
                outcome,
                reason,
                subject_id=sha256(subject),
                device_id=d_id,
            )

    def set_node_quota(self, nodes: int, now: int) -> Decision:
        """Set the owner's node quota (local admin on the signer box, seed unlocked:
        `vajra signer quota --nodes N`; issue 13 item 2). Kept in the sealed state and
        logged as kind `quota` whose subject is `nodes` (u64, big-endian), so the MAC
        covers the value and `replay.cross_check` compares it with the last such entry.
        ValueError unless 0 <= nodes < 2^63 (an SQLite integer)."""
        if not 0 <= nodes < 1 << 63:
            raise ValueError(f"node quota {nodes} out of range")
        subject = encode_quota(nodes)
        with self.state.transaction() as txn:
            t = self._tick(txn, now)
            txn.set_node_quota(nodes)
            return self._log(
                txn, t, "quota", subject, Outcome.APPROVE, Reason.APPLIED,
                subject_id=sha256(subject), device_id=None,
            )  # fmt: skip

    def command(self, data: bytes, now: int) -> Decision:
        """Apply one owner-signed registry command (enrol, freeze, unfreeze, remove, rules)."""
        with self.state.transaction() as txn:
            t = self._tick(txn, now)
            try:
                cmd = decode_command(data)
            except DecodeError:
                return self._malformed(txn, t, "command", data)
            issuer = None
            try:
                issuer = self._authenticate(txn, cmd.issuer, cmd.signature, cmd.signed_message())
                self._check_counter(issuer, cmd.counter)
                if cmd.kind == CommandKind.RESET_CLOCK:
                    self._check_reset(cmd)
                else:
                    self._check_expiry(cmd.expiry, t)
                if issuer.role != Role.OWNER:
                    raise _Refuse(Reason.NOT_OWNER, consume=True)
                # Counter first: the issuer may itself be the target of this command.
                issuer = dataclasses.replace(issuer, last_counter=cmd.counter)
                txn.put_device(issuer)
                if cmd.kind == CommandKind.RESET_CLOCK:
                    assert cmd.clock is not None
                    t = cmd.clock
                    txn.set_clock(t)
                    txn.restamp_spends(t)
                    if self._monotonic is not None:
                        self._last = (self._monotonic(), t)
                else:
                    self._apply(txn, cmd, t)
                outcome, reason = Outcome.APPROVE, str(Reason.APPLIED)
            except _Refuse as r:
                outcome, reason = r.outcome, r.reason
                if r.consume and issuer is not None:
                    txn.put_device(dataclasses.replace(issuer, last_counter=cmd.counter))
            return self._log(
                txn,
                t,
                "command",
                cmd.encode(),
                outcome,
                reason,
                subject_id=sha256(cmd.signed_message()),
                device_id=cmd.target,
            )

    @staticmethod
    def _check_reset(cmd: DeviceCommand) -> None:
        # The owner's own time, and a command signed within the usual lifetime of it.
        assert cmd.clock is not None
        if cmd.target != cmd.issuer or not cmd.clock <= cmd.expiry <= cmd.clock + DAY:
            raise _Refuse(Reason.INVALID_TRANSITION, consume=True)

    def _apply(self, txn: StateTxn, cmd: DeviceCommand, t: int) -> None:
        target = txn.device(cmd.target)
        if cmd.kind == CommandKind.ENROLL:
            assert cmd.enrolment is not None  # decode_command guarantees it
            if target is not None:
                raise _Refuse(Reason.ALREADY_ENROLLED, consume=True)
            txn.put_device(_new_device(cmd.enrolment, cmd.target, t, cmd.issuer))
            return
        if target is None:
            raise _Refuse(Reason.UNKNOWN_DEVICE, consume=True)
        if target.status == DeviceStatus.REMOVED:
            raise _Refuse(Reason.DEVICE_REMOVED, consume=True)
        if cmd.kind == CommandKind.SET_RULES:
            assert cmd.rules is not None
            txn.put_device(dataclasses.replace(target, rules=cmd.rules))
            return
        if cmd.kind == CommandKind.UNFREEZE:
            if target.status != DeviceStatus.FROZEN:
                raise _Refuse(Reason.INVALID_TRANSITION, consume=True)
            txn.put_device(dataclasses.replace(target, status=DeviceStatus.ACTIVE))
            return
        # FREEZE or REMOVE. Never leave the registry without an active owner: nobody could
        # unfreeze or enrol any more (recovery is then `bootstrap_owner` on the signer box).
        others = [d for d in txn.devices() if _active_owner(d) and d.device_id != target.device_id]
        if _active_owner(target) and not others:
            raise _Refuse(Reason.LAST_OWNER, consume=True)
        status = DeviceStatus.FROZEN if cmd.kind == CommandKind.FREEZE else DeviceStatus.REMOVED
        txn.put_device(dataclasses.replace(target, status=status))

    def devices(self) -> list[Device]:
        with self.state.transaction() as txn:
            return txn.devices()

    # --- runtime requests: the validate-before-sign seam ------------------------------------

    def authorise_request(
        self,
        kind: str,
        *,
        node_id: bytes,
        epoch: int,
        subject: bytes,
        now: int,
        check: Callable[[StateTxn], bytes | None] | None = None,
        fenced: bool = True,
        context: bytes = b"",
    ) -> Decision:
        """Decide a runtime request (sign, ECDH, release a state key, ...) before it is
        served: fencing first (DESIGN 6: refuse epochs older than the newest seen), then
        `check`, which raises PolicyViolation to refuse. Approve or deny, it is logged:
        the entry's subject is node id | SHA-256(`subject`) | `context` | what an
        approving `check` returned (channel requests: the channel index and request tag,
        then the hash of the record they left; decision 0017).

        `fenced=False` (identity release only, decision 0008): no per-node epoch check
        and the node's newest epoch is left alone; the pinned link is the fence."""
        with self.state.transaction() as txn:
            t = self._tick(txn, now)
            extra = b""
            try:
                if fenced:
                    check_epoch(txn, node_id, epoch)
                if check is not None:
                    extra = check(txn) or b""
                outcome, reason = Outcome.APPROVE, str(Reason.OK)
            except PolicyViolation as v:
                outcome, reason = Outcome.DENY, v.reason
            digest = sha256(subject)
            return self._log(
                txn, t, kind, node_id + digest + context + extra, outcome, reason,
                subject_id=digest, device_id=None,
            )  # fmt: skip


def encode_quota(nodes: int) -> bytes:
    """The subject of a `quota` audit entry: the node quota, u64 big-endian."""
    return nodes.to_bytes(8, "big")


def decode_quota(subject: bytes) -> int:
    """Inverse of `encode_quota`; ValueError on any other length."""
    if len(subject) != 8:
        raise ValueError(f"quota subject of {len(subject)} bytes")
    return int.from_bytes(subject, "big")


def _active_owner(d: Device) -> bool:
    return d.role == Role.OWNER and d.status == DeviceStatus.ACTIVE


def _new_device(e: Enrolment, d_id: bytes, t: int, by: bytes) -> Device:
    return Device(
        device_id=d_id,
        key_type=e.key_type,
        pubkey=e.pubkey,
        role=e.role,
        status=DeviceStatus.ACTIVE,
        rules=e.rules,
        label=e.label,
        enrolled_at=t,
        enrolled_by=by,
    )
