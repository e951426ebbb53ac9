"""`start_runtime`: the one launcher of `vajra runtime` for the demo and the e2e/interop
tests (issue 10 item 5 merged the demo's `RuntimeProcess` and the tests' launcher here).

It wraps `VajraProcess.runtime` (process group, ready line, admin calls, stop, kill -9)
with what both callers need: the dev seed for tests (`--dev`, the seed in the
environment, never argv); or, with `signer_port`, the runtime embedding the signer hub
for a live `vajra signer run` (the runtime's environment then carries no `VAJRA_SIGNER*`
variable: it never sees the signer's password or seed); and the chain watcher's source
from a `Btcd` (`VAJRA_CHAIN_URL`, in the environment so the RPC password is not in argv).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from vajra.testbed.btcd import Btcd
from vajra.testbed.vajra_process import VajraProcess

DEV_SEED = bytes(range(32))
"""The tests' dev seed (`--dev`): node identities are reproducible across runs."""


def chain_url(btcd: Btcd) -> str:
    """`VAJRA_CHAIN_URL` for `btcd` (its RPC user, password and TLS certificate)."""
    b = btcd
    return f"btcd://{b.rpcuser}:{b.rpcpass}@127.0.0.1:{b.rpc_port}?cert={b.rpc_cert}"


def start_runtime(
    store: Path,
    *,
    create: int = 0,
    workers: int | None = 2,
    port: int | None = None,
    extra: tuple[str, ...] = (),
    seed: bytes = DEV_SEED,
    timeout: float = 120.0,
    dev: bool = True,
    env: Mapping[str, str] | None = None,
    signer_port: int | None = None,
    chain: Btcd | None = None,
    log: Path | None = None,
    metrics_port: int | None = 0,
) -> VajraProcess:
    """`vajra runtime` on `store`, ready (its ready line read), as a `VajraProcess`.

    `dev` (default): `--dev` with `seed` and `--create N`. `signer_port`: no `--dev`; the
    runtime embeds the signer hub on 127.0.0.1:`signer_port` and `VAJRA_SIGNER*` is
    removed from its environment. `dev=False` without `signer_port`: the hub's flags are
    the caller's (`extra`). `chain`: the chain watcher follows this btcd. `env`: the base
    environment (default: ours). `workers`/`metrics_port` None: the runtime's defaults (a
    worker per core; no metrics listener). `log`: default STORE.stderr.log.
    Raises `DaemonFailed` / `TestbedTimeout` (vajra.testbed.errors) if it does not start.
    """
    environ = dict(env if env is not None else os.environ)
    args = list(extra)
    if signer_port is not None:
        dev = False
        environ = {k: v for k, v in environ.items() if not k.startswith("VAJRA_SIGNER")}
        args = ["--signer-port", str(signer_port), "--signer-host", "127.0.0.1", *args]
    if chain is not None:
        environ["VAJRA_CHAIN_URL"] = chain_url(chain)
    return VajraProcess.runtime(
        store, port=port, workers=workers, metrics_port=metrics_port,
        create=create, dev_seed=seed if dev else None,
        extra=args, env=environ, log=log, timeout=timeout,
    )  # fmt: skip
