"""A worker's configuration never shows a secret; a runtime that cannot start says so typed."""

from __future__ import annotations

from vajra.errors import VajraError
from vajra.runtime.supervisor import RuntimeStartError
from vajra.runtime.worker import WorkerConfig

SEED = bytes(range(32)).hex()
SECRET = (bytes(31) + b"\x01").hex()


def _config(signer: dict[str, str]) -> WorkerConfig:
    return WorkerConfig(
        index=0, workers=2, port=9735, pool="127.0.0.0/8", store="/x/s.db", runtime_id="rt",
        keys_fd=3, counters_fd=4, states_fd=5, signer=signer,
    )  # fmt: skip


def test_repr_hides_the_dev_seed_and_a_forced_secret() -> None:
    for signer in (
        {"kind": "dev", "seed": SEED, "state": "/x/d"},
        {"kind": "fixed", "secret": SECRET},
    ):
        cfg = _config(signer)
        for text in (repr(cfg), str(cfg), f"{cfg!r}"):
            assert SEED not in text and SECRET not in text, text
            assert "runtime_id='rt'" in text  # the rest is still shown
        # ... and still travels to the worker (on its stdin, never the command line).
        assert WorkerConfig.from_json(cfg.to_json()).signer == signer


def test_runtime_start_error_is_a_vajra_error() -> None:
    assert issubclass(RuntimeStartError, VajraError)
