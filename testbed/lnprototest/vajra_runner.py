"""The Vajra Runner for lnprototest: the spec's scripted conformance framework drives a
Vajra node over real sockets.

Runs in the test bed's lnprototest virtualenv (lnprototest pins old crypto libraries), so
Vajra itself runs as a child process: the command in VAJRA_NODE_CMD (a JSON list; the
default starts the protocol core alone) must host one node whose identity secret is the
one lnprototest forces (`01`), and print one JSON ready line
`{"event": "ready", "nodes": [{"node_id", "host", "port"}]}` on stdout.

Channel, chain and payment events (fundchannel, add_blocks, addhtlc, ...) arrive with the
channel work; until then they raise NotImplementedError naming the event, so a scenario
that needs them fails loudly instead of passing vacuously.
"""

from __future__ import annotations

import json
import os
import tempfile
from concurrent import futures
from pathlib import Path
from typing import Any

import pyln.proto.wire
from lnprototest import Conn, EventError, KeySet, Runner
from lnprototest.event import Event, ExpectMsg, MustNotMsg

from vajra.testbed.vajra_process import VajraProcess  # on PYTHONPATH: the repository's src

TIMEOUT = float(os.environ.get("VAJRA_LNPT_TIMEOUT", "10"))
NODE_SECRET = "01"  # lnprototest's forced node key (runner.get_node_privkey)


class VajraConn(Conn):
    def __init__(self, connprivkey: str, host: str, port: int, node_id: str) -> None:
        super().__init__(connprivkey)
        self.connection = pyln.proto.wire.connect(
            pyln.proto.wire.PrivateKey(bytes.fromhex(self.connprivkey.to_hex())),
            pyln.proto.wire.PublicKey(bytes.fromhex(node_id)),
            host,
            port,
        )


class VajraRunner(Runner):
    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.proc: VajraProcess | None = None
        self.node: dict[str, Any] = {}
        self.executor = futures.ThreadPoolExecutor(max_workers=4)
        self.startup_flags: list[str] = []
        self.running = False

    # --- process ----------------------------------------------------------------------

    def _command(self) -> list[str]:
        cmd = os.environ.get("VAJRA_NODE_CMD")
        if not cmd:
            raise RuntimeError("VAJRA_NODE_CMD (JSON list) must name the Vajra node command")
        return [*json.loads(cmd), *self.startup_flags]

    def start(self) -> None:
        # Vajra's one launcher: its own process group, a bounded wait for the ready line,
        # stdin held open (the core node runs until it closes), stop = group SIGTERM.
        log = Path(tempfile.mkdtemp(prefix="vajra-lnpt-")) / "node.log"
        self.proc = VajraProcess((), argv=self._command(), log=log, name="vajra-node",
                                 stdin_pipe=True)  # fmt: skip
        self.proc.launch()
        self.node = self.proc.wait_ready("ready", 30)["nodes"][0]
        self.node.setdefault("node_id", self.node.get("id"))
        self.running = True

    def stop(self, print_logs: bool = False) -> None:
        for c in list(self.conns.values()):
            c.connection.connection.close()  # type: ignore[attr-defined]
        if self.proc is not None:
            self.proc.stop(10)  # closes stdin, SIGTERM to the group, SIGKILL stragglers
            self.proc = None
        self.running = False

    def restart(self) -> None:
        self.stop()
        super().restart()
        self.start()

    def is_running(self) -> bool:
        return self.running

    # --- connections --------------------------------------------------------------------

    def connect(self, _: Event, connprivkey: str) -> None:
        self.add_conn(
            VajraConn(connprivkey, self.node["host"], int(self.node["port"]), self.node["node_id"])
        )

    def recv(self, event: Event, conn: Conn, outbuf: bytes) -> None:
        try:
            conn.connection.send_message(outbuf)  # type: ignore[attr-defined]
        except (BrokenPipeError, ConnectionResetError):
            raise EventError(event, "Connection closed") from None

    def get_output_message(
        self, conn: Conn, event: ExpectMsg, timeout: float = TIMEOUT
    ) -> bytes | None:
        fut = self.executor.submit(conn.connection.read_message)  # type: ignore[attr-defined]
        try:
            return fut.result(timeout)
        except Exception:  # timeout, or the node closed the connection
            return None

    def check_error(self, event: Event, conn: Conn) -> str | None:
        super().check_error(event, conn)
        msg = self.get_output_message(conn, event)  # type: ignore[arg-type]
        return None if msg is None else msg.hex()

    def check_final_error(
        self, event: Event, conn: Conn, expected: bool, must_not_events: list[MustNotMsg]
    ) -> None:
        if expected:
            return
        # Nothing may be pending that a must-not rule forbids; then hang up.
        while True:
            binmsg = self.get_output_message(conn, event, timeout=0.5)  # type: ignore[arg-type]
            if binmsg is None:
                break
            for e in must_not_events:
                if e.matches(binmsg):
                    raise EventError(event, f"Got msg banned by {e}: {binmsg.hex()}")
            # BOLT 1 errors/warnings are what "expected" would have covered.
            if int.from_bytes(binmsg[:2], "big") in (1, 17):
                raise EventError(event, f"unexpected warning/error {binmsg.hex()}")
        conn.connection.connection.close()  # type: ignore[attr-defined]

    # --- node facts ---------------------------------------------------------------------

    def get_node_privkey(self) -> str:
        return NODE_SECRET

    def get_node_bitcoinkey(self) -> str:
        return "0000000000000000000000000000000000000000000000000000000000000010"

    def get_keyset(self) -> KeySet:
        # The keys lnprototest forces on implementations (its dev-force-channel-secrets).
        return KeySet(
            revocation_base_secret="0000000000000000000000000000000000000000000000000000000000000011",
            payment_base_secret="0000000000000000000000000000000000000000000000000000000000000012",
            delayed_payment_base_secret="0000000000000000000000000000000000000000000000000000000000000013",
            htlc_base_secret="0000000000000000000000000000000000000000000000000000000000000014",
            shachain_seed="FF" * 32,
        )

    def has_option(self, optname: str) -> str | None:
        return None

    def add_startup_flag(self, flag: str) -> None:
        self.startup_flags.append(f"--{flag}")

    # --- not yet: chain and channels (they come with the channel work) ------------------

    def _later(self, what: str) -> Any:
        raise NotImplementedError(f"Vajra Runner: {what} arrives with channel support")

    def getblockheight(self) -> int:
        return 0

    def trim_blocks(self, newheight: int) -> None:
        self._later("trim_blocks")

    def add_blocks(self, event: Event, txs: list[str], n: int) -> None:
        self._later("add_blocks")

    def expect_tx(self, event: Event, txid: str) -> None:
        self._later("expect_tx")

    def invoice(self, event: Event, amount: int, preimage: str) -> None:
        self._later("invoice")

    def accept_add_fund(self, event: Event) -> None:
        self._later("accept_add_fund")

    def fundchannel(
        self, event: Event, conn: Conn, amount: int, feerate: int = 0, expect_fail: bool = False
    ) -> None:
        self._later("fundchannel")

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
        self._later("init_rbf")

    def addhtlc(self, event: Event, conn: Conn, amount: int, preimage: str) -> None:
        self._later("addhtlc")

    def close_channel(self, channel_id: str) -> None:
        self._later("close_channel")
