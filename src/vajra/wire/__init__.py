"""BOLT 1 wire codec: fundamental types, TLV streams, every BOLT 1/2/7 message, features.

    from vajra.wire import decode_message, encode_message, ChannelUpdate

    msg = decode_message(data)          # -> Message (UnknownMessage for unknown odd types)
    data = encode_message(msg)          # 2-byte type prefix included

Every malformed input raises a `vajra.errors.DecodeError` subclass (see `wire.errors`).
The message classes are generated from the spec text by `vajra.wire.specgen`.
"""

from vajra.wire import _generated
from vajra.wire._generated import *  # noqa: F403  (the generated message/TLV classes)
from vajra.wire.codec import MAX_MESSAGE_SIZE, decode_message, encode_message
from vajra.wire.errors import (
    EncodeError,
    InvalidValue,
    NonCanonical,
    TlvError,
    TlvLengthError,
    TlvOrderError,
    Truncated,
    UnknownEvenMessage,
    UnknownEvenTlv,
)
from vajra.wire.message import Message, UnknownMessage
from vajra.wire.primitives import (
    Reader,
    decode_bigsize,
    encode_bigsize,
    scid_from_parts,
    scid_from_str,
    scid_parts,
    scid_to_str,
)
from vajra.wire.tlv import ExtensionTlvs, UnknownRecords

__all__ = [  # noqa: RUF022  (grouped by purpose, then the generated names)
    "decode_message",
    "encode_message",
    "MAX_MESSAGE_SIZE",
    "Message",
    "UnknownMessage",
    "ExtensionTlvs",
    "UnknownRecords",
    "Reader",
    "decode_bigsize",
    "encode_bigsize",
    "scid_from_parts",
    "scid_from_str",
    "scid_parts",
    "scid_to_str",
    "EncodeError",
    "InvalidValue",
    "NonCanonical",
    "TlvError",
    "TlvLengthError",
    "TlvOrderError",
    "Truncated",
    "UnknownEvenMessage",
    "UnknownEvenTlv",
]
__all__ += _generated.__all__
