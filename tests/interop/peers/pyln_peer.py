"""pyln-proto (Core Lightning's Python BOLT 8) as an independent peer, for interop tests.

Runs in the lnprototest virtualenv (pyln-proto pins old crypto libraries), not in
Vajra's, so it is a script driven over argv/stdout, printing one JSON object.

    pyln_peer.py dial HOST PORT PUBKEY_HEX     # initiator: init, ping(10) -> pong
    pyln_peer.py listen PORT                   # responder: prints {"node_id"} then serves
"""

from __future__ import annotations

import json
import struct
import sys

from pyln.proto.wire import LightningServerSocket, PrivateKey, PublicKey, connect

SECRET = bytes([0x21]) * 32
REGTEST = bytes.fromhex("06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f")
# features: var_onion_optin required (bit 8) + static_remote_key required (bit 12) +
# payment_secret required (14): enough for a peer to accept our init.
FEATURES = (1 << 8 | 1 << 12 | 1 << 14).to_bytes(2, "big")


def init_msg() -> bytes:
    tlv = bytes([1, 32]) + REGTEST
    return struct.pack(">HH", 16, 0) + struct.pack(">H", len(FEATURES)) + FEATURES + tlv


def mtype(m: bytes) -> int:
    return int(struct.unpack(">H", m[:2])[0])


def dial(host: str, port: int, pubkey: str) -> dict[str, object]:
    conn = connect(PrivateKey(SECRET), PublicKey(bytes.fromhex(pubkey)), host, port)
    conn.send_message(init_msg())
    their_init = conn.read_message()
    conn.send_message(struct.pack(">HHH", 18, 10, 0))
    pong = conn.read_message()
    return {
        "their_init_type": mtype(their_init),
        "pong_type": mtype(pong),
        "pong_len": struct.unpack(">H", pong[2:4])[0],
    }


def listen(port: int) -> None:
    server = LightningServerSocket(PrivateKey(SECRET))
    server.bind(("127.0.0.1", port))
    server.listen(1)
    print(
        json.dumps({"node_id": PrivateKey(SECRET).public_key().serializeCompressed().hex()}),
        flush=True,
    )
    server.settimeout(30)
    conn, _ = server.accept()
    their_init = conn.read_message()
    conn.send_message(init_msg())
    result: dict[str, object] = {"their_init_type": mtype(their_init), "pongs_sent": 0}
    conn.connection.settimeout(10)
    try:
        while True:
            m = conn.read_message()
            if mtype(m) == 18:
                n = struct.unpack(">H", m[2:4])[0]
                conn.send_message(struct.pack(">HH", 19, n) + bytes(n))
                result["pongs_sent"] = int(str(result["pongs_sent"])) + 1
    except (TimeoutError, OSError, ValueError):
        pass
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "dial":
        print(json.dumps(dial(sys.argv[2], int(sys.argv[3]), sys.argv[4])), flush=True)
    else:
        listen(int(sys.argv[2]))
