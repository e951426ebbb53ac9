// btcd JSON-RPC (HTTPS, the test bed's pinned rpc.cert) and the block feed for the LDK harness.
//
// `ChainFeed` polls btcd and hands every block, in height order, to its listener's
// `connect(rawBlock, height, hashHex)` -- the harness gives it to ChainMonitor and
// ChannelManager through LDK's `Listen` interface (full blocks, so no `Filter` is needed)
// and to the wallet. A block whose parent is not our tip is a reorg: our tip is handed to
// `disconnect(header, height, hashHex)` until the fork point, then the new branch is connected.
// One sync runs at a time; `sync()` callers wait for the running one and then run their own,
// so a caller that saw btcd mine block N gets a feed that has connected block N.

import * as fs from "node:fs";
import * as https from "node:https";

export class BtcdRpc {
  constructor({ host, port, cert, user, password }) {
    this.host = host;
    this.port = port;
    this.ca = fs.readFileSync(cert);
    this.auth = "Basic " + Buffer.from(`${user}:${password}`).toString("base64");
    this.agent = new https.Agent({ keepAlive: true, maxSockets: 2 });
    this.nextId = 1;
  }

  call(method, params = [], timeoutMs = 30000) {
    const body = JSON.stringify({ jsonrpc: "1.0", id: this.nextId++, method, params });
    return new Promise((resolve, reject) => {
      const req = https.request({
        host: this.host, port: this.port, method: "POST", path: "/", agent: this.agent,
        // btcd's self-signed certificate is the only trusted CA; its names are btcd's choice.
        ca: this.ca, checkServerIdentity: () => undefined,
        headers: { "Content-Type": "application/json", Authorization: this.auth, "Content-Length": Buffer.byteLength(body) },
        timeout: timeoutMs,
      }, (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          let reply;
          try {
            reply = JSON.parse(text);
          } catch {
            reject(new Error(`btcd ${method}: HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
            return;
          }
          if (reply.error) reject(new Error(`btcd ${method}: ${reply.error.message} (code ${reply.error.code})`));
          else resolve(reply.result);
        });
      });
      req.on("timeout", () => req.destroy(new Error(`btcd ${method}: timeout`)));
      req.on("error", reject);
      req.end(body);
    });
  }

  close() {
    this.agent.destroy();
  }
}

export class ChainFeed {
  // listener: {connect(raw: Uint8Array, height, hashHex), disconnect(header: Uint8Array, height, hashHex)}
  // start: {height, hashHex} already known to the listener (genesis for a fresh node).
  constructor(rpc, listener, start, log) {
    this.rpc = rpc;
    this.listener = listener;
    this.log = log;
    this.tip = { height: start.height, hash: start.hashHex };
    this.chain = new Map([[start.height, { hash: start.hashHex, header: null }]]);
    this.running = null;
    this.timer = null;
    this.lastError = null;
  }

  start(intervalMs) {
    const tick = () => {
      this.sync().catch((e) => {
        if (String(e) !== this.lastError) this.log("warn", "chain sync failed", { error: String(e) });
        this.lastError = String(e);
      }).finally(() => {
        if (this.timer !== null) this.timer = setTimeout(tick, intervalMs);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  stop() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  // Bring the listener to btcd's tip; resolves to the tip connected.
  async sync() {
    while (this.running) await this.running.catch(() => {});
    this.running = this._sync();
    try {
      return await this.running;
    } finally {
      this.running = null;
    }
  }

  async _sync() {
    for (;;) {
      const best = await this.rpc.call("getbestblockhash");
      if (best === this.tip.hash) return { ...this.tip };
      const count = await this.rpc.call("getblockcount");
      if (count <= this.tip.height) {
        // btcd's best chain is no longer than ours but differs: a reorg to a shorter branch.
        const ourHash = await this.rpc.call("getblockhash", [this.tip.height]).catch(() => null);
        if (ourHash !== this.tip.hash) { this._disconnectTip(); continue; }
        return { ...this.tip };
      }
      const height = this.tip.height + 1;
      const hash = await this.rpc.call("getblockhash", [height]);
      const rawHex = await this.rpc.call("getblock", [hash, 0]); // verbosity 0: raw hex
      const raw = Buffer.from(rawHex, "hex");
      // The header's prev_block (bytes 4..36, internal order) against our tip's hash.
      const prev = Buffer.from(raw.subarray(4, 36)).reverse().toString("hex");
      if (prev !== this.tip.hash) {
        this._disconnectTip();
        continue;
      }
      this.listener.connect(Uint8Array.from(raw), height, hash);
      this.chain.set(height, { hash, header: Uint8Array.from(raw.subarray(0, 80)) });
      this.tip = { height, hash };
    }
  }

  _disconnectTip() {
    const { height } = this.tip;
    const cur = this.chain.get(height);
    if (height === 0 || !cur || !cur.header) throw new Error(`reorg below the feed's start (height ${height})`);
    this.log("info", "block disconnected", { height, hash: cur.hash });
    this.listener.disconnect(cur.header, height, cur.hash);
    this.chain.delete(height);
    const prev = this.chain.get(height - 1);
    this.tip = { height: height - 1, hash: prev.hash };
  }
}
