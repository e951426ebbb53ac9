// The LDK harness's on-chain wallet: just enough for the test bed (not a product wallet).
//
// Keys: P2WPKH keys derived from the harness seed as sha256("vajra-ldk-wallet" || seed ||
// u32be(i)) -- a private derivation of our own, so the wallet is reproducible from the seed
// alone; it is a test-bed peer, not BIP 32/84. Key 0 is the sweep key: LDK's shutdown and
// destination scripts (cooperative-close outputs, swept outputs) pay to it, so a channel's
// proceeds land in this wallet. `new_address` hands out keys 1, 2, ...
//
// UTXOs: found by scanning every block the harness feeds LDK (chain.mjs), spent ones removed;
// each block's changes are kept so a disconnected block is undone exactly. A coinbase output
// counts only after 100 confirmations (consensus coinbase maturity). No mempool view: the
// balance is confirmed coins only. Inputs of a funding transaction are locked from its
// signing until a block spends them (or LDK discards the funding).
//
// Transactions are built and signed with bitcoinjs-lib (PSBT, BIP 143 sighash) and
// tiny-secp256k1 (RFC 6979, low-S signatures): standard for btcd's mempool.

import * as crypto from "node:crypto";

const COINBASE_MATURITY = 100;
// P2WPKH input: 41 non-witness bytes + (1 + 72 + 1 + 33 + 1) / 4 witness = 68 vbytes (an
// upper bound: a DER signature is at most 72 bytes with its sighash byte).
const VBYTES_INPUT = 68;
const VBYTES_OVERHEAD = 11; // version, locktime, counts, segwit marker and flag (10.5)
const DUST_SAT = 546n;

const sha256 = (b) => crypto.createHash("sha256").update(b).digest();
const outpointKey = (txidHex, vout) => `${txidHex}:${vout}`;

export class Wallet {
  constructor({ bitcoin, ECPair, seed, network }) {
    this.bitcoin = bitcoin;
    this.ECPair = ECPair;
    this.seed = Buffer.from(seed);
    this.network = network === "regtest" ? bitcoin.networks.regtest
      : network === "bitcoin" ? bitcoin.networks.bitcoin : bitcoin.networks.testnet;
    this.keys = []; // index -> {pair, script (Buffer), address}
    this.byScript = new Map(); // script hex -> key index
    this.utxos = new Map(); // "txid:vout" -> {txid, vout, value (bigint), script, height, coinbase}
    this.locked = new Map(); // "txid:vout" -> txid of the funding tx that spends it
    this.undo = new Map(); // height -> [{add: key} | {spent: utxo}]
    this.nextIndex = 1;
    this.key(0);
  }

  key(i) {
    while (this.keys.length <= i) {
      const n = this.keys.length;
      const idx = Buffer.alloc(4);
      idx.writeUInt32BE(n);
      const priv = sha256(Buffer.concat([Buffer.from("vajra-ldk-wallet"), this.seed, idx]));
      const pair = this.ECPair.fromPrivateKey(priv, { network: this.network });
      const pay = this.bitcoin.payments.p2wpkh({ pubkey: pair.publicKey, network: this.network });
      const entry = { pair, script: Buffer.from(pay.output), address: pay.address, hash: Buffer.from(pay.hash) };
      this.keys.push(entry);
      this.byScript.set(entry.script.toString("hex"), n);
    }
    return this.keys[i];
  }

  get sweepScript() { return this.keys[0].script; }
  get sweepPubkeyHash() { return this.keys[0].hash; }
  get sweepAddress() { return this.keys[0].address; }

  newAddress() {
    return this.key(this.nextIndex++).address;
  }

  // Scan one block (a bitcoinjs Block) connected at `height`.
  connectBlock(block, height) {
    const changes = [];
    for (const tx of block.transactions || []) {
      const txid = tx.getId();
      if (!tx.isCoinbase()) {
        for (const input of tx.ins) {
          const k = outpointKey(Buffer.from(input.hash).reverse().toString("hex"), input.index);
          const u = this.utxos.get(k);
          if (u) {
            this.utxos.delete(k);
            this.locked.delete(k);
            changes.push({ spent: u });
          }
        }
      }
      tx.outs.forEach((out, vout) => {
        const script = Buffer.from(out.script);
        if (!this.byScript.has(script.toString("hex"))) return;
        const k = outpointKey(txid, vout);
        this.utxos.set(k, { txid, vout, value: BigInt(out.value), script, height, coinbase: tx.isCoinbase() });
        changes.push({ add: k });
      });
    }
    if (changes.length) this.undo.set(height, changes);
  }

  disconnectBlock(height) {
    const changes = this.undo.get(height) || [];
    this.undo.delete(height);
    for (const c of changes.reverse()) {
      if (c.add) this.utxos.delete(c.add);
      else this.utxos.set(outpointKey(c.spent.txid, c.spent.vout), c.spent);
    }
  }

  mature(u, tipHeight) {
    return !u.coinbase || tipHeight - u.height + 1 >= COINBASE_MATURITY;
  }

  balance(tipHeight) {
    let confirmed = 0n, immature = 0n, locked = 0n;
    for (const [k, u] of this.utxos) {
      if (!this.mature(u, tipHeight)) { immature += u.value; continue; }
      confirmed += u.value;
      if (this.locked.has(k)) locked += u.value;
    }
    return {
      confirmed_sat: Number(confirmed),
      immature_sat: Number(immature),
      locked_sat: Number(locked),
      spendable_sat: Number(confirmed - locked),
      utxos: this.utxos.size,
    };
  }

  // Build and sign a transaction paying `valueSat` to `outputScript` (a funding output),
  // change to a fresh address. Largest coins first; fee = estimated vsize * feerate.
  // Returns {tx (Uint8Array), txid, fee_sat, vsize}; the inputs stay locked.
  fund(outputScript, valueSat, feerateSatPerVb, tipHeight) {
    const value = BigInt(valueSat);
    const rate = BigInt(feerateSatPerVb);
    const coins = [...this.utxos.entries()]
      .filter(([k, u]) => !this.locked.has(k) && this.mature(u, tipHeight))
      .sort((a, b) => (a[1].value > b[1].value ? -1 : a[1].value < b[1].value ? 1 : 0));
    const outVbytes = 9 + Math.ceil(outputScript.length); // 8 value + 1 length + script
    const changeVbytes = 31;
    const chosen = [];
    let total = 0n;
    let fee = 0n;
    let change = 0n;
    let found = false;
    for (const entry of coins) {
      chosen.push(entry);
      total += entry[1].value;
      const base = VBYTES_OVERHEAD + VBYTES_INPUT * chosen.length + outVbytes;
      const feeNoChange = BigInt(base) * rate;
      const feeChange = BigInt(base + changeVbytes) * rate;
      if (total >= value + feeChange + DUST_SAT) {
        fee = feeChange;
        change = total - value - feeChange;
        found = true;
        break;
      }
      if (total >= value + feeNoChange) {
        fee = total - value; // the remainder (below dust + change cost) goes to the fee
        change = 0n;
        found = true;
        break;
      }
    }
    if (!found) {
      throw new Error(`insufficient funds: need ${value} sat + fee, spendable ${this.balance(tipHeight).spendable_sat} sat`);
    }
    const psbt = new this.bitcoin.Psbt({ network: this.network });
    for (const [, u] of chosen) {
      psbt.addInput({ hash: u.txid, index: u.vout, witnessUtxo: { script: u.script, value: u.value } });
    }
    psbt.addOutput({ script: Buffer.from(outputScript), value });
    if (change > 0n) psbt.addOutput({ address: this.newAddress(), value: change });
    chosen.forEach(([, u], i) => psbt.signInput(i, this.keys[this.byScript.get(u.script.toString("hex"))].pair));
    psbt.finalizeAllInputs();
    const tx = psbt.extractTransaction();
    const txid = tx.getId();
    for (const [k] of chosen) this.locked.set(k, txid);
    return { tx: Uint8Array.from(tx.toBuffer()), txid, fee_sat: Number(fee), vsize: tx.virtualSize() };
  }

  // The wallet's state as JSON (keys are re-derived from the seed up to `next_index`).
  toJSON() {
    const coin = (u) => ({ ...u, value: String(u.value), script: u.script.toString("hex") });
    return {
      next_index: this.nextIndex,
      utxos: [...this.utxos.values()].map(coin),
      locked: [...this.locked.entries()],
      undo: [...this.undo.entries()].map(([h, cs]) => [h, cs.map((c) => (c.add ? c : { spent: coin(c.spent) }))]),
    };
  }

  restore(state) {
    const coin = (u) => ({ ...u, value: BigInt(u.value), script: Buffer.from(u.script, "hex") });
    this.nextIndex = state.next_index;
    this.key(this.nextIndex);
    this.utxos = new Map(state.utxos.map((u) => [outpointKey(u.txid, u.vout), coin(u)]));
    this.locked = new Map(state.locked);
    this.undo = new Map(state.undo.map(([h, cs]) => [h, cs.map((c) => (c.add ? c : { spent: coin(c.spent) }))]));
  }

  // LDK discarded a funding transaction that was never broadcast: release its inputs.
  unlock(txid) {
    for (const [k, t] of this.locked) if (t === txid) this.locked.delete(k);
  }
}
