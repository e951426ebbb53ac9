"""The Vajra Runner for lnprototest: the spec's scripted conformance framework drives a
Vajra node over real sockets, with scenarios written as upstream lnprototest writes them.

Runs in the test bed's lnprototest virtualenv (lnprototest pins old crypto libraries), so
Vajra itself runs as a child process: the command in VAJRA_NODE_CMD (a JSON list) must
host one node whose identity secret is the one lnprototest forces (`01`), and print one
JSON ready line `{"event": "ready", "nodes": [{"node_id", "host", "port"}], "features":
{name: "even"|"odd"}}` on stdout (`vajra runtime --dev-node-secret 01` does).

The contract, method by method, as lnprototest's own `Runner` base class and its
c-lightning runner define it (lnprototest 0.0.7):

- connections: `connect` dials with pyln-proto's BOLT 8; `recv` sends a message (a
  closed connection is an `EventError` naming what the node said last);
  `get_output_message` returns the next message or None (timeout, or closed). A read
  that timed out stays pending and its message is returned by the next read, so no
  message is lost between events.
- errors and disconnects: `check_error` returns the next message's hex (`ExpectError`
  then checks it is an `error`); for `ExpectDisconnect` it returns None once the node
  has closed the connection, *after* any `warning`/`error` it sent first (BOLT 1: a
  node explains a fatal rule, then closes), and a description if the node stays up.
  `check_final_error` (a connection without an expected error) injects an invalid frame
  so the node hangs up after everything before it, then reads the rest: a message a
  `MustNotMsg` bans, or an `error`, fails the event.
- options: `has_option(name)` answers "even"/"odd"/None for the features the node
  advertises in `init` (the ready line's `features`), by BOLT 9 name and by the
  `option_`-prefixed names c-lightning's `--list-features-only` uses
  (`option_gossip_queries`, `option_var_onion_optin`, ...).
- chain, through a btcd regtest started on first use and set up as lnprototest's
  bitcoind backend does: block 1 is lnprototest's own (its coinbase pays the key
  `tx_spendable` spends), then 100 blocks, height 101. `getblockheight` is btcd's
  height, `add_blocks` sends the transactions then mines, `trim_blocks` invalidates
  above a height, `expect_tx` waits for the txid in btcd's mempool; `restart` resets
  the chain to 101 when a scenario changed it.
- channels (channel mode: VAJRA_DEV_SEED set): the node command is a `vajra runtime
  --dev --create 1` on that dev seed; every `start` gives it a fresh store (`--store`)
  and the Runner's btcd (VAJRA_CHAIN_URL, btcd started first), so the node follows
  the chain and its first channel is its channel index 0. `get_node_privkey`,
  `get_node_bitcoinkey` and `get_keyset` are that node's identity key and channel 0's
  funding key, basepoint secrets and per-commitment seed, derived from the seed by
  Vajra's own key tree (`vajra_keys.py`, run with Vajra's Python): lnprototest then
  predicts what the node must send, nothing is forced into the node. `runner_features`
  (the `init` features lnprototest's helpers send) offers what the node's channels
  rely on. Without VAJRA_DEV_SEED (the BOLT 1 scenarios' fixed-identity node, which
  holds no channel keys) the key hooks raise `ChannelsNotSupported`.
- hooks the node cannot serve yet -- `fundchannel` (the runtime has no funder open
  command yet), `init_rbf`, `accept_add_fund`, `addhtlc`, `invoice`, `close_channel`
  -- raise `ChannelsNotSupported`, an `EventError` a scenario sees like any failed
  event (a `TryAll` moves on), naming the hook.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent import futures
from pathlib import Path
from typing import Any

import pyln.proto.wire
from lnprototest import Conn, EventError, KeySet, Runner, bitfield
from lnprototest.event import Event, ExpectDisconnect, ExpectMsg, MustNotMsg

from vajra.testbed.vajra_process import VajraProcess  # on PYTHONPATH: the repository's src

TIMEOUT = float(os.environ.get("VAJRA_LNPT_TIMEOUT", "10"))
NODE_SECRET = "01"  # lnprototest's forced node key (runner.get_node_privkey)
WARNING, ERROR = 1, 17
# lnprototest's bitcoind backend submits this block 1 (coinbase to the key behind
# `tx_spendable`, lnprototest.utils.bitcoin_utils), then mines 100 blocks.
LNPT_BLOCK_1 = (
    "0000002006226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f84591a56720aabc8"
    "023cecf71801c5e0f9d049d0c550ab42412ad12a67d89f3a3dbb6c60ffff7f20040000000102000000000101"
    "0000000000000000000000000000000000000000000000000000000000000000ffffffff03510101ffffffff"
    "0200f2052a0100000016001419f5016f07fe815f611df3a2a0802dbd74e634c40000000000000000266a24aa"
    "21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9012000000000000000"
    "0000000000000000000000000000000000000000000000000000000000"
)
START_HEIGHT = 101
# BIP 173's regtest P2WPKH test vector: btcd needs a mining address; nobody spends it.
BURN_ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
# BOLT 9 odd bits: var_onion_optin 9, option_static_remotekey 13, option_channel_type 45.
PEER_FEATURES = (9, 13, 45)
_CLOSED = b""  # `_read` result for a closed connection


class ChannelsNotSupported(EventError):
    """A Runner hook the Vajra node under test cannot serve (see the module docstring)."""

    def __init__(self, event: Event | None, hook: str, why: str = "") -> None:
        why = why or (
            "this node holds no channel keys (fixed identity); "
            "channel scenarios run in channel mode (VAJRA_DEV_SEED)"
        )
        super().__init__(event, f"Vajra Runner: {hook} needs a channel: {why}")  # type: ignore[arg-type]


class VajraConn(Conn):
    def __init__(self, connprivkey: str, host: str, port: int, node_id: str) -> None:
        super().__init__(connprivkey)
        self.connection = pyln.proto.wire.connect(
            pyln.proto.wire.PrivateKey(bytes.fromhex(self.connprivkey.to_hex())),
            pyln.proto.wire.PublicKey(bytes.fromhex(node_id)),
            host,
            port,
        )
        self.pending: futures.Future[bytes] | None = None
        self.closed = False


def _btcd_class() -> Any:
    """vajra.testbed.btcd (stdlib only) from the repository this runner lives in."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    from vajra.testbed.btcd import Btcd

    return Btcd


class VajraRunner(Runner):
    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.proc: VajraProcess | None = None
        self.node: dict[str, Any] = {}
        self.info: dict[str, Any] = {}
        """The node command's ready line."""
        self.features: dict[str, str] = {}
        self.executor = futures.ThreadPoolExecutor(max_workers=4)
        self.startup_flags: list[str] = []
        self.running = False
        self._btcd: Any = None
        self.channels = bool(os.environ.get("VAJRA_DEV_SEED"))
        """Channel mode: a `vajra runtime --dev` node on the dev seed VAJRA_DEV_SEED,
        following this Runner's btcd; its keys derived from that seed (`vajra_keys`)."""
        self._keys: dict[str, str] | None = None

    # --- process ----------------------------------------------------------------------

    def _command(self, workdir: Path) -> list[str]:
        cmd = os.environ.get("VAJRA_NODE_CMD")
        if not cmd:
            raise RuntimeError("VAJRA_NODE_CMD (JSON list) must name the Vajra node command")
        extra = ["--store", str(workdir / "store.db")] if self.channels else []
        return [*json.loads(cmd), *extra, *self.startup_flags]

    def start(self) -> None:
        # Vajra's one launcher: its own process group, a bounded wait for the ready line,
        # stdin held open (the core node runs until it closes), stop = group SIGTERM.
        workdir = Path(tempfile.mkdtemp(prefix="vajra-lnpt-"))
        env = dict(os.environ)
        if self.channels:
            # A fresh store and signer state for every start (a TryAll branch restarts
            # the node): the node is index 0 of the dev seed, its first channel index 0.
            # The chain (btcd) runs before the node, which follows it from the start.
            env["VAJRA_CHAIN_URL"] = self.chain_url
        self.proc = VajraProcess((), argv=self._command(workdir), log=workdir / "node.log",
                                 name="vajra-node", stdin_pipe=True, env=env)  # fmt: skip
        self.proc.launch()
        info = self.info = self.proc.wait_ready("ready", 120)  # generous: a loaded CI machine
        self.node = info["nodes"][0]
        self.features = dict(info.get("features", {}))
        self.running = True

    def stop(self, print_logs: bool = False) -> None:
        for c in list(self.conns.values()):
            with contextlib.suppress(OSError):
                c.connection.connection.close()  # type: ignore[attr-defined]
        if self.proc is not None:
            self.proc.stop(10)  # closes stdin, SIGTERM to the group, SIGKILL stragglers
            self.proc = None
        if self._btcd is not None:
            self._btcd.stop()
            self._btcd = None
        self.running = False

    def restart(self) -> None:
        # The node restarts for every TryAll branch; the chain only if a scenario moved
        # it off lnprototest's starting point (as lnprototest's bitcoind backend does).
        btcd, self._btcd = self._btcd, None
        self.stop()
        if btcd is not None:
            if btcd.getblockcount() == START_HEIGHT and not btcd.getrawmempool():
                self._btcd = btcd
            else:
                btcd.stop()
        super().restart()
        self.start()

    def is_running(self) -> bool:
        return self.running

    # --- connections --------------------------------------------------------------------

    def connect(self, _: Event, connprivkey: str) -> None:
        self.add_conn(
            VajraConn(connprivkey, self.node["host"], int(self.node["port"]), self.node["node_id"])
        )

    def _read(self, conn: Conn, timeout: float) -> bytes | None:
        """The next message; `_CLOSED` once the node closed the connection; None on a
        timeout (the read stays pending for the next call)."""
        c: VajraConn = conn  # type: ignore[assignment]
        if c.closed:
            return _CLOSED
        if c.pending is None:
            c.pending = self.executor.submit(c.connection.read_message)  # type: ignore[attr-defined]
        try:
            msg = c.pending.result(timeout)
        except futures.TimeoutError:
            return None
        except Exception:  # EOF ("Short read"), reset: pyln-proto raises
            c.pending, c.closed = None, True
            return _CLOSED
        c.pending = None
        return bytes(msg)

    def recv(self, event: Event, conn: Conn, outbuf: bytes) -> None:
        try:
            conn.connection.send_message(outbuf)  # type: ignore[attr-defined]
        except OSError:
            said = self._read(conn, 1.0)
            what = f" after sending {said.hex()}" if said else ""
            raise EventError(event, f"Connection closed{what}") from None

    def get_output_message(
        self, conn: Conn, event: ExpectMsg, timeout: float = TIMEOUT
    ) -> bytes | None:
        msg = self._read(conn, timeout)
        return msg or None

    def check_error(self, event: Event, conn: Conn) -> str | None:
        super().check_error(event, conn)
        msg = self._read(conn, TIMEOUT)
        if not isinstance(event, ExpectDisconnect):
            return msg.hex() if msg else None
        # BOLT 1: a node failing the connection may send `warning`/`error` first.
        while msg and int.from_bytes(msg[:2], "big") in (WARNING, ERROR):
            msg = self._read(conn, TIMEOUT)
        if msg == _CLOSED:
            return None
        return "still connected" if msg is None else msg.hex()

    def check_final_error(
        self, event: Event, conn: Conn, expected: bool, must_not_events: list[MustNotMsg]
    ) -> None:
        if not expected:
            # An invalid frame (as lnprototest's c-lightning runner sends): the node
            # hangs up after handling everything before it, so what we read next is
            # everything it had to say.
            with contextlib.suppress(OSError):
                conn.connection.connection.send(bytes(18))  # type: ignore[attr-defined]
            while (binmsg := self._read(conn, TIMEOUT)) is not None and binmsg != _CLOSED:
                for e in must_not_events:
                    if e.matches(binmsg):
                        raise EventError(event, f"Got msg banned by {e}: {binmsg.hex()}")
                if int.from_bytes(binmsg[:2], "big") == ERROR:
                    raise EventError(event, f"Got error msg: {binmsg.hex()}")
        with contextlib.suppress(OSError):
            conn.connection.connection.close()  # type: ignore[attr-defined]

    # --- node facts ---------------------------------------------------------------------

    def _node_keys(self) -> dict[str, str]:
        """The node's identity secret and its first channel's secrets, derived from the
        dev seed by Vajra's own key tree (`vajra_keys`, run with Vajra's Python)."""
        if self._keys is None:
            python = json.loads(os.environ["VAJRA_NODE_CMD"])[0]
            here = Path(__file__).resolve().parent
            env = dict(
                os.environ, PYTHONPATH=os.pathsep.join([str(here), str(here.parents[1] / "src")])
            )
            out = subprocess.run([python, "-m", "vajra_keys", "0", "0"], env=env, cwd=here,
                                 capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
            self._keys = json.loads(out.stdout)
        return self._keys

    def get_node_privkey(self) -> str:
        return self._node_keys()["node"] if self.channels else NODE_SECRET

    def get_node_bitcoinkey(self) -> str:
        if not self.channels:
            raise ChannelsNotSupported(None, "get_node_bitcoinkey")
        return self._node_keys()["funding"]

    def get_keyset(self) -> KeySet:
        if not self.channels:
            raise ChannelsNotSupported(None, "get_keyset")
        k = self._node_keys()
        return KeySet(
            revocation_base_secret=k["revocation_base"],
            payment_base_secret=k["payment_base"],
            delayed_payment_base_secret=k["delayed_payment_base"],
            htlc_base_secret=k["htlc_base"],
            shachain_seed=k["shachain_seed"],
        )

    def has_option(self, optname: str) -> str | None:
        """None if the node does not advertise the feature, else "even" or "odd"."""
        if optname in self.features:
            return self.features[optname]
        if optname.startswith("option_") and optname[7:] in self.features:
            return self.features[optname[7:]]  # c-lightning's `option_gossip_queries`
        return None

    def runner_features(
        self, additional_features: list[int] | None = None, globals: bool = False
    ) -> str:
        """The `init` features lnprototest's helpers send: what the node's channels rely
        on (BOLT 9 var_onion_optin, option_static_remotekey, option_channel_type, as
        optional bits) plus `additional_features`; no global features."""
        if globals:
            return bitfield(*additional_features) if additional_features else ""
        return bitfield(*PEER_FEATURES, *(additional_features or []))

    def wait_asleep(self, event: Event, timeout: float = 120.0) -> None:
        """Wait until the runtime reports its node sleeping (Prometheus `vajra_nodes`
        gauge on the ready line's `metrics_port`; the command must pass
        `--metrics-port 0`): for scenarios about a hibernated node."""
        port = self.info.get("metrics_port")
        if not port:
            raise EventError(event, "the node command serves no metrics (--metrics-port 0)")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                text = r.read().decode()
            if 'vajra_nodes{state="sleeping"} 1' in text.splitlines():
                return
            time.sleep(0.2)
        raise EventError(event, f"the node did not fall asleep within {timeout} s")

    def add_startup_flag(self, flag: str) -> None:
        self.startup_flags.append(f"--{flag}")

    # --- chain: btcd regtest --------------------------------------------------------------

    @property
    def chain(self) -> Any:
        if self._btcd is None:
            btcd = _btcd_class()(mining_address=BURN_ADDRESS)
            btcd.start()
            try:
                btcd.call("submitblock", LNPT_BLOCK_1)
                btcd.generate(START_HEIGHT - 1)
            except BaseException:
                btcd.stop()
                raise
            self._btcd = btcd
        return self._btcd

    @property
    def chain_url(self) -> str:
        """The btcd RPC URL `vajra runtime --chain` takes (given in VAJRA_CHAIN_URL)."""
        b = self.chain
        return f"btcd://{b.rpcuser}:{b.rpcpass}@127.0.0.1:{b.rpc_port}?cert={b.rpc_cert}"

    def getblockheight(self) -> int:
        return int(self.chain.getblockcount())

    def trim_blocks(self, newheight: int) -> None:
        self.chain.call("invalidateblock", self.chain.call("getblockhash", newheight + 1))

    def add_blocks(self, event: Event, txs: list[str], n: int) -> None:
        for tx in txs:
            try:
                self.chain.sendrawtransaction(tx)
            except Exception as e:  # btcd's RPC error: the scenario's tx is invalid
                raise EventError(event, f"btcd refused the transaction: {e}") from None
        self.chain.generate(n)

    def expect_tx(self, event: Event, txid: str) -> None:
        # lnprototest gives the txid in internal byte order; RPCs show it reversed.
        want = bytes.fromhex(txid)[::-1].hex()
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if want in self.chain.getrawmempool():
                return
            time.sleep(0.2)
        raise EventError(
            event, f"Did not broadcast the txid {want}, just {self.chain.getrawmempool()}"
        )

    # --- channel hooks the node cannot serve yet -----------------------------------------

    def invoice(self, event: Event, amount: int, preimage: str) -> None:
        raise ChannelsNotSupported(event, "invoice")

    def accept_add_fund(self, event: Event) -> None:
        raise ChannelsNotSupported(event, "accept_add_fund")

    def fundchannel(
        self, event: Event, conn: Conn, amount: int, feerate: int = 0, expect_fail: bool = False
    ) -> None:
        why = "the runtime has no funder open command yet" if self.channels else ""
        raise ChannelsNotSupported(event, "fundchannel", why)

    def init_rbf(
        self,
        event: Event,
        conn: Conn,
        channel_id: str,
        amount: int,
        utxo_txid: str,
        utxo_outnum: int,
        feerate: int,
    ) -> None:
        raise ChannelsNotSupported(event, "init_rbf")

    def addhtlc(self, event: Event, conn: Conn, amount: int, preimage: str) -> None:
        raise ChannelsNotSupported(event, "addhtlc")

    def close_channel(self, channel_id: str) -> None:
        raise ChannelsNotSupported(None, "close_channel")
