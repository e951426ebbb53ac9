"""Fuzz the signer's message decoders (`vajra.signer.messages`,
`vajra.signer.onchain_messages`): payment authorisations, owner confirmations, device
commands and on-chain authorisations, all of which arrive from devices via the runtime
or the local link.

The first input byte picks the decoder (mod 4); the rest is the message. Only
`VajraError` subclasses are expected. A message that decodes must re-encode to exactly
the input (one encoding per value), else the harness raises.
"""

from __future__ import annotations

from vajra.errors import VajraError
from vajra.signer.messages import decode_authorisation, decode_command, decode_confirmation
from vajra.signer.onchain_messages import decode_onchain_authorisation

_DECODERS = (
    decode_authorisation,
    decode_confirmation,
    decode_command,
    decode_onchain_authorisation,
)


def fuzz_one(data: bytes) -> None:
    if not data:
        return
    msg = data[1:]
    try:
        value = _DECODERS[data[0] % len(_DECODERS)](msg)
    except VajraError:
        return
    if value.encode() != msg:
        raise AssertionError("decoded message does not re-encode to its input")
