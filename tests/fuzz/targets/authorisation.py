"""Fuzz the signer's message decoders (`vajra.signer.messages`): payment authorisations,
owner confirmations and device commands, all of which arrive from devices via the runtime
or the local link.

The first input byte picks the decoder (mod 3); the rest is the message. Only
`VajraError` subclasses are expected. A message that decodes must re-encode to exactly
the input (one encoding per value), else the harness raises.
"""

from __future__ import annotations

from vajra.errors import VajraError
from vajra.signer.messages import decode_authorisation, decode_command, decode_confirmation

_DECODERS = (decode_authorisation, decode_confirmation, decode_command)


def fuzz_one(data: bytes) -> None:
    if not data:
        return
    msg = data[1:]
    try:
        value = _DECODERS[data[0] % 3](msg)
    except VajraError:
        return
    if value.encode() != msg:
        raise AssertionError("decoded message does not re-encode to its input")
