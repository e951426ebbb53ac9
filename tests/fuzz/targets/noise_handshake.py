"""Fuzz the BOLT 8 responder (`vajra.noise.Responder`) with arbitrary acts.

The first input byte picks how far the fuzzer's bytes get past the MAC checks it could
never forge by chance:
  0: the rest is act one;
  1: a valid act one, then the rest is act three;
  2: a valid act one, then an act three whose encrypted static key is the fuzzer's
     33 bytes under the right key (so key parsing is reached), with the fuzzer's tag;
  3: a complete handshake from an initiator whose static secret is the fuzzer's first
     32 bytes, then the remaining bytes go to the session's decoder.
Only `VajraError` subclasses are expected; anything else escapes as a crash.
"""

from __future__ import annotations

from vajra.errors import VajraError
from vajra.noise import Initiator, Responder, StaticKey

_LOCAL = StaticKey(bytes([0x21]) * 32)
_E_RESP = bytes([0x22]) * 32
_E_INIT = bytes([0x12]) * 32
_ACT1 = Initiator(StaticKey(bytes([0x11]) * 32), _LOCAL.pubkey, ephemeral=_E_INIT).act_one()


def _drain_after_handshake(secret: bytes, rest: bytes) -> None:
    init = Initiator(StaticKey(secret), _LOCAL.pubkey, ephemeral=_E_INIT)
    resp = Responder(_LOCAL, ephemeral=_E_RESP)
    act3, _ = init.read_act_two(resp.read_act_one(init.act_one()))
    rs, transport = resp.read_act_three(act3)
    if rs != init._local.pubkey:
        raise AssertionError("responder learned the wrong static key")
    transport.receive_data(rest)
    while transport.next_message() is not None:
        pass


def fuzz_one(data: bytes) -> None:
    if not data:
        return
    mode, body = data[0] % 4, data[1:]
    resp = Responder(_LOCAL, ephemeral=_E_RESP)
    try:
        if mode == 0:
            resp.read_act_one(body)
        elif mode == 1:
            resp.read_act_one(_ACT1)
            resp.read_act_three(body)
        elif mode == 2:
            resp.read_act_one(_ACT1)
            static = body[:33].ljust(33, b"\x00")
            k2 = resp._k2
            if k2 is None:
                raise AssertionError("responder lost temp_k2 after a good act one")
            c = k2.encrypt(1, resp._h, static)
            resp.read_act_three(b"\x00" + c + body[33:49].ljust(16, b"\x00"))
        else:
            _drain_after_handshake(body[:32].ljust(32, b"\x01"), body[32:])
    except VajraError:
        pass
