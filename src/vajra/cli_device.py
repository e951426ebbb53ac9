"""`vajra device`: a simulator of the user's client devices (payment ring, phone, ...).

A real device keeps its key in a secure element and never shows it. This simulator
keeps it in a device-side file, `<device dir>/<name>.json` (0600; `--device-dir`, env
VAJRA_DEVICE_DIR, default ~/.vajra/devices), with the device's counter. It signs what a
device signs (`vajra.signer.messages`) and submits it to the signer either through the
runtime (`--runtime DIR`: the runtime's hub admin socket, standing in for the client
API) or over the signer's local link (`--local`, the Bluetooth path; works with the
runtime down). Only owner-signed registry commands are accepted locally.

Every decision is checked before it is reported (decision 0012): it must carry the
signer's audit-key signature over the audit entry recording exactly this outcome for
exactly the bytes this device signed, at a position beyond the newest one this device
has seen. The device file pins the signer's audit public key (`--signer-audit-pubkey`,
or read from the signer directory `--signer-dir` / VAJRA_SIGNER_DIR the first time, as
a phone would scan it from the signer box) and keeps the newest head it saw: a relay
that makes a decision up, or a signer whose state was rolled back, is reported as an
error (exit code 4), never as success.

Exit codes of commands that get a decision: 0 approve, 1 deny, 3 needs confirmation,
4 the decision failed verification (not from the signer, or the signer went back).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from vajra.cli_errors import UsageError
from vajra.cli_signer import guard as _guard
from vajra.crypto import p256
from vajra.crypto.secp256k1 import generate_secret
from vajra.errors import VajraError
from vajra.osutil import write_private
from vajra.signer import link_proto as lp
from vajra.signer.devices import MAX_MSAT, DeviceKey, KeyType, Role
from vajra.signer.messages import (
    FLAG_USER_PRESENT,
    CommandKind,
    Confirmation,
    DeviceCommand,
    Enrolment,
    PaymentAuthorisation,
)

DIR_ENV = "VAJRA_DEVICE_DIR"
RUNTIME_ENV = "VAJRA_RUNTIME_DIR"
COMMAND_LIFETIME = 300


class DeviceError(VajraError):
    """A device command that cannot run (missing key file, unreachable signer, bad input)."""


class DeviceFile:
    """A simulated device: its key (an enclave would hold it) and its counter."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise DeviceError(f"no device file {path} (run `vajra device create`)")
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text())
        kt = KeyType.P256 if self.data["key_type"] == "p256" else KeyType.SECP256K1
        self.key = DeviceKey(kt, bytes.fromhex(self.data["secret"]))

    @property
    def name(self) -> str:
        return str(self.data["name"])

    def next_counter(self) -> int:
        """Use up the next counter (written before anything is signed with it). Under an
        exclusive lock on `<name>.json.lock` (a file never replaced), re-reading the
        file inside it: two commands on one device at once get different counters."""
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.data = json.loads(self.path.read_text())
            self.data["counter"] = int(self.data.get("counter", 0)) + 1
            write_private(self.path, json.dumps(self.data, indent=2).encode())
            return int(self.data["counter"])
        finally:
            os.close(fd)  # releases the lock

    def save(self) -> None:
        write_private(self.path, json.dumps(self.data, indent=2).encode())

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key_type": self.data["key_type"],
            "device_id": self.key.device_id.hex(),
            "pubkey": self.key.pubkey.hex(),
            "seen_head": self.data.get("seen_head"),
        }


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_name(flag: str, name: str) -> str:
    """A device name is a plain file name in the device directory: letters, digits,
    `_`, `.`, `-`, at most 64, not starting with a dot (so never `..` or a path)."""
    if not _NAME.fullmatch(name):
        raise UsageError(flag, name, "a device name is 1-64 letters, digits, '_', '.' or "
                         "'-', not starting with '.' (no paths)")  # fmt: skip
    return name


def _dir(args: argparse.Namespace) -> Path:
    d = args.device_dir or Path(os.environ.get(DIR_ENV) or Path.home() / ".vajra" / "devices")
    return Path(d)


def _device(args: argparse.Namespace, name: str, flag: str = "--name") -> DeviceFile:
    return DeviceFile(_dir(args) / f"{check_name(flag, name)}.json")


def _target_id(args: argparse.Namespace, target: str) -> bytes:
    """A device named by its local file, or by its 64-hex device id."""
    if len(target) == 64 and all(c in "0123456789abcdef" for c in target.lower()):
        return bytes.fromhex(target)
    return _device(args, target, "target").key.device_id


# --- submitting -----------------------------------------------------------------------------


def _decision_out(d: dict[str, Any]) -> int:
    print(json.dumps(d))
    return {"approve": 0, "needs_confirmation": 3}.get(str(d.get("outcome")), 1)


class DecisionRejected(DeviceError):
    """The answer is not a decision of the pinned signer, or lies behind its head."""

    exit_code = 4


def _audit_pubkey(args: argparse.Namespace, dev: DeviceFile) -> bytes:
    """The signer's audit key this device pinned (pinning it now from the signer dir)."""
    pinned = dev.data.get("signer_audit_pubkey")
    if pinned:
        return bytes.fromhex(str(pinned))
    from vajra.cli_signer import CONFIG_FILE, default_dir

    sdir = Path(getattr(args, "signer_dir", None) or default_dir())
    if not (sdir / CONFIG_FILE).exists():
        raise DeviceError(
            f"device {dev.name} has not pinned its signer's audit key: run `vajra device "
            "pin-signer` with --signer-audit-pubkey (shown by `vajra signer status`) or "
            "--signer-dir"
        )
    key = str(json.loads((sdir / CONFIG_FILE).read_text())["audit_pubkey"])
    dev.data["signer_audit_pubkey"] = key
    dev.save()
    return bytes.fromhex(key)


def _verified(args: argparse.Namespace, dev: DeviceFile, subject: bytes, d: dict[str, Any]) -> int:
    """Report a decision only once it verifies against the pinned key and head."""
    from vajra.signer.anchor import AnchorMismatch, SeenHead, verify_decision

    if "error" in d:
        return _decision_out(d)
    pubkey = _audit_pubkey(args, dev)
    seen_raw = dev.data.get("seen_head") or {}
    seen = SeenHead(int(seen_raw.get("length", 0)), bytes.fromhex(seen_raw.get("hash", "00" * 32)))
    try:
        new = verify_decision(
            pubkey,
            seq=int(d["audit_seq"]),
            time=int(d["audit_time"]),
            kind=str(d["kind"]),
            subject=subject,
            outcome=str(d["outcome"]),
            reason=str(d["reason"]),
            prev_hash=bytes.fromhex(str(d["prev_hash"])),
            signature=bytes.fromhex(str(d["signature"])),
            seen=seen,
        )
    except (KeyError, ValueError, TypeError):
        raise DecisionRejected("the answer is not a signed decision") from None
    except AnchorMismatch as e:
        raise DecisionRejected(str(e)) from None
    except VajraError as e:
        raise DecisionRejected(str(e)) from None
    dev.data["seen_head"] = {"length": new.length, "hash": new.hash.hex()}
    dev.save()
    return _decision_out({**d, "verified": True})


def _decision_json(f: lp.Frame) -> dict[str, Any]:
    if isinstance(f, lp.Error):
        return {"error": f.reason, "detail": f.detail}
    if not isinstance(f, lp.DecisionFrame):
        return {"error": "protocol", "detail": type(f).__name__}
    from vajra.runtime.signer_hub import decision_json

    return decision_json(f)


def _runtime_dir(args: argparse.Namespace) -> Path:
    d = args.runtime or os.environ.get(RUNTIME_ENV)
    if not d:
        raise DeviceError(f"say where to submit: --local, or --runtime DIR (env {RUNTIME_ENV})")
    from vajra.runtime.signer_hub import ADMIN_SOCKET

    if not (Path(d) / ADMIN_SOCKET).exists():
        raise UsageError("--runtime", d, f"no {ADMIN_SOCKET} there: give the running "
                         "runtime's hub directory, <store>.hub next to its store")  # fmt: skip
    return Path(d)


def _submit_command(args: argparse.Namespace, issuer: DeviceFile, cmd: bytes) -> int:
    _audit_pubkey(args, issuer)  # pinned before anything is sent
    if args.local:
        from vajra.cli_signer import LOCAL_SOCKET, default_dir
        from vajra.signer import local_link

        sdir = args.signer_dir or default_dir()
        resp = local_link.call(Path(sdir) / LOCAL_SOCKET, lp.DeviceCommandReq(1, cmd))
        return _verified(args, issuer, cmd, _decision_json(resp))
    from vajra.runtime.signer_hub import admin_call

    req: dict[str, Any] = {"op": "device_command", "command": cmd.hex()}
    if args.signer_id is not None:
        req["signer_id"] = args.signer_id
    return _verified(args, issuer, cmd, admin_call(_runtime_dir(args), req))


def _command(args: argparse.Namespace, kind: CommandKind, target: bytes, **extra: Any) -> int:
    issuer = _device(args, args.by, "--by")
    _audit_pubkey(args, issuer)
    cmd = DeviceCommand(
        kind,
        issuer.key.device_id,
        issuer.next_counter(),
        int(time.time()) + COMMAND_LIFETIME,
        target,
        **extra,
    ).signed(issuer.key)
    return _submit_command(args, issuer, cmd.encode())


# --- commands -------------------------------------------------------------------------------


def cmd_create(args: argparse.Namespace) -> int:
    d = _dir(args)
    path = d / f"{check_name('--name', args.name)}.json"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        raise DeviceError(f"device {args.name} already exists in {d}")
    kt = KeyType.P256 if args.type == "p256" else KeyType.SECP256K1
    secret = generate_secret()  # in range for secp256k1; for P-256 redraw until < its order
    while kt == KeyType.P256 and int.from_bytes(secret, "big") >= p256.ORDER:
        secret = generate_secret()
    key = DeviceKey(kt, secret)
    data = {"version": 1, "name": args.name, "key_type": args.type, "secret": secret.hex()}
    data["counter"] = 0
    write_private(path, json.dumps(data, indent=2).encode())
    out = DeviceFile(path).public()
    if args.json:
        print(json.dumps(out))
    else:
        print(f"device {args.name}: {args.type}, id {key.device_id.hex()}")
        print(f"public key {key.pubkey.hex()} (the key file {path} simulates an enclave)")
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    from vajra.cli_signer import rules_from_args

    dev = _device(args, args.name)
    role = Role.OWNER if args.role == "owner" else Role.SPENDER
    e = Enrolment(dev.key.key_type, dev.key.pubkey, role, rules_from_args(args), args.label or "")
    return _command(args, CommandKind.ENROLL, dev.key.device_id, enrolment=e)


def cmd_rules_set(args: argparse.Namespace) -> int:
    """A partial update: rules not given keep the signer's current values, read from
    `--signer-dir` (the signer's box); without it every rule must be given, never
    silently zeroed. Contradictory rules are refused before the counter moves."""
    from vajra.cli_signer import RULE_NAMES, check_rules

    target = _target_id(args, args.target)
    given = {n: getattr(args, n) for n in RULE_NAMES if getattr(args, n) is not None}
    current = _registry_rules(args.signer_dir, target) if args.signer_dir else None
    missing = [n for n in RULE_NAMES if n not in given]
    if missing and current is None:
        flags = ", ".join("--" + n.replace("_", "-") for n in missing)
        raise UsageError(flags, "(not given)", "the signer replaces every rule: give them "
                         "all, or --signer-dir to keep its current values")  # fmt: skip
    values = {n: given.get(n, getattr(current, n, 0)) for n in RULE_NAMES}
    return _command(args, CommandKind.SET_RULES, target, rules=check_rules(values))


def _registry_rules(signer_dir: Path, device_id: bytes) -> Any:
    from vajra.cli_signer import STATE_FILE
    from vajra.signer.state import SqliteState

    with SqliteState(Path(signer_dir) / STATE_FILE).transaction() as txn:
        dv = txn.device(device_id)
    if dv is None:
        raise UsageError("--signer-dir", signer_dir, f"the signer has no device {device_id.hex()}")
    return dv.rules


def _simple(kind: CommandKind) -> Any:
    def run(args: argparse.Namespace) -> int:
        return _command(args, kind, _target_id(args, args.target))

    return run


def _hex(flag: str, value: str, size: int) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise UsageError(flag, value, f"must be {size} bytes of hex ({2 * size} characters)")
    return raw


def _msat(flag: str, value: int) -> int:
    if not 0 <= value <= MAX_MSAT:
        raise UsageError(flag, value, f"must be 0..{MAX_MSAT} msat")
    return value


def cmd_reset_clock(args: argparse.Namespace) -> int:
    """RESET_CLOCK: set the signer's clock back to this device's time (recovery after
    the signer took a clock jump while it was stopped; decision 0012)."""
    issuer = _device(args, args.by, "--by")
    _audit_pubkey(args, issuer)
    now = int(time.time())
    cmd = DeviceCommand(
        CommandKind.RESET_CLOCK,
        issuer.key.device_id,
        issuer.next_counter(),
        now + COMMAND_LIFETIME,
        issuer.key.device_id,
        clock=now,
    ).signed(issuer.key)
    return _submit_command(args, issuer, cmd.encode())


def cmd_authorise(args: argparse.Namespace) -> int:
    # Everything the user typed is checked before the device's counter moves.
    node_id = _hex("--node", args.node, 33)
    payment_hash = _hex("--payment-hash", args.payment_hash, 32)
    _msat("--amount-msat", args.amount_msat)
    _msat("--max-fee-msat", args.max_fee_msat)
    if not 1 <= args.expiry_s <= 86400 * 365:
        raise UsageError("--expiry-s", args.expiry_s, "must be 1..31536000 seconds")
    runtime_dir = _runtime_dir(args)
    dev = _device(args, args.name)
    owner = _device(args, args.confirm_by, "--confirm-by") if args.confirm_by else None
    _audit_pubkey(args, dev)
    auth = PaymentAuthorisation(
        node_id,
        payment_hash,
        args.amount_msat,
        args.max_fee_msat,
        int(time.time()) + args.expiry_s,
        dev.next_counter(),
        dev.key.device_id,
        FLAG_USER_PRESENT if args.user_present else 0,
    ).signed(dev.key)
    req: dict[str, Any] = {
        "op": "authorise_payment",
        "node_id": node_id.hex(),
        "authorisation": auth.encode().hex(),
    }
    if owner is not None:
        conf = Confirmation(auth.auth_id, owner.key.device_id).signed(owner.key)
        req["confirmation"] = conf.encode().hex()
    from vajra.runtime.signer_hub import admin_call

    return _verified(args, dev, auth.encode(), admin_call(runtime_dir, req))


def cmd_pin_signer(args: argparse.Namespace) -> int:
    dev = _device(args, args.name)
    if args.signer_audit_pubkey:
        from vajra.crypto.secp256k1 import InvalidKey, check_pubkey

        try:
            key = check_pubkey(bytes.fromhex(args.signer_audit_pubkey)).hex()
        except (ValueError, InvalidKey):
            raise DeviceError(
                f"--signer-audit-pubkey {args.signer_audit_pubkey!r} is not a compressed "
                "secp256k1 public key (66 hex characters)"
            ) from None
        dev.data["signer_audit_pubkey"] = key
        dev.save()
    else:
        dev.data.pop("signer_audit_pubkey", None)
        key = _audit_pubkey(args, dev).hex()
    out = {"name": dev.name, "signer_audit_pubkey": key}
    print(json.dumps(out) if args.json else f"device {dev.name} pinned signer audit key {key}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    d = _dir(args)
    local = [DeviceFile(p).public() for p in sorted(d.glob("*.json"))] if d.exists() else []
    registry: list[dict[str, Any]] | None = None
    if args.signer_dir:
        from vajra.cli_signer import STATE_FILE
        from vajra.signer.state import SqliteState

        with SqliteState(Path(args.signer_dir) / STATE_FILE).transaction() as txn:
            registry = [
                {
                    "device_id": dv.device_id.hex(),
                    "label": dv.label,
                    "key_type": dv.key_type.name.lower(),
                    "role": dv.role.name.lower(),
                    "status": dv.status.name.lower(),
                    "last_counter": dv.last_counter,
                    "rules": {
                        "auto_approve_below_msat": dv.rules.auto_approve_below_msat,
                        "confirm_above_msat": dv.rules.confirm_above_msat,
                        "per_payment_max_msat": dv.rules.per_payment_max_msat,
                        "hourly_limit_msat": dv.rules.hourly_limit_msat,
                        "daily_limit_msat": dv.rules.daily_limit_msat,
                    },
                }
                for dv in txn.devices()
            ]
    if args.json:
        print(json.dumps({"local": local, "registry": registry}))
        return 0
    for x in local:
        print(f"local   {x['name']:12s} {x['key_type']:9s} {x['device_id']}")
    for r in registry or []:
        print(f"signer  {r['label']:12s} {r['role']:7s} {r['status']:7s} {r['device_id']}")
    return 0


# --- registration ---------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from vajra.cli_signer import add_rules_args

    p = sub.add_parser(
        "device",
        help="simulated client devices: keys, enrolment, rules, freeze, authorisations",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ds = p.add_subparsers(dest="device_cmd", metavar="SUBCOMMAND", required=True)

    def cmd(parent: Any, name: str, help_: str, func: Any) -> argparse.ArgumentParser:
        c: argparse.ArgumentParser = parent.add_parser(name, help=help_, description=help_)
        c.add_argument("--device-dir", type=Path, help=f"device files (env {DIR_ENV})")
        c.add_argument("--json", action="store_true", help="machine-readable output")
        c.set_defaults(func=_guard(func))
        return c

    def submit_args(c: argparse.ArgumentParser, local: bool = True) -> None:
        c.add_argument(
            "--runtime",
            metavar="RUNTIME_DIR",
            help="submit through this runtime: its hub directory, `<store>.hub` next to the "
            f"store `vajra runtime --store` was given (it holds admin.sock; env {RUNTIME_ENV})",
        )
        c.add_argument("--signer-id", type=int, default=None, help="which signer (default 1)")
        if local:
            c.add_argument(
                "--local", action="store_true", help="submit over the signer's local link"
            )
            c.add_argument(
                "--signer-dir",
                type=Path,
                help="signer directory (for --local; `rules set` reads current rules there)",
            )
        else:
            c.set_defaults(local=False)
            c.add_argument(
                "--signer-dir", type=Path, help="signer directory (to pin its audit key)"
            )

    c = cmd(ds, "create", "create a device key (simulated enclave: a 0600 file)", cmd_create)
    c.add_argument("--type", choices=["secp256k1", "p256"], required=True)
    c.add_argument("--name", required=True)

    c = cmd(ds, "enroll", "enrol a device, signed by an owner device (--by)", cmd_enroll)
    c.add_argument("--name", required=True, help="the device to enrol (its file)")
    c.add_argument("--by", required=True, help="the approving owner device")
    c.add_argument("--role", choices=["owner", "spender"], default="spender")
    c.add_argument("--label", help="a name the signer shows (default: none)")
    add_rules_args(c)
    submit_args(c)

    c = cmd(
        ds, "list", "list local devices and (with --signer-dir) the signer's registry", cmd_list
    )
    c.add_argument("--signer-dir", type=Path, help="read the registry of this signer")

    rules = ds.add_parser("rules", help="device rules", description="device rules")
    rs = rules.add_subparsers(dest="rules_cmd", metavar="SUBCOMMAND", required=True)
    c = cmd(
        rs, "set",
        "change a device's rules (signed by an owner device): rules not given keep their "
        "current values, read from --signer-dir; without it give all five",
        cmd_rules_set,
    )  # fmt: skip
    c.add_argument("target", help="device name (local file) or device id (hex)")
    c.add_argument("--by", required=True, help="the approving owner device")
    add_rules_args(c, default=None)
    submit_args(c)

    for name, kind, help_ in (
        ("freeze", CommandKind.FREEZE, "freeze a device: it is refused everything"),
        ("unfreeze", CommandKind.UNFREEZE, "unfreeze a frozen device"),
        ("remove", CommandKind.REMOVE, "remove a device for good"),
    ):
        c = cmd(ds, name, help_ + " (signed by an owner device)", _simple(kind))
        c.add_argument("target", help="device name (local file) or device id (hex)")
        c.add_argument("--by", required=True, help="the owner device that signs the command")
        submit_args(c)

    c = cmd(
        ds,
        "reset-clock",
        "set the signer's clock back to this owner device's time (after a clock jump "
        "left every command 'expired')",
        cmd_reset_clock,
    )
    c.add_argument("--by", required=True, help="the owner device that signs the command")
    submit_args(c)

    c = cmd(
        ds,
        "pin-signer",
        "pin the signer's audit public key this device verifies every decision with",
        cmd_pin_signer,
    )
    c.add_argument("--name", required=True, help="the device")
    c.add_argument("--signer-audit-pubkey", help="hex, as `vajra signer status` shows it")
    c.add_argument("--signer-dir", type=Path, help="read it from this signer directory")

    c = cmd(ds, "authorise", "sign a payment authorisation and submit it", cmd_authorise)
    c.add_argument("--name", required=True, help="the paying device")
    c.add_argument("--node", required=True, help="node id of the paying node (hex)")
    c.add_argument("--payment-hash", required=True, help="32-byte payment hash (hex)")
    c.add_argument("--amount-msat", type=int, required=True)
    c.add_argument("--max-fee-msat", type=int, required=True)
    c.add_argument("--expiry-s", type=int, default=300, help="valid for this long")
    c.add_argument("--user-present", action="store_true", help="ring squeezed / biometric")
    c.add_argument("--confirm-by", help="an owner device confirming a large payment")
    submit_args(c, local=False)
