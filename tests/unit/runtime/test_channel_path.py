"""A worker's channel request end to end inside one process (decision 0017): the
worker's `SupervisorSignerClient` over a real SOCK_SEQPACKET pair, `Supervisor.resolve`
(node -> signer from the store), the node's `RemoteSigner` encoding link frames, and
the signer's `LinkHandler` on a real `SignerCore` answering them. The request and the
result cross the supervisor as opaque bytes; fencing comes back as `PolicyViolation`,
a policy refusal as a `SignerRefused` result."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.signer.channel_world import FEERATE, channel_params, sealed_core
from tests.unit.signer.helpers import T0
from vajra.channel import signer_io as io
from vajra.channel.spec import CommitSpec
from vajra.errors import PolicyViolation
from vajra.runtime import signer_channel as sc
from vajra.runtime.remote_signer import RemoteSigner
from vajra.runtime.supervisor import Supervisor
from vajra.signer import link_proto as lp
from vajra.signer.link_server import LinkHandler


class _Link:
    """Stands in for `FramedLink`: frames go through their bytes to the handler."""

    def __init__(self, handler: LinkHandler, rs: RemoteSigner) -> None:
        self.handler, self.rs = handler, rs

    def send(self, frame: lp.Frame) -> None:
        answer = lp.decode(self.handler.handle_bytes(frame.encode(), T0))
        asyncio.get_running_loop().call_soon(self.rs.on_frame, answer)


@dataclass
class _Row:
    signer_id: int


class _Store:
    def __init__(self, node_id: bytes) -> None:
        self.node_id = node_id

    def get_node(self, node_id: bytes) -> _Row | None:
        return _Row(1) if node_id == self.node_id else None


class _Hub:
    def __init__(self, rs: RemoteSigner) -> None:
        self.rs = rs

    def signer(self, sid: int) -> RemoteSigner:
        if sid != 1:
            raise KeyError(sid)
        return self.rs


def test_worker_to_signer_through_the_supervisor(tmp_path: Path) -> None:
    core = sealed_core(tmp_path / "state.db")
    (node,) = core.create_nodes(1, now=T0)
    handler = LinkHandler(core)

    async def main() -> None:
        rs = RemoteSigner(1, b"")
        rs.attach(_Link(handler, rs), (node,))  # type: ignore[arg-type]
        sup = Supervisor.__new__(Supervisor)  # only what `resolve` reads
        sup.hub, sup.store = _Hub(rs), _Store(node)  # type: ignore[assignment]
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        server = sc.ChannelServer([a], sup.resolve)
        server.start()
        worker = sc.SupervisorSignerClient(b.detach(), timeout=60.0)

        index, keys = await worker.new_channel(node, 2)
        params = channel_params(keys.basepoints)
        spec = CommitSpec(FEERATE, (params.capacity_sat * 1000, 0), ())
        assert await worker.channel_request(node, 2, index, io.SetupChannel(params, spec)) == (
            io.ChannelSetUp()
        )
        r = await worker.channel_request(node, 2, index, io.RevokeHolderCommitment(0))
        assert isinstance(r, io.SignerRefused)
        assert r.reason == "policy-revoke-new-commitment-signed"
        with pytest.raises(PolicyViolation, match="stale_epoch"):
            await worker.channel_request(node, 1, index, io.RevokeHolderCommitment(0))
        with pytest.raises(PolicyViolation, match="unknown_node"):
            await worker.new_channel(bytes.fromhex("02" + "11" * 32), 2)
        server.close()
        a.close()

    asyncio.run(main())
    kinds = [(e.kind, e.outcome) for e in core.state.audit_entries()[-4:]]
    assert kinds == [("new_channel", "approve"), ("channel", "approve"),
                     ("channel", "deny"), ("channel", "deny")]  # fmt: skip
