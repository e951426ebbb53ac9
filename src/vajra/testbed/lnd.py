"""A real LND node on regtest, backed by the test bed's btcd, driven through `lncli`.

LND dials btcd's RPC with TLS (it has no option to do otherwise), so it is given btcd's
`rpc.cert`. Credentials go into `lnd.conf` in the node's directory, not the command line,
so they appear in no process list or log. The wallet is created unencrypted at start
(`--noseedbackup`); REST is off; p2p and gRPC listen on free loopback ports.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from vajra.testbed import paths as tb_paths
from vajra.testbed.btcd import Btcd
from vajra.testbed.errors import DaemonFailed
from vajra.testbed.procs import ManagedProcess, free_port, run, wait_until


class Lnd:
    """One LND node in its own temporary directory."""

    def __init__(
        self,
        btcd: Btcd,
        workdir: Path | None = None,
        *,
        alias: str = "vajra-lnd",
        extra_args: tuple[str, ...] = (),
        start_timeout: float = 90.0,
    ) -> None:
        tp = tb_paths.installed("lnd")
        self.binary = tp.lnd
        self.lncli_binary = tp.lncli
        self.btcd = btcd
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="vajra-lnd-"))
        self.alias = alias
        self.extra_args = extra_args
        self.start_timeout = start_timeout
        self.p2p_port = free_port()
        self.rpc_port = free_port()
        self.proc: ManagedProcess | None = None
        self._node_id: str | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def lnddir(self) -> Path:
        return self.workdir / "lnd"

    @property
    def p2p_host(self) -> str:
        return f"127.0.0.1:{self.p2p_port}"

    def _write_conf(self) -> Path:
        conf = self.lnddir / "lnd.conf"
        conf.write_text(
            "[Application Options]\n"
            "\n[btcd]\n"
            f"btcd.rpchost={self.btcd.rpc_host}\n"
            f"btcd.rpcuser={self.btcd.rpcuser}\n"
            f"btcd.rpcpass={self.btcd.rpcpass}\n"
            f"btcd.rpccert={self.btcd.rpc_cert}\n"
        )
        conf.chmod(0o600)
        return conf

    def argv(self, conf: Path) -> list[str]:
        return [
            str(self.binary),
            f"--lnddir={self.lnddir}",
            f"--configfile={conf}",
            "--bitcoin.regtest",
            "--bitcoin.node=btcd",
            "--noseedbackup",
            "--norest",
            "--nobootstrap",
            f"--listen={self.p2p_host}",
            f"--rpclisten=127.0.0.1:{self.rpc_port}",
            f"--alias={self.alias}",
            "--accept-keysend",
            "--trickledelay=50",
            "--debuglevel=info",
            *self.extra_args,
        ]

    def start(self) -> Lnd:
        self.lnddir.mkdir(parents=True, exist_ok=True)
        conf = self._write_conf()
        self.proc = ManagedProcess(
            f"lnd-{self.alias}", self.argv(conf), workdir=self.workdir
        ).start()
        info = wait_until(
            lambda: self.cli("getinfo", timeout=10),
            timeout=self.start_timeout,
            what=f"lnd {self.alias} RPC (getinfo)",
            interval=0.5,
            proc=self.proc,
        )
        self._node_id = str(info["identity_pubkey"])
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=20)
            self.proc = None

    def __enter__(self) -> Lnd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- lncli -----------------------------------------------------------------------------

    def cli(self, *args: str | int, timeout: float = 60.0) -> dict[str, Any]:
        """Run `lncli <args>` against this node and parse its JSON output."""
        out = run(
            [
                self.lncli_binary,
                f"--lnddir={self.lnddir}",
                f"--rpcserver=127.0.0.1:{self.rpc_port}",
                "--network=regtest",
                *(str(a) for a in args),
            ],
            timeout=timeout,
            name=f"lncli({self.alias})",
        )
        out = out.strip()
        if not out:
            return {}
        try:
            parsed = json.loads(out)
        except ValueError as e:
            raise DaemonFailed(f"lncli {args[0]}: not JSON: {out[:500]}", name=self.alias) from e
        if not isinstance(parsed, dict):
            return {"result": parsed}
        return parsed

    # -- helpers ---------------------------------------------------------------------------

    @property
    def node_id(self) -> str:
        if self._node_id is None:
            raise DaemonFailed("not started", name=self.alias)
        return self._node_id

    @property
    def uri(self) -> str:
        return f"{self.node_id}@{self.p2p_host}"

    def getinfo(self) -> dict[str, Any]:
        return self.cli("getinfo")

    def wait_synced(self, timeout: float = 180.0) -> dict[str, Any]:
        """Wait until LND reports synced_to_chain at btcd's current height."""

        def synced() -> dict[str, Any] | None:
            info = self.getinfo()
            height = self.btcd.getblockcount()
            ok = info.get("synced_to_chain") and int(info.get("block_height", -1)) == height
            return info if ok else None

        return wait_until(
            synced, timeout=timeout, what=f"{self.alias} synced to chain", proc=self.proc
        )

    def new_address(self, kind: str = "p2wkh") -> str:
        return str(self.cli("newaddress", kind)["address"])

    def wallet_balance(self) -> dict[str, Any]:
        return self.cli("walletbalance")

    def confirmed_balance_sat(self) -> int:
        return int(self.wallet_balance().get("confirmed_balance", 0))

    def connect(self, uri: str, timeout: float = 30.0) -> dict[str, Any]:
        """Connect to `pubkey@host:port` (waits for the connection, or fails)."""
        return self.cli("connect", uri, timeout=timeout)

    def list_peers(self) -> list[dict[str, Any]]:
        return list(self.cli("listpeers").get("peers", []))

    def peer_ids(self) -> set[str]:
        return {str(p["pub_key"]) for p in self.list_peers()}

    def open_channel(
        self, pubkey: str, local_amt_sat: int, *, push_amt_sat: int = 0, sat_per_vbyte: int = 1
    ) -> str:
        """Open a channel to a connected peer; return the funding txid."""
        res = self.cli(
            "openchannel",
            f"--node_key={pubkey}",
            f"--local_amt={local_amt_sat}",
            f"--push_amt={push_amt_sat}",
            f"--sat_per_vbyte={sat_per_vbyte}",
        )
        return str(res["funding_txid"])

    def list_channels(self, *, active_only: bool = False) -> list[dict[str, Any]]:
        args = ["listchannels"] + (["--active_only"] if active_only else [])
        return list(self.cli(*args).get("channels", []))

    def pending_channels(self) -> dict[str, Any]:
        return self.cli("pendingchannels")

    def channel_balance(self) -> dict[str, Any]:
        return self.cli("channelbalance")

    def local_balance_msat(self) -> int:
        """Sum of local balances over open channels, in msat (integer)."""
        bal = self.channel_balance()
        return int(bal.get("local_balance", {}).get("msat", 0))

    def remote_balance_msat(self) -> int:
        bal = self.channel_balance()
        return int(bal.get("remote_balance", {}).get("msat", 0))

    def add_invoice(self, amt_msat: int, memo: str = "") -> dict[str, Any]:
        """Create an invoice; the reply has `payment_request` and `r_hash`."""
        args: list[str | int] = ["addinvoice", f"--amt_msat={amt_msat}"]
        if memo:
            args.append(f"--memo={memo}")
        return self.cli(*args)

    def wait_route(self, pubkey: str, amt_msat: int, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until this node's router finds a route to `pubkey` for `amt_msat`.

        `listchannels --active_only` can report a new channel a moment before the router's
        graph holds it; paying in that gap fails with NO_ROUTE.
        """

        def route() -> dict[str, Any] | None:
            res = self.cli("queryroutes", f"--dest={pubkey}", f"--amt={-(-amt_msat // 1000)}")
            return res if res.get("routes") else None

        return wait_until(route, timeout=timeout, what=f"{self.alias}: a route to {pubkey[:16]}..")

    def pay_invoice(self, bolt11: str, *, timeout_s: int = 60) -> dict[str, Any]:
        """Pay an invoice and wait for the outcome; raise unless it SUCCEEDED."""
        res = self.cli(
            "payinvoice",
            "--force",
            "--json",
            f"--timeout={timeout_s}s",
            bolt11,
            timeout=timeout_s + 30,
        )
        if res.get("status") != "SUCCEEDED":
            raise DaemonFailed(
                f"payment {res.get('status')}: {res.get('failure_reason')}", name=self.alias
            )
        return res

    def lookup_invoice(self, r_hash: str) -> dict[str, Any]:
        return self.cli("lookupinvoice", r_hash)
