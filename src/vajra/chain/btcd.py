"""A `ChainSource` on btcd's JSON-RPC (how bitcoind and Esplora differ: decision 0010).

HTTP/1.1 (TLS pinned to btcd's self-signed `rpc.cert`; btcd
serves RPC over TLS unless started with `--notls`), Basic auth, a timeout per call. The
connection is kept alive where the server allows it (bitcoind does; btcd closes it after
every reply, so the follower batches: `block_hashes`, `blocks`). A kept-alive connection
that drops is reopened once within the call; a source that stays away is
`ChainUnavailable`, a slow one `ChainTimeout`, an RPC error `ChainRpcError` -- never a bare
exception. Credentials are never logged or put in an error message.

URL form (`vajra runtime --chain`): `btcd://USER:PASS@HOST:PORT?cert=/path/rpc.cert`;
`?notls=1` for btcd started with `--notls` (plain HTTP).
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import ssl
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from vajra.bitcoin.tx import Tx, TxDecodeError
from vajra.chain.types import (
    BlockRef,
    ChainDataError,
    ChainError,
    ChainRpcError,
    ChainTimeout,
    ChainUnavailable,
    TxRejected,
    display_hex,
    from_display_hex,
)
from vajra.crypto.hashes import double_sha256

# btcd's codes (btcjson), as observed on btcd v0.26: -1 ErrRPCOutOfRange ("Block number
# out of range", getblockhash above the tip or below 0), -5 ErrRPCNoTxInfo (unknown
# transaction), -26 a rejected transaction ("TX rejected: <reason>"; also "already have
# transaction in mempool", which is no rejection), -27 "transaction already exists in
# blockchain".
_OUT_OF_RANGE = (-1,)
_NO_TX_INFO = -5
_ALREADY_IN_CHAIN = -27
_ALREADY = ("already have transaction",)


def parse_json(data: bytes, name: str = "btcd") -> Any:
    """A reply body as JSON; `ChainDataError` if it is not."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise ChainDataError(f"{name}: reply is not JSON") from e


def _rpc_error(method: str, err: Any) -> ChainRpcError:
    code, msg = 0, str(err)
    if isinstance(err, dict):
        c = err.get("code")
        code = c if isinstance(c, int) and not isinstance(c, bool) else 0
        msg = str(err.get("message", msg))
    return ChainRpcError(method, code, msg)


def _height(v: Any, method: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 1 << 31:
        raise ChainDataError(f"{method}: not a block height: {v!r:.40}")
    return v


def decode_reply(method: str, reply: Any) -> Any:
    """The `result` of one JSON-RPC reply object; `ChainRpcError` for an error reply,
    `ChainDataError` for anything that is not a reply."""
    if not isinstance(reply, dict):
        raise ChainDataError(f"{method}: reply is not an object")
    err = reply.get("error")
    if err:
        raise _rpc_error(method, err)
    return reply.get("result")


def decode_batch(method: str, reply: Any, base: int, n: int) -> list[Any]:
    """Results of a batch whose ids were `base .. base + n - 1`, in id order; an error
    entry becomes a `ChainRpcError` object in its place. `ChainDataError` unless the
    reply answers each id exactly once."""
    if not isinstance(reply, list) or len(reply) != n:
        raise ChainDataError(f"{method}: batch reply does not match")
    out: list[Any] = [None] * n
    seen = [False] * n
    for r in reply:
        i = r.get("id") if isinstance(r, dict) else None
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i - base < n or seen[i - base]:
            raise ChainDataError(f"{method}: bad batch id")
        seen[i - base] = True
        err = r.get("error")
        out[i - base] = _rpc_error(method, err) if err else r.get("result")
    return out


class BtcdSource:
    """`ChainSource` over btcd's JSON-RPC."""

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str,
        *,
        cert: str | None = None,
        tls: bool = True,
        timeout: float = 30.0,
        name: str = "btcd",
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.timeout = timeout
        self._auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self._tls: ssl.SSLContext | None = None
        if tls:
            try:
                ctx = ssl.create_default_context(cafile=cert)
            except (OSError, ssl.SSLError) as e:
                raise ValueError(f"cannot use the RPC certificate {cert}: {e}") from e
            # The certificate itself is pinned as the only CA; its names are btcd's choice.
            ctx.check_hostname = not cert
            self._tls = ctx
        self._conn: http.client.HTTPConnection | None = None
        self._ids = itertools.count(1)
        self.calls = 0

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 30.0) -> BtcdSource:
        """Parse `btcd://USER:PASS@HOST:PORT?cert=PATH[&notls=1]`; `ValueError` if malformed
        or the certificate cannot be read."""
        u = urlsplit(url)
        # Only btcd is run and tested here; bitcoind and Esplora: decision 0010.
        if u.scheme != "btcd":
            raise ValueError("chain URL must start with btcd:// (the only source built yet)")
        if not u.hostname or not u.port or u.username is None or u.password is None:
            raise ValueError("chain URL needs USER:PASS@HOST:PORT")
        q = parse_qs(u.query)
        notls = q.get("notls", ["0"])[0] in ("1", "true", "yes")
        return cls(
            u.hostname,
            u.port,
            unquote(u.username),
            unquote(u.password),
            cert=q.get("cert", [None])[0],
            tls=not notls,
            timeout=timeout,
        )

    def __repr__(self) -> str:  # no credentials
        return f"BtcdSource({self.host}:{self.port})"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- transport ---------------------------------------------------------------------------

    def _connect(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._tls is not None:
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=self._tls
                )
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def _post(self, body: bytes) -> Any:
        for attempt in (0, 1):
            conn = self._connect()
            try:
                conn.request(
                    "POST",
                    "/",
                    body=body,
                    headers={"Content-Type": "application/json", "Authorization": self._auth},
                )
                resp = conn.getresponse()
                data = resp.read()
            except TimeoutError as e:
                self.close()
                raise ChainTimeout(f"{self.name} {self.host}:{self.port}: timed out") from e
            except (OSError, http.client.HTTPException) as e:
                self.close()
                # A kept-alive connection the server closed: one fresh attempt.
                if attempt == 0 and not isinstance(e, ConnectionRefusedError):
                    continue
                raise ChainUnavailable(f"{self.name} {self.host}:{self.port}: {e}") from e
            if resp.status == 401:
                raise ChainUnavailable(f"{self.name}: RPC authentication refused (HTTP 401)")
            return parse_json(data, self.name)
        raise ChainUnavailable(f"{self.name}: unreachable")  # pragma: no cover

    def batch(self, method: str, params: list[list[Any]]) -> list[Any]:
        """One JSON-RPC batch of `method` calls; results in order, an error entry as a
        `ChainRpcError` object in its place. btcd closes the connection after every reply
        (a new TLS handshake per call, ~10 ms here), so catch-up batches."""
        if not params:
            return []
        self.calls += 1
        base = next(self._ids) * 100_000
        body = json.dumps(
            [
                {"jsonrpc": "1.0", "id": base + i, "method": method, "params": p}
                for i, p in enumerate(params)
            ]
        ).encode()
        return decode_batch(method, self._post(body), base, len(params))

    def call(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call; `ChainRpcError` if the node answers with an error."""
        self.calls += 1
        body = json.dumps(
            {"jsonrpc": "1.0", "id": next(self._ids), "method": method, "params": list(params)}
        ).encode()
        return decode_reply(method, self._post(body))

    # -- ChainSource ---------------------------------------------------------------------------

    def tip(self) -> BlockRef:
        info = self.call("getblockchaininfo")
        if not isinstance(info, dict):
            raise ChainDataError(f"{self.name} getblockchaininfo: not an object")
        return BlockRef(
            _height(info.get("blocks"), "getblockchaininfo"),
            from_display_hex(info.get("bestblockhash")),  # type: ignore[arg-type]
        )

    def block_hash(self, height: int) -> bytes | None:
        try:
            return from_display_hex(self.call("getblockhash", height))
        except ChainRpcError as e:
            if e.code in _OUT_OF_RANGE:
                return None
            raise

    def block_hashes(self, heights: list[int]) -> list[bytes | None]:
        out: list[bytes | None] = []
        for h in self.batch("getblockhash", [[h] for h in heights]):
            if isinstance(h, ChainRpcError):
                if h.code in _OUT_OF_RANGE:
                    out.append(None)
                    continue
                raise h
            out.append(from_display_hex(h))
        return out

    def block(self, block_hash: bytes) -> bytes:
        return self._check_block(block_hash, self.call("getblock", display_hex(block_hash), 0))

    def blocks(self, block_hashes: list[bytes]) -> list[bytes]:
        raws = self.batch("getblock", [[display_hex(h), 0] for h in block_hashes])
        out = []
        for h, raw in zip(block_hashes, raws, strict=True):
            if isinstance(raw, ChainRpcError):
                raise raw
            out.append(self._check_block(h, raw))
        return out

    def _check_block(self, block_hash: bytes, raw: Any) -> bytes:
        try:
            data = bytes.fromhex(raw)
        except (TypeError, ValueError) as e:
            raise ChainDataError(f"{self.name} getblock: not hex") from e
        if len(data) < 81 or double_sha256(data[:80]) != block_hash:
            raise ChainDataError(f"{self.name} getblock: the block does not hash to its id")
        return data

    def mempool_txids(self) -> list[bytes]:
        pool = self.call("getrawmempool")
        if not isinstance(pool, list):
            raise ChainDataError(f"{self.name} getrawmempool: not a list")
        return [from_display_hex(t) for t in pool]

    def raw_transaction(self, txid: bytes) -> bytes | None:
        try:
            raw = self.call("getrawtransaction", display_hex(txid), 0)
        except ChainRpcError as e:
            if e.code == _NO_TX_INFO:
                return None
            raise
        try:
            return bytes.fromhex(raw)
        except (TypeError, ValueError) as e:
            raise ChainDataError(f"{self.name} getrawtransaction: not hex") from e

    def raw_transactions(self, txids: list[bytes]) -> list[bytes | None]:
        out: list[bytes | None] = []
        for raw in self.batch("getrawtransaction", [[display_hex(t), 0] for t in txids]):
            if isinstance(raw, ChainRpcError):
                if raw.code == _NO_TX_INFO:
                    out.append(None)  # left the mempool since it was listed
                    continue
                raise raw
            try:
                out.append(bytes.fromhex(raw))
            except (TypeError, ValueError) as e:
                raise ChainDataError(f"{self.name} getrawtransaction: not hex") from e
        return out

    def broadcast(self, raw_tx: bytes) -> None:
        try:
            self.call("sendrawtransaction", raw_tx.hex())
        except ChainRpcError as e:
            if any(a in e.message.lower() for a in _ALREADY) or e.code == _ALREADY_IN_CHAIN:
                return
            try:
                txid = Tx.parse(raw_tx).txid
            except TxDecodeError:
                txid = b"\x00" * 32
            raise TxRejected(txid, e.message, e.code) from e

    def estimate_fee(self, target_blocks: int) -> int | None:
        """btcd's `estimatefee` (BTC/kB as a float; -1 or an error while it has too few
        blocks of data, which is always the case on a fresh regtest chain)."""
        try:
            v = self.call("estimatefee", target_blocks)
        except ChainRpcError:
            return None
        except ChainError:
            raise
        # A float BTC/kB; anything else, or absurd (above 1 BTC/kB), is no estimate.
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
            return None
        return round(v * 100_000_000)
