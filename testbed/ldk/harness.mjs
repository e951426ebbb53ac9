// LDK peer harness for Vajra's interop tests (Node 20, ESM).
//
// Runs one LDK node (the `lightningdevkit` WASM bindings: KeysManager, ChainMonitor,
// ChannelManager, PeerManager) whose BOLT 8 transport is bridged to real TCP sockets, and is
// driven by JSON lines on stdin. Stdout carries only JSON lines; every log goes to stderr.
// The LDK objects are built in node.mjs; channels, the chain feed and the wallet live in
// channels.mjs, chain.mjs and wallet.mjs.
//
//   request   {"id": N, "cmd": "...", ...}
//   response  {"id": N, "ok": true, ...}  or  {"id": N, "ok": false, "error": "..."}
//   event     {"event": "...", ...}        (unsolicited)
//
// Commands (peers):
//   info                      -> {node_id, network, wallet_address}
//   connect {host,port,pubkey}-> {node_id}        BOLT 8 initiator; answers after `init`
//   listen {port}             -> {host,port}      BOLT 8 responder on 127.0.0.1
//   peers                     -> {peers:[{node_id, inbound}]}  peers past `init`
//   ping {pubkey, timeout_ms} -> {pong:true, rtt_ms}
//        LDK sends pings only from PeerManager.timer_tick_occurred() (to every peer); the
//        harness triggers a tick and waits until LDK logs that it received a `pong` from
//        `pubkey` (a trace-level record). That log record is what is observable.
//   disconnect {pubkey}
//   shutdown                  -> closes sockets, exits 0
// Commands (chain, wallet, channels): see channels.mjs -- chain, sync, new_address, balance,
//   open_channel, list_channels, close_channel, force_close_channel, invoice, pay.
// Events: ready, peer_connected, peer_disconnected, pong, block_disconnected, broadcast,
//   funding_broadcast, channel_pending, channel_ready, channel_closed, spendable_outputs, sweep, payment_claimed, ldk_event.
//
// Usage: node harness.mjs --ldk-dir DIR [--seed HEX32] [--data-dir DIR] [--network regtest]
//                        [--log-level info]
//   DIR is the installed node_modules/lightningdevkit (testbed/install.sh puts it in the cache;
//   ESM imports ignore NODE_PATH, so the module is imported by path; bitcoinjs-lib, ecpair and
//   tiny-secp256k1 are loaded from the same node_modules). LDK_DIR may be given in the
//   environment instead. --seed fixes the KeysManager seed, hence the node id and the wallet.
//
// --data-dir DIR keeps the channels (ChannelManager, ChannelMonitors) and the wallet across a
// restart with the same --seed (node.mjs says how); without it all state is in memory.

import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import * as readline from "node:readline";
import * as crypto from "node:crypto";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import * as util from "node:util";

import { installChannels } from "./channels.mjs";
import { buildNode, writeAtomic } from "./node.mjs";
import { Wallet } from "./wallet.mjs";

// The bindings print a banner with console.log while loading; stdout is the protocol
// channel, so everything console.* writes goes to stderr.
for (const k of ["log", "info", "debug", "warn"]) {
  console[k] = (...a) => process.stderr.write(util.format(...a) + "\n");
}

function parseArgs(argv) {
  const out = { ldkDir: process.env.LDK_DIR || "", seed: "", network: "regtest", logLevel: "info", dataDir: "" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return argv[++i];
    };
    if (a === "--ldk-dir") out.ldkDir = next();
    else if (a === "--seed") out.seed = next();
    else if (a === "--network") out.network = next();
    else if (a === "--log-level") out.logLevel = next();
    else if (a === "--data-dir") out.dataDir = next();
    else throw new Error(`unknown argument ${a}`);
  }
  if (!out.ldkDir) throw new Error("--ldk-dir (or LDK_DIR) is required");
  return out;
}

const args = parseArgs(process.argv.slice(2));

function log(level, msg, fields = {}) {
  const rec = { ts: new Date().toISOString(), level, msg, ...fields };
  process.stderr.write(JSON.stringify(rec) + "\n");
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

const hex = (u8) => Buffer.from(u8).toString("hex");
const unhex = (s) => {
  if (typeof s !== "string" || !/^([0-9a-fA-F]{2})*$/.test(s)) throw new Error(`bad hex: ${s}`);
  return Uint8Array.from(Buffer.from(s, "hex"));
};

const ldk = await import(pathToFileURL(path.join(args.ldkDir, "index.mjs")).href);
await ldk.initializeWasmFromBinary(fs.readFileSync(path.join(args.ldkDir, "liblightningjs.wasm")));

const NETWORKS = {
  regtest: ldk.Network.LDKNetwork_Regtest,
  testnet: ldk.Network.LDKNetwork_Testnet,
  signet: ldk.Network.LDKNetwork_Signet,
  bitcoin: ldk.Network.LDKNetwork_Bitcoin,
};
const network = NETWORKS[args.network];
if (network === undefined) throw new Error(`unknown network ${args.network}`);

const LEVELS = ["gossip", "trace", "debug", "info", "warn", "error"];
const minLevel = Math.max(0, LEVELS.indexOf(args.logLevel));
const LEVEL_NAMES = new Map([
  [ldk.Level.LDKLevel_Gossip, "gossip"],
  [ldk.Level.LDKLevel_Trace, "trace"],
  [ldk.Level.LDKLevel_Debug, "debug"],
  [ldk.Level.LDKLevel_Info, "info"],
  [ldk.Level.LDKLevel_Warn, "warn"],
  [ldk.Level.LDKLevel_Error, "error"],
]);

// Pong waiters: node_id hex -> [resolve]. Filled by the `ping` command, resolved from the
// logger, because LDK exposes received messages only through its log records.
const pongWaiters = new Map();
// LDK 0.1 logs at trace level: "Received message Pong(Pong { byteslen: 0 }) from <node_id>".
const PONG_RE = /^Received message Pong\(.*\) from ([0-9a-f]{66})$/;

const logger = ldk.Logger.new_impl({
  log(record) {
    const args_ = record.get_args();
    const m = PONG_RE.exec(args_);
    if (m) onPong(m[1]);
    const level = LEVEL_NAMES.get(record.get_level()) || "trace";
    if (LEVELS.indexOf(level) >= minLevel) {
      log(level, args_, { src: "ldk", module: record.get_module_path() });
    }
  },
});

// Peers pinged by the harness's last PeerManager tick whose pong has not come yet.
const unponged = new Set();

function waitPong(nodeId) {
  return new Promise((resolve) => {
    const list = pongWaiters.get(nodeId) || [];
    list.push(resolve);
    pongWaiters.set(nodeId, list);
  });
}

function onPong(nodeId) {
  unponged.delete(nodeId);
  emit({ event: "pong", node_id: nodeId });
  const waiters = pongWaiters.get(nodeId) || [];
  pongWaiters.delete(nodeId);
  for (const w of waiters) w();
}

const seed = args.seed ? unhex(args.seed) : Uint8Array.from(crypto.randomBytes(32));
if (seed.length !== 32) throw new Error("--seed must be 32 bytes of hex");
const now = Date.now();
const keysManager = ldk.KeysManager.constructor_new(
  seed, BigInt(Math.floor(now / 1000)), (now % 1000) * 1_000_000);

// bitcoinjs-lib & co. are CommonJS packages in the same node_modules as lightningdevkit.
const requireDep = createRequire(path.join(path.dirname(args.ldkDir), "_harness_.cjs"));
const bitcoin = requireDep("bitcoinjs-lib");
const { ECPairFactory } = requireDep("ecpair");
const ECPair = ECPairFactory(requireDep("tiny-secp256k1"));
const wallet = new Wallet({ bitcoin, ECPair, seed, network: args.network });
const walletFile = args.dataDir ? path.join(args.dataDir, "wallet.json") : null;
if (args.dataDir) {
  if (!args.seed) throw new Error("--data-dir needs --seed (the stored channels are the seed's)");
  fs.mkdirSync(args.dataDir, { recursive: true, mode: 0o700 });
  if (fs.existsSync(walletFile)) wallet.restore(JSON.parse(fs.readFileSync(walletFile, "utf8")));
}

const { chainMonitor, chanMan, peerManager, broadcastQueue, keep: _keep, startBlock, saveManager } = buildNode({
  ldk, network, logger, keysManager, wallet, emit, hex, now, dataDir: args.dataDir || null, log,
});
// Persist what changed (a no-op without --data-dir); `force` after every block.
function save(force = false) {
  if (walletFile && force) writeAtomic(walletFile, JSON.stringify(wallet));
  saveManager(force);
}
const nodeId = hex(chanMan.get_our_node_id());
const channels = installChannels({
  ldk, chanMan, chainMonitor, keysManager, wallet, bitcoin, emit, log, hex, unhex, broadcastQueue,
  pump: () => pump(), save, startBlock, isConnected: (id) => currentPeers().has(id),
});

// ---- sockets <-> PeerManager ------------------------------------------------------------

let nextSocketId = 1;
const conns = new Set();

function socketAddress(host, port) {
  const parts = host.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) {
    return ldk.Option_SocketAddressZ.constructor_none();
  }
  return ldk.Option_SocketAddressZ.constructor_some(
    ldk.SocketAddress.constructor_tcp_ip_v4(Uint8Array.from(parts), port));
}

// One TCP connection. LDK calls send_data/disconnect_socket on the descriptor; we call
// read_event/socket_disconnected on the PeerManager. If LDK asked for the disconnect (or
// read_event failed), LDK already forgot the peer and must not be told again.
function bridge(sock) {
  const conn = { sock, ldkClosed: false, closed: false };
  const id = BigInt(nextSocketId++);
  conn.desc = ldk.SocketDescriptor.new_impl({
    send_data(data, resumeRead) {
      if (conn.closed) return 0;
      if (resumeRead && sock.isPaused()) sock.resume();
      sock.write(Buffer.from(data));
      return data.length;
    },
    disconnect_socket() {
      conn.ldkClosed = true;
      sock.destroy();
    },
    eq(other) {
      return other.hash() === this.hash();
    },
    hash() {
      return id;
    },
  });
  sock.setNoDelay(true);
  sock.on("data", (data) => {
    if (conn.closed) return;
    const res = peerManager.read_event(conn.desc, Uint8Array.from(data));
    if (res instanceof ldk.Result_boolPeerHandleErrorZ_Err) {
      conn.ldkClosed = true;
      log("info", "read_event error, closing", { remote: sock.remoteAddress, port: sock.remotePort });
      sock.destroy();
      return;
    }
    if (res.res === true) sock.pause();
    pump();
  });
  sock.on("error", (e) => log("info", "socket error", { error: String(e) }));
  sock.on("close", () => {
    conn.closed = true;
    conns.delete(conn);
    if (!conn.ldkClosed) peerManager.socket_disconnected(conn.desc);
    pump();
  });
  conns.add(conn);
  return conn;
}

let knownPeers = new Map();

function currentPeers() {
  const out = new Map();
  for (const p of peerManager.list_peers()) {
    out.set(hex(p.get_counterparty_node_id()), { inbound: Boolean(p.get_is_inbound_connection()) });
  }
  return out;
}

// Let LDK flush responses and react to peer changes; called after every read and on a timer.
function pump() {
  channels.processEvents();
  peerManager.process_events();
  save();
  const now_ = currentPeers();
  for (const [id, p] of now_) {
    if (!knownPeers.has(id)) emit({ event: "peer_connected", node_id: id, inbound: p.inbound });
  }
  for (const id of knownPeers.keys()) {
    if (!now_.has(id)) emit({ event: "peer_disconnected", node_id: id });
  }
  knownPeers = now_;
}

async function waitFor(pred, timeoutMs, what) {
  const t0 = Date.now();
  for (;;) {
    pump();
    const v = pred();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timeout after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---- commands ---------------------------------------------------------------------------

let server = null;

const commands = {
  ...channels.commands,

  async info() {
    return { node_id: nodeId, network: args.network, wallet_address: wallet.sweepAddress };
  },

  async connect(req) {
    const { host, port, pubkey } = req;
    const timeoutMs = req.timeout_ms ?? 15000;
    const their = unhex(pubkey);
    if (their.length !== 33) throw new Error("pubkey must be 33 bytes");
    const sock = await new Promise((resolve, reject) => {
      const s = net.connect({ host, port });
      const to = setTimeout(() => { s.destroy(); reject(new Error(`tcp connect timeout ${host}:${port}`)); }, timeoutMs);
      s.once("connect", () => { clearTimeout(to); resolve(s); });
      s.once("error", (e) => { clearTimeout(to); reject(new Error(`tcp connect ${host}:${port}: ${e.message}`)); });
    });
    const conn = bridge(sock);
    const res = peerManager.new_outbound_connection(their, conn.desc, socketAddress(host, port));
    if (!(res instanceof ldk.Result_CVec_u8ZPeerHandleErrorZ_OK)) {
      conn.ldkClosed = true;
      sock.destroy();
      throw new Error("new_outbound_connection refused");
    }
    sock.write(Buffer.from(res.res));
    await waitFor(() => currentPeers().has(pubkey.toLowerCase()) || conn.closed, timeoutMs,
      "init from peer");
    if (!currentPeers().has(pubkey.toLowerCase())) {
      throw new Error("connection closed before init was exchanged");
    }
    return { node_id: pubkey.toLowerCase() };
  },

  async listen(req) {
    if (server) throw new Error("already listening");
    const port = req.port ?? 0;
    server = net.createServer((sock) => {
      const conn = bridge(sock);
      const res = peerManager.new_inbound_connection(
        conn.desc, socketAddress(sock.remoteAddress || "", sock.remotePort || 0));
      if (!(res instanceof ldk.Result_NonePeerHandleErrorZ_OK)) {
        conn.ldkClosed = true;
        sock.destroy();
      }
    });
    await new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", resolve);
    });
    const addr = server.address();
    return { host: addr.address, port: addr.port };
  },

  async peers() {
    pump();
    return { peers: [...currentPeers()].map(([id, p]) => ({ node_id: id, inbound: p.inbound })) };
  },

  async ping(req) {
    const pubkey = String(req.pubkey || "").toLowerCase();
    const timeoutMs = req.timeout_ms ?? 10000;
    if (!currentPeers().has(pubkey)) throw new Error(`not connected to ${pubkey}`);
    const t0 = Date.now();
    const deadline = t0 + timeoutMs;
    const got = waitPong(pubkey);
    // PeerManager.timer_tick_occurred() pings every peer not awaiting a pong, and
    // DISCONNECTS a peer still awaiting one from the previous tick that has sent nothing
    // since. Ticking again while another peer's pong is in flight would cut that peer off
    // (seen on a loaded machine), so a tick is issued only when no earlier tick's pong is
    // outstanding; a peer already pinged by that tick just waits for its pong.
    if (!unponged.has(pubkey)) {
      while (unponged.size > 0 && Date.now() < deadline) {
        for (const id of [...unponged]) if (!currentPeers().has(id)) unponged.delete(id);
        if (unponged.size > 0) await new Promise((r) => setTimeout(r, 20));
      }
      if (unponged.size === 0) {
        for (const id of currentPeers().keys()) unponged.add(id);
        peerManager.timer_tick_occurred();
        pump();
      }
    }
    let timer;
    const timeout = new Promise((_r, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no pong from ${pubkey} in ${timeoutMs} ms`)),
        Math.max(0, deadline - Date.now()),
      );
    });
    try {
      await Promise.race([got, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return { pong: true, rtt_ms: Date.now() - t0 };
  },

  async disconnect(req) {
    peerManager.disconnect_by_node_id(unhex(req.pubkey));
    pump();
    return {};
  },

  async shutdown() {
    setImmediate(() => shutdown(0));
    return {};
  },
};

let shuttingDown = false;
function shutdown(code) {
  if (shuttingDown) return;
  shuttingDown = true;
  clearInterval(ticker);
  clearInterval(ldkTicker);
  channels.stop();
  try {
    save(true);
  } catch (e) {
    log("error", "saving state failed", { error: String(e) });
  }
  try {
    peerManager.disconnect_all_peers();
  } catch (e) {
    log("warn", "disconnect_all_peers failed", { error: String(e) });
  }
  for (const c of conns) c.sock.destroy();
  if (server) server.close();
  log("info", "harness exiting", { code });
  process.stdout.write("", () => process.exit(code));
}

const ticker = setInterval(pump, 100);
// ChannelManager::timer_tick_occurred wants "roughly once per minute"; the test bed's
// closing negotiations and peer-disconnect bookkeeping move faster with 10 s.
const ldkTicker = setInterval(() => { channels.tick(); pump(); }, 10000);

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", async (line) => {
  if (!line.trim()) return;
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    emit({ id: null, ok: false, error: `bad json: ${e.message}` });
    return;
  }
  const fn = commands[req.cmd];
  if (!fn) {
    emit({ id: req.id ?? null, ok: false, error: `unknown cmd ${req.cmd}` });
    return;
  }
  try {
    const res = await fn(req);
    emit({ id: req.id ?? null, ok: true, ...res });
  } catch (e) {
    emit({ id: req.id ?? null, ok: false, error: e && e.message ? e.message : String(e) });
  }
});
rl.on("close", () => shutdown(0));
process.on("SIGTERM", () => shutdown(0));
process.on("SIGINT", () => shutdown(0));

log("info", "ldk harness ready", { node_id: nodeId, network: args.network });
emit({ event: "ready", node_id: nodeId });
