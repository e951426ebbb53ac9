"""A real btcd full node on regtest, with a small JSON-RPC client (stdlib only).

RPC is served over TLS with btcd's self-generated `rpc.cert`: LND's btcd backend always
dials btcd with TLS (lnd `chainreg`: `DisableTLS: false`, and lnd has no `btcd.notls`),
so `--notls` would leave LND unable to connect. Our own client pins that certificate.

btcd has no wallet. Blocks pay their coinbase to `--miningaddr`, a startup flag, so
`set_mining_address` restarts btcd. btcd *deletes its regtest database on every start*
(btcd's main: "Removing regression test database"), so a restart is only allowed while
the chain is still at genesis: set the address (e.g. an LND wallet's, which needs btcd
running to exist) before mining the first block. Coinbase outputs mature after 100
blocks (`COINBASE_MATURITY`).
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import ssl
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from vajra.testbed import paths as tb_paths
from vajra.testbed.errors import DaemonFailed, TestbedError
from vajra.testbed.procs import ManagedProcess, free_port, wait_until

COINBASE_MATURITY = 100


class Btcd:
    """One btcd regtest node in its own temporary directory."""

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        mining_address: str | None = None,
        binary: Path | None = None,
        rpcuser: str = "vajra",
        start_timeout: float = 30.0,
    ) -> None:
        self.binary = binary or tb_paths.installed("btcd").btcd
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="vajra-btcd-"))
        self.mining_address = mining_address
        self.rpcuser = rpcuser
        # Random per run; never logged.
        self.rpcpass = secrets.token_hex(16)
        self.rpc_port = free_port()
        self.p2p_port = free_port()
        self.start_timeout = start_timeout
        self.proc: ManagedProcess | None = None
        self._ids = itertools.count(1)
        self._ssl: ssl.SSLContext | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def rpc_host(self) -> str:
        return f"127.0.0.1:{self.rpc_port}"

    @property
    def rpc_cert(self) -> Path:
        return self.workdir / "rpc.cert"

    def argv(self) -> list[str]:
        args = [
            str(self.binary),
            "--regtest",
            f"--datadir={self.workdir / 'data'}",
            f"--logdir={self.workdir / 'logs'}",
            f"--configfile={self.workdir / 'btcd.conf'}",
            f"--rpccert={self.rpc_cert}",
            f"--rpckey={self.workdir / 'rpc.key'}",
            f"--rpclisten={self.rpc_host}",
            f"--listen=127.0.0.1:{self.p2p_port}",
            "--nodnsseed",
            "--txindex",
            "--debuglevel=info",
        ]
        if self.mining_address:
            args.append(f"--miningaddr={self.mining_address}")
        return args

    def start(self) -> Btcd:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Credentials live in the config file, so no process list or log shows them.
        conf = self.workdir / "btcd.conf"
        conf.write_text(f"[Application Options]\nrpcuser={self.rpcuser}\nrpcpass={self.rpcpass}\n")
        conf.chmod(0o600)
        self.proc = ManagedProcess("btcd", self.argv(), workdir=self.workdir).start()
        wait_until(
            lambda: self.rpc_cert.is_file() and self.call("getblockcount") is not None,
            timeout=self.start_timeout,
            what="btcd RPC",
            proc=self.proc,
        )
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None
        self._ssl = None

    def set_mining_address(self, address: str) -> None:
        """Mine future blocks to `address` (restarts btcd; only while at genesis)."""
        if self.proc is not None:
            height = self.getblockcount()
            if height > 0:
                raise TestbedError(
                    f"btcd is at height {height}: restarting it to change the mining address "
                    "would wipe its regtest chain; set the address before mining"
                )
            self.mining_address = address
            self.stop()
            self.start()
        else:
            self.mining_address = address

    def __enter__(self) -> Btcd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- RPC -------------------------------------------------------------------------------

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            ctx = ssl.create_default_context(cafile=str(self.rpc_cert))
            # The certificate itself is pinned as the only CA; its names are btcd's choice.
            ctx.check_hostname = False
            self._ssl = ctx
        return self._ssl

    def call(self, method: str, *params: Any, timeout: float = 30.0) -> Any:
        """Call a btcd JSON-RPC method; raise `DaemonFailed` on an RPC error."""
        body = json.dumps(
            {"jsonrpc": "1.0", "id": next(self._ids), "method": method, "params": list(params)}
        ).encode()
        auth = base64.b64encode(f"{self.rpcuser}:{self.rpcpass}".encode()).decode()
        req = urllib.request.Request(
            f"https://{self.rpc_host}/",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._context()) as resp:
                reply = json.loads(resp.read())
        except urllib.error.HTTPError as e:
            # btcd answers RPC errors with HTTP 500 and a JSON body.
            try:
                reply = json.loads(e.read())
            except ValueError:
                raise DaemonFailed(f"{method}: HTTP {e.code}", name="btcd") from e
        if reply.get("error"):
            err = reply["error"]
            raise DaemonFailed(
                f"{method}: {err.get('message')} (code {err.get('code')})", name="btcd"
            )
        return reply.get("result")

    # -- helpers ---------------------------------------------------------------------------

    def getblockcount(self) -> int:
        return int(self.call("getblockcount"))

    def getbestblockhash(self) -> str:
        return str(self.call("getbestblockhash"))

    def getblock(self, block_hash: str, verbose: bool = True) -> Any:
        return self.call("getblock", block_hash, verbose)

    def getrawmempool(self) -> list[str]:
        return list(self.call("getrawmempool"))

    def getrawtransaction(self, txid: str, verbose: bool = True) -> Any:
        return self.call("getrawtransaction", txid, 1 if verbose else 0)

    def sendrawtransaction(self, tx_hex: str) -> str:
        return str(self.call("sendrawtransaction", tx_hex))

    def generate(self, n: int) -> list[str]:
        """Mine `n` blocks to the mining address; return their hashes."""
        if not self.mining_address:
            raise DaemonFailed("generate needs a mining address (set_mining_address)", name="btcd")
        return [str(h) for h in self.call("generate", n, timeout=60.0 + n)]

    def wait_mempool(self, count: int = 1, timeout: float = 30.0) -> list[str]:
        """Wait until the mempool holds at least `count` transactions; return their ids."""

        def enough() -> list[str] | None:
            pool = self.getrawmempool()
            return pool if len(pool) >= count else None

        return wait_until(
            enough,
            timeout=timeout,
            what=f"{count} transaction(s) in btcd's mempool",
            proc=self.proc,
        )
