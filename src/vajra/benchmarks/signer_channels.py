"""Channel request figures for `vajra bench signer` (decision 0017).

- channel_requests_per_s_cpu_sealed: `SignerCore.channel_request` per CPU second on a
  sealed SQLite state without fsync: request bytes decoded, fencing, the channel record
  loaded and decoded, channel secrets derived from the key tree, the counterparty
  commitment built and signed (a retry of the same commitment, so every iteration
  signs), the record encoded and written back under the MAC, the signed audit entry.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from vajra.bitcoin.tx import OutPoint
from vajra.channel import signer_codec as codec
from vajra.channel import signer_io as io
from vajra.channel.keys import ChannelSecrets
from vajra.channel.spec import ChannelParams, CommitSpec, Side, SideParams
from vajra.crypto.hashes import sha256
from vajra.signer.core import SignerCore
from vajra.signer.keys import SignerKeys
from vajra.signer.state import SqliteState

_T0 = 1_800_000_000
_CAPACITY_SAT = 1_000_000


def channel_requests_per_s(seconds: float) -> float:
    """See the module docstring (commitment 0: no HTLC outputs)."""
    keys = SignerKeys(bytes(range(64)))
    peer = ChannelSecrets(*(sha256(b"bench-peer" + bytes([i])) for i in range(6)))
    side = SideParams(546, 10_000, 1_000, 30, 500_000_000, 144)
    with tempfile.TemporaryDirectory() as d:
        st = SqliteState(Path(d) / "s.db", durable=False, key=keys.state_key())
        core = SignerCore(keys, st)
        (node,) = core.create_nodes(1, now=_T0)
        index, local = core.new_channel(node, epoch=1, now=_T0)
        params = ChannelParams(sha256(b"c"), OutPoint(sha256(b"f"), 0), _CAPACITY_SAT,
                               Side.LOCAL, True, (side, side), (local.basepoints, peer.basepoints()))  # fmt: skip
        spec = CommitSpec(2_500, (_CAPACITY_SAT * 1000, 0), ())
        assert isinstance(
            core.channel_request(node, index, io.SetupChannel(params, spec), epoch=1, now=_T0),
            io.ChannelSetUp,
        )
        # Commitment 0 as set up (the bench signs it again and again: a retried request).
        request = codec.encode_request(
            io.SignCounterpartyCommitment(0, spec, peer.per_commitment_point(0), None)
        )
        n, start = 0, time.process_time()
        while time.process_time() - start < seconds:
            r = core.channel_request(node, index, request, epoch=1, now=_T0 + n)
            assert isinstance(r, io.CounterpartySigned)
            n += 1
        return n / (time.process_time() - start)
