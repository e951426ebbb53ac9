"""`vajra signer`: the live signer on the user's box (init, restore, pair, run, audit...).

The signer directory (`--dir`, env VAJRA_SIGNER_DIR, default ~/.vajra/signer), 0700:

    seed.sealed   the BIP 39 seed, sealed with Argon2id + ChaCha20-Poly1305 (0600)
    signer.json   network, the signer's public keys, the paired runtime (public data)
    state.db      nodes, device registry, limits, counters, audit log (no secret)
    local.sock    the local link while `vajra signer run` is up
    run.lock      held by the one `vajra signer run` allowed per directory

The password comes from --password-file, else env VAJRA_SIGNER_PASSWORD, else a prompt
(never echoed). The mnemonic is shown once, by `init`, and never stored.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from vajra.errors import VajraError
from vajra.noise import StaticKey
from vajra.signer import audit, seed
from vajra.signer.core import DEFAULT_NODE_QUOTA, SignerCore
from vajra.signer.devices import MAX_MSAT, KeyType, Role, Rules
from vajra.signer.integrity import StateIntegrityError
from vajra.signer.keys import COIN_TYPES, SignerKeys
from vajra.signer.messages import Enrolment
from vajra.signer.state import SqliteState

PASSWORD_ENV = "VAJRA_SIGNER_PASSWORD"
PASSPHRASE_ENV = "VAJRA_SIGNER_PASSPHRASE"
DIR_ENV = "VAJRA_SIGNER_DIR"
SEED_FILE = "seed.sealed"
CONFIG_FILE = "signer.json"
STATE_FILE = "state.db"
LOCAL_SOCKET = "local.sock"
LOCK_FILE = "run.lock"

WARNING = (
    "WRITE THESE WORDS DOWN ON PAPER AND KEEP THEM SAFE. They are the only backup of\n"
    "every key of every node this signer serves. Anyone who reads them can spend your\n"
    "funds. They are shown once and are not stored anywhere."
)


class CliError(VajraError):
    """A user-facing error: printed, exit code 1."""


# --- shared helpers -------------------------------------------------------------------------


def default_dir() -> Path:
    return Path(os.environ.get(DIR_ENV) or Path.home() / ".vajra" / "signer")


def add_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dir",
        type=Path,
        default=None,
        help=f"signer directory (env {DIR_ENV}, default ~/.vajra/signer)",
    )


def signer_dir(args: argparse.Namespace) -> Path:
    d: Path = args.dir or default_dir()
    return d


def read_config(d: Path) -> dict[str, Any]:
    path = d / CONFIG_FILE
    if not path.exists():
        raise CliError(f"{d} is not a signer directory (run `vajra signer init`)")
    cfg: dict[str, Any] = json.loads(path.read_text())
    return cfg


def write_config(d: Path, cfg: dict[str, Any]) -> None:
    tmp = d / (CONFIG_FILE + ".tmp")
    tmp.write_text(json.dumps(cfg, indent=2) + "\n")
    os.replace(tmp, d / CONFIG_FILE)


MIN_PASSWORD = 10


def check_new_password(pw: str) -> str:
    """Refuse a password too weak to seal the seed with (issue 13 item 6): the sealed
    file may be copied off the box, and Argon2 only slows guessing down. At least
    MIN_PASSWORD characters, at least 5 different ones."""
    if not pw:
        raise CliError("refusing an empty password")
    if len(pw) < MIN_PASSWORD or len(set(pw)) < 5:
        raise CliError(
            f"refusing a weak password: use at least {MIN_PASSWORD} characters, at least "
            "5 of them different (a few random words work well)"
        )
    return pw


def _password(args: argparse.Namespace, *, confirm: bool = False) -> str:
    """The seed password: --password-file, else env (read once, then removed from this
    process's environment and overwritten in place), else a prompt. `confirm`: a new
    password (init, restore): asked twice at the prompt and checked for strength."""
    from vajra.osutil import scrub_env

    env = scrub_env(PASSWORD_ENV)
    if getattr(args, "password_file", None):
        pw = str(Path(args.password_file).read_text().rstrip("\r\n"))
    elif env:
        pw = env
    elif not sys.stdin.isatty():
        raise CliError(f"no password: use --password-file or env {PASSWORD_ENV}")
    else:
        pw = getpass.getpass("Signer password: ")
        if confirm and getpass.getpass("Repeat password: ") != pw:
            raise CliError("passwords differ")
    if confirm:
        check_new_password(pw)
    elif not pw:
        raise CliError("empty password")
    return pw


def protect_process() -> list[str]:
    """Keep the seed and keys out of core dumps, other processes and swap (issue 13
    item 6); the protections that did not take effect, for a warning."""
    from vajra.osutil import lock_all_memory, no_core_dumps

    missing = []
    if not no_core_dumps():
        missing.append("core dumps and same-user ptrace not disabled")
    if not lock_all_memory():
        missing.append("memory not locked (RLIMIT_MEMLOCK below 512 MiB): keys may reach swap")
    return missing


def unlock(d: Path, args: argparse.Namespace) -> SignerKeys:
    for warning in protect_process():
        print(f"warning: {warning}", file=sys.stderr)
    cfg = read_config(d)
    blob = (d / SEED_FILE).read_bytes()
    return SignerKeys(seed.open_seed(blob, _password(args)), cfg["network"])


RECOVERY = 'see docs/signer.md, "When the signer refuses to start"'


class StateRefused(CliError):
    """The state failed its integrity or anchor check: exit code 2, never restart."""

    exit_code = 2


def open_state(d: Path, keys: SignerKeys) -> SqliteState:
    """The signer's state, verified (MAC, cross-check with the audit log)."""
    try:
        return SqliteState(d / STATE_FILE, key=keys.state_key(), create=False)
    except StateIntegrityError as e:
        raise StateRefused(f"signer state refused: {e}; {RECOVERY}") from None


def open_core(d: Path, keys: SignerKeys) -> SignerCore:
    return SignerCore(keys, open_state(d, keys), time.monotonic)


def _emit(args: argparse.Namespace, obj: dict[str, Any], text: str) -> None:
    print(json.dumps(obj) if getattr(args, "json", False) else text)


# --- init / restore -------------------------------------------------------------------------


def _create(d: Path, words: str, args: argparse.Namespace) -> dict[str, Any]:
    if (d / SEED_FILE).exists():
        raise CliError(f"{d} already holds a signer seed; refusing to overwrite it")
    for warning in protect_process():
        print(f"warning: {warning}", file=sys.stderr)
    passphrase = ""
    if args.with_passphrase:
        passphrase = os.environ.get(PASSPHRASE_ENV) or getpass.getpass("BIP 39 passphrase: ")
    password = _password(args, confirm=True)
    s = seed.mnemonic_to_seed(words, passphrase)
    keys = SignerKeys(s, args.network)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(d, 0o700)
    fd = os.open(d / SEED_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(seed.seal_seed(s, password))
        f.flush()
        os.fsync(f.fileno())
    cfg = {
        "version": 1,
        "network": args.network,
        "link_pubkey": keys.link_key().pubkey.hex(),
        "audit_pubkey": keys.audit_key().pubkey.hex(),
        "runtime": None,
    }
    write_config(d, cfg)
    SqliteState(d / STATE_FILE, key=keys.state_key()).close()
    return cfg


def cmd_init(args: argparse.Namespace) -> int:
    d = signer_dir(args)
    words = seed.new_mnemonic()
    cfg = _create(d, words, args)
    if args.json:
        print(json.dumps({"mnemonic": words, "warning": WARNING, **cfg, "dir": str(d)}))
    else:
        print(WARNING)
        print()
        for i, w in enumerate(words.split(), 1):
            print(f"{i:2d}. {w}")
        print()
        print(f"signer created in {d}; link key {cfg['link_pubkey']}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    d = signer_dir(args)
    if args.mnemonic_file:
        words = Path(args.mnemonic_file).read_text()
    elif sys.stdin.isatty():
        words = getpass.getpass("Mnemonic (24 words, not echoed): ")
    else:
        words = sys.stdin.readline()
    cfg = _create(d, seed.normalize_mnemonic(words), args)
    _emit(args, {**cfg, "dir": str(d)}, f"signer restored in {d}; link key {cfg['link_pubkey']}")
    return 0


# --- pair / run -----------------------------------------------------------------------------


def _hostport(s: str) -> tuple[str, int]:
    host, _, port = s.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT")
    return host.strip("[]"), int(port)


def _pairing_code(args: argparse.Namespace) -> str:
    """The one-time code: --code-file, `--code -` (stdin), a prompt on a terminal, else
    a line of stdin. `--code CODE` still works but warns: argv is visible to every
    local user (`ps`) while the command runs."""
    if args.code_file:
        return str(Path(args.code_file).read_text().strip())
    if args.code and args.code != "-":
        print(
            "warning: a pairing code in argv is visible to other local users (ps); use "
            "--code-file FILE, `--code -` (stdin) or the prompt",
            file=sys.stderr,
        )
        return str(args.code)
    if args.code is None and sys.stdin.isatty():
        return getpass.getpass("Pairing code (shown by the runtime, not echoed): ")
    line = sys.stdin.readline().strip()
    if not line:
        raise CliError("no pairing code: give --code-file FILE, pipe it on stdin, or type it")
    return line


def cmd_pair(args: argparse.Namespace) -> int:
    from vajra.signer.daemon import pair

    d = signer_dir(args)
    code = _pairing_code(args)
    keys = unlock(d, args)
    host, port = args.runtime
    paired = asyncio.run(pair(host, port, code, StaticKey(keys.link_key().secret)))
    restored = _restore_from(d, keys, paired, args)
    cfg = read_config(d)
    cfg["runtime"] = {
        "host": host,
        "port": port,
        "pubkey": paired.runtime_pubkey.hex(),
        "signer_id": paired.signer_id,
    }
    write_config(d, cfg)
    text = (
        f"paired with runtime {host}:{port} (key {paired.runtime_pubkey.hex()}), "
        f"signer id {paired.signer_id}"
    )
    if restored:
        text += (
            f"; state restored from the runtime's backup: {restored['nodes']} nodes, "
            f"{restored['devices']} devices (backup at audit entry "
            f"{restored['backup_length']}, runtime head {restored['runtime_length']})"
        )
    _emit(args, {"paired": True, **cfg["runtime"], "restored": restored}, text)
    return 0


def cmd_quota(args: argparse.Namespace) -> int:
    """The owner's bound on nodes hosted for this signer (issue 13 item 2). Kept in the
    sealed state with an audit entry (`Policy.set_node_quota`), so setting it needs the
    seed password; anyone who can only write the disk cannot raise it. Showing it reads
    the state without the key (display only: `vajra signer run` verifies the state)."""
    d = signer_dir(args)
    read_config(d)  # "not a signer directory" before anything else
    if args.nodes is not None:
        if not 0 <= args.nodes < 1 << 63:
            raise CliError(f"--nodes {args.nodes}: must be 0 or more (below 2^63)")
        core = open_core(d, unlock(d, args))
        core.policy.set_node_quota(args.nodes, int(time.time()))
        quota = core.node_quota()
    else:
        with SqliteState(d / STATE_FILE).transaction() as txn:
            stored = txn.node_quota()
        quota = DEFAULT_NODE_QUOTA if stored is None else stored
    print(json.dumps({"node_quota": quota}))
    return 0


def _restore_from(
    d: Path, keys: SignerKeys, paired: Any, args: argparse.Namespace
) -> dict[str, Any] | None:
    """A signer whose state is empty (just restored from its words) takes its state back
    from the backup the runtime kept (decision 0012). Refused when the backup is older
    than the audit length an owner device saw (`--min-audit-length`), unless
    `--accept-loss`: decisions made after it (a freeze over the local link while the
    runtime was down) would silently be undone."""
    from vajra.signer import backup

    st = open_state(d, keys)
    if st.head()[0] != 0:
        return None
    if paired.backup is None:
        if args.min_audit_length:
            raise CliError("the runtime holds no backup of this signer's state")
        return None
    snap = backup.open_sealed(keys.backup_key(), paired.backup.blob)
    rl, rh = (paired.head.length, paired.head.hash) if paired.head else (0, bytes(32))
    if snap.audit_length < args.min_audit_length and not args.accept_loss:
        raise CliError(
            f"the runtime's backup ends at audit entry {snap.audit_length} but a device saw "
            f"{args.min_audit_length}: decisions after the backup would be lost (re-issue "
            "them after restoring, with --accept-loss)"
        )
    lost = backup.restore_into(st, keys, snap, rl, rh, int(time.time()))
    return {
        "nodes": snap.nodes,
        "devices": len(snap.devices),
        "backup_length": snap.audit_length,
        "runtime_length": rl,
        "entries_not_in_backup": lost,
    }


def cmd_run(args: argparse.Namespace) -> int:
    from vajra.osutil import AlreadyRunning, exclusive_lock
    from vajra.signer.daemon import RuntimeAddress, SignerDaemon
    from vajra.signer.link_server import LinkHandler

    d = signer_dir(args)
    cfg = read_config(d)
    try:  # one daemon per signer directory (issue 13 item 5), held until exit
        exclusive_lock(d / LOCK_FILE, f"a signer on {d}")
    except AlreadyRunning as e:
        raise CliError(str(e)) from None
    keys = unlock(d, args)
    core = open_core(d, keys)
    if "node_quota" in cfg:  # where signers before the sealed quota kept it: not trusted
        print(
            f"warning: {d / CONFIG_FILE} holds a node_quota, which is ignored: the quota "
            f"is {core.node_quota()} (set it with `vajra signer quota --nodes N`)",
            file=sys.stderr,
        )
    rt = cfg.get("runtime")
    runtime = (
        RuntimeAddress(rt["host"], int(rt["port"]), bytes.fromhex(rt["pubkey"])) if rt else None
    )
    if runtime is None:
        print("not paired: serving the local link only", file=sys.stderr)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    daemon = SignerDaemon(
        LinkHandler(core, cfg["network"], node_quota=core.node_quota),
        StaticKey(keys.link_key().secret),
        runtime,
        d / LOCAL_SOCKET,
        backoff_cap=args.max_backoff,
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, daemon.stop)
        task = asyncio.create_task(daemon.run())
        listening = asyncio.create_task(daemon.listening.wait())
        await asyncio.wait([task, listening], return_when=asyncio.FIRST_COMPLETED)
        if task.done():  # failed to start (e.g. the local socket): report it
            listening.cancel()
            await task
            return
        ready = {"event": "running", "local_socket": str(d / LOCAL_SOCKET), "runtime": rt}
        print(json.dumps(ready), flush=True)
        await task

    asyncio.run(main())
    if daemon.fatal is not None:
        raise StateRefused(f"signer stopped: {daemon.fatal}; {RECOVERY}")
    return 0


# --- audit / status / add-owner -------------------------------------------------------------


def cmd_audit(args: argparse.Namespace) -> int:
    """Verify the state (MAC, cross-check with the log) and the log's chain and
    signatures with keys derived from the seed: signer.json is public data anyone who
    can write the disk can edit, so nothing in it is trusted here."""
    d = signer_dir(args)
    keys = unlock(d, args)
    pubkey = keys.audit_key().pubkey
    problem: str | None = None
    st: SqliteState | None
    try:
        st = open_state(d, keys)
    except StateRefused as e:
        problem = str(e)
        try:
            st = SqliteState(d / STATE_FILE)  # read-only, to show what is there
        except StateIntegrityError:
            st = None
    entries = [] if st is None else st.audit_entries()
    head = b""
    if problem is None:
        try:
            head = audit.verify(entries, pubkey)
        except audit.AuditError as e:
            problem = str(e)
    ok = problem is None
    rows = [
        {
            "seq": e.seq,
            "time": e.time,
            "kind": e.kind,
            "outcome": e.outcome,
            "reason": e.reason,
            "subject_sha256": _sha(e.subject),
            "hash": e.hash.hex(),
        }
        for e in entries
    ]
    out = {
        "verified": ok,
        "problem": problem,
        "head": head.hex(),
        "length": len(entries) if ok else None,
        "entries": rows,
    }
    if args.json:
        print(json.dumps(out))
    else:
        for r in rows:
            t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(str(r["time"]))))
            print(f"{r['seq']:6d} {t} {r['kind']:24s} {r['outcome']:18s} {r['reason']}")
        print(
            f"verified: {len(rows)} entries, head {head.hex()}"
            if ok
            else f"AUDIT LOG OR STATE BROKEN: {problem}"
        )
    return 0 if ok else 1


def _sha(b: bytes) -> str:
    from vajra.crypto.hashes import sha256

    return sha256(b).hex()


def cmd_status(args: argparse.Namespace) -> int:
    from vajra.signer import link_proto as lp
    from vajra.signer import local_link

    d = signer_dir(args)
    cfg = read_config(d)
    st = SqliteState(d / STATE_FILE)
    with st.transaction() as txn:
        nodes = txn.nodes()
        devices = txn.devices()
        head = txn.audit_head()
    running = False
    with contextlib.suppress(VajraError):
        running = isinstance(local_link.call(d / LOCAL_SOCKET, lp.Ping(1), 2.0), lp.Pong)
    out = {
        "dir": str(d),
        "network": cfg["network"],
        "link_pubkey": cfg["link_pubkey"],
        "audit_pubkey": cfg["audit_pubkey"],
        "runtime": cfg.get("runtime"),
        "running": running,
        "nodes": [n.node_id.hex() for n in nodes],
        "devices": len(devices),
        "audit_entries": 0 if head is None else head.seq + 1,
        "audit_head": None if head is None else head.hash.hex(),
    }
    rt = cfg.get("runtime")
    text = "\n".join(
        [
            f"signer {d} ({cfg['network']}), link key {cfg['link_pubkey']}",
            f"paired with {rt['host']}:{rt['port']} as signer {rt['signer_id']}"
            if rt
            else "not paired",
            f"daemon {'running' if running else 'not running'}; {len(nodes)} nodes; "
            f"{len(devices)} devices; {out['audit_entries']} audit entries",
        ]
    )
    _emit(args, out, text)
    return 0


def cmd_add_owner(args: argparse.Namespace) -> int:
    d = signer_dir(args)
    keys = unlock(d, args)
    core = open_core(d, keys)
    kt = KeyType.P256 if args.key_type == "p256" else KeyType.SECP256K1
    e = Enrolment(kt, bytes.fromhex(args.pubkey), Role.OWNER, rules_from_args(args), args.label)
    dec = core.policy.bootstrap_owner(e, int(time.time()))
    dev_id = (dec.device_id or b"").hex()
    out = {"outcome": dec.outcome.value, "reason": dec.reason, "device_id": dev_id}
    _emit(args, out, f"{dec.outcome.value}: {dec.reason} (device {out['device_id']})")
    return 0 if dec.approved else 1


# --- rules arguments (shared with `vajra device`) -------------------------------------------

_RULE_FIELDS = (
    ("auto_approve_below_msat", "approve without user interaction below this (amount + fee)"),
    ("confirm_above_msat", "above this an owner must confirm; up to it, user presence"),
    ("per_payment_max_msat", "refuse any single payment above this"),
    ("hourly_limit_msat", "rolling one-hour limit"),
    ("daily_limit_msat", "rolling 24-hour limit"),
)


RULE_NAMES = tuple(name for name, _ in _RULE_FIELDS)


def add_rules_args(p: argparse.ArgumentParser, default: int | None = 0) -> None:
    for name, help_ in _RULE_FIELDS:
        p.add_argument("--" + name.replace("_", "-"), type=int, default=default,
                       help=help_ + (" (msat; default 0)" if default == 0 else " (msat)"))  # fmt: skip


def check_rules(values: dict[str, int]) -> Rules:
    """Rules from msat values, refusing out-of-range and contradictory ones (a UsageError
    naming the flags): a limit below another it must contain can never be reached."""
    from vajra.cli_errors import UsageError

    for name in RULE_NAMES:
        v = values[name]
        if not 0 <= v <= MAX_MSAT:
            raise UsageError("--" + name.replace("_", "-"), v, f"must be 0..{MAX_MSAT} msat")
    r = Rules(**values)
    for small, large in (("daily_limit_msat", "hourly_limit_msat"),
                         ("hourly_limit_msat", "per_payment_max_msat")):  # fmt: skip
        if values[small] < values[large]:
            raise UsageError(
                f"--{small.replace('_', '-')} {values[small]} < --{large.replace('_', '-')}",
                values[large],
                "contradictory: the smaller limit makes the larger unreachable",
            )
    return r


def rules_from_args(args: argparse.Namespace) -> Rules:
    return check_rules({name: getattr(args, name) for name in RULE_NAMES})


# --- registration ---------------------------------------------------------------------------


def _password_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--password-file",
        help=f"read the seed password from this file (else env {PASSWORD_ENV}, else a prompt)",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "signer",
        help="the live signer: seed, pairing, serving the runtime, audit log",
        description=(
            "The live signer holds every key that can move funds and decides every "
            "signature. It runs on the user's box and dials out to the runtime."
        ),
    )
    ss = p.add_subparsers(dest="signer_cmd", metavar="SUBCOMMAND", required=True)

    def cmd(name: str, help_: str, func: Any, *, password: bool = True) -> argparse.ArgumentParser:
        c = ss.add_parser(name, help=help_, description=help_)
        add_dir_arg(c)
        if password:
            _password_arg(c)
        c.add_argument("--json", action="store_true", help="machine-readable output")
        c.set_defaults(func=guard(func))
        return c

    for name, help_, func in (
        ("init", "create a new seed; shows the 24-word backup once", cmd_init),
        ("restore", "recreate a signer from its 24-word backup", cmd_restore),
    ):
        c = cmd(name, help_, func)
        c.add_argument("--network", choices=sorted(COIN_TYPES), default="regtest")
        c.add_argument(
            "--with-passphrase",
            action="store_true",
            help=f"use a BIP 39 passphrase (env {PASSPHRASE_ENV}, else a prompt)",
        )
        if name == "restore":
            c.add_argument("--mnemonic-file", help="read the words from a file (else stdin)")

    c = cmd("pair", "pair with a runtime using the one-time code it shows", cmd_pair)
    c.add_argument(
        "--runtime",
        required=True,
        type=_hostport,
        metavar="HOST:PORT",
        help="the runtime's signer-link address",
    )
    c.add_argument(
        "--code",
        help="the pairing code, e.g. ABCD-EFGH-IJKL-MNOP, or - to read it from stdin "
        "(default: a prompt, or stdin when not a terminal; a code in argv warns: `ps` "
        "shows it to other local users)",
    )
    c.add_argument("--code-file", help="read the pairing code from this file")
    c.add_argument(
        "--min-audit-length",
        type=int,
        default=0,
        help="after `restore`: the audit length your owner device last saw (`vajra device "
        "list --json`, seen_head); a runtime backup older than it is refused",
    )
    c.add_argument(
        "--accept-loss",
        action="store_true",
        help="restore from a backup older than --min-audit-length anyway",
    )

    c = cmd("run", "serve the paired runtime and the local link until stopped", cmd_run)
    c.add_argument("--max-backoff", type=float, default=30.0, help="cap on redial delay (s)")

    c = cmd(
        "quota",
        "show or set how many nodes runtimes may create on this signer (the owner's bound; "
        f"default {DEFAULT_NODE_QUOTA}; kept in the sealed state and audited, so setting it "
        "needs the seed password; a running signer applies it at the next request)",
        cmd_quota,
    )
    c.add_argument("--nodes", type=int, default=None, help="the most nodes (0 or more)")

    cmd(
        "audit",
        "print the audit log; verify the state's MAC, its agreement with the log and the "
        "log's chain and signatures (needs the seed password)",
        cmd_audit,
    )
    cmd("status", "show the signer's configuration, nodes and daemon", cmd_status, password=False)

    c = cmd("add-owner", "enrol the first owner device (only while none is active)", cmd_add_owner)
    c.add_argument("--key-type", choices=["secp256k1", "p256"], required=True)
    c.add_argument("--pubkey", required=True, help="the device's compressed public key, hex")
    c.add_argument("--label", default="owner")
    add_rules_args(c)


def guard(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            rc: int = func(args)
            return rc
        except (VajraError, OSError, ValueError) as e:
            from vajra.cli_errors import report

            return report(e, bool(getattr(args, "json", False)))

    return run
