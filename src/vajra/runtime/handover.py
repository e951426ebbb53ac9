"""Handing a live connection to the worker that owns its node.

Any worker completes handshakes and answers for sleeping nodes, but a node's awake
state has one owner: worker `index % W`. When a message must wake a node owned by
another worker, the accepting worker moves the connection there: it stops reading,
exports the `PeerConnection` (`SessionState`: BOLT 8 keys, nonces and chaining keys of
both directions, undelivered bytes, the decrypted messages not yet handled, the peer's
id and features) and sends it with a duplicate of the socket's descriptor (SCM_RIGHTS)
over the owner's inbox, a `SOCK_SEQPACKET` Unix socket pair the supervisor made (one
message per handover, atomic, never interleaved between senders). The owner resumes the
session on the same TCP connection; the peer notices nothing.

This module is the pure part: the message format. Layout (big-endian):

    "VJHO" version(1) index(8) remote_pubkey(33)
    nfeatures(2) feature(2)*
    send: key(32) ck(32) nonce(2)   recv: key(32) ck(32) nonce(2)
    body_len(4, signed) received(8) buffered_len(4) buffered
    npending(2) (len(4) message)*

It carries session keys: it only ever travels over the inbox socket pair (memory).
"""

from __future__ import annotations

import struct

from vajra.errors import DecodeError
from vajra.noise import TransportState
from vajra.peer import SessionState

MAGIC = b"VJHO\x01"
MAX_HANDOVER = 200_000
"""Bigger sessions (a peer that queued a lot) are woken locally instead (see worker)."""
_HEAD = struct.Struct(">Q33sH")
_CIPHER = struct.Struct(">32s32sH")
_TAIL = struct.Struct(">iQI")


def pack(index: int, st: SessionState) -> bytes:
    """One handover message for node `index`."""
    feats = sorted(st.remote_features)
    t = st.transport
    parts = [
        MAGIC,
        _HEAD.pack(index, st.remote_pubkey, len(feats)),
        struct.pack(f">{len(feats)}H", *feats),
        _CIPHER.pack(*t.send),
        _CIPHER.pack(*t.recv),
        _TAIL.pack(t.body_len, t.received, len(t.buffered)),
        t.buffered,
        struct.pack(">H", len(st.pending)),
    ]
    for m in st.pending:
        parts += [struct.pack(">I", len(m)), m]
    return b"".join(parts)


def unpack(data: bytes) -> tuple[int, SessionState]:
    """The inverse of `pack`; `DecodeError` on anything malformed."""
    try:
        if not data.startswith(MAGIC):
            raise DecodeError("not a handover message")
        off = len(MAGIC)
        index, pubkey, nf = _HEAD.unpack_from(data, off)
        off += _HEAD.size
        feats = frozenset(struct.unpack_from(f">{nf}H", data, off))
        off += 2 * nf
        send = _CIPHER.unpack_from(data, off)
        off += _CIPHER.size
        recv = _CIPHER.unpack_from(data, off)
        off += _CIPHER.size
        body_len, received, nbuf = _TAIL.unpack_from(data, off)
        off += _TAIL.size
        buffered = data[off : off + nbuf]
        off += nbuf
        (npending,) = struct.unpack_from(">H", data, off)
        off += 2
        pending = []
        for _ in range(npending):
            (n,) = struct.unpack_from(">I", data, off)
            off += 4
            pending.append(data[off : off + n])
            off += n
        if off != len(data) or len(buffered) != nbuf or any(len(p) == 0 for p in pending):
            raise DecodeError("handover message length mismatch")
    except struct.error as e:
        raise DecodeError(f"truncated handover message: {e}") from None
    ts = TransportState(send, recv, buffered, body_len, received)
    return index, SessionState(pubkey, feats, ts, tuple(pending))
