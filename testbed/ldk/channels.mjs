// Channels, chain and wallet commands of the LDK harness (see harness.mjs for the protocol).
//
// Commands:
//   chain {host, port, cert, user, password, poll_ms}  -> {height, block_hash}
//        Attach btcd (JSON-RPC over TLS, `cert` is btcd's rpc.cert, pinned): blocks are fed
//        from height 1 (or the stored best block) to ChainMonitor, ChannelManager (LDK
//        `Listen`) and the wallet, then btcd is polled every `poll_ms` (200). Replies once
//        caught up with btcd's tip.
//        LDK's broadcasts go to btcd `sendrawtransaction` from then on.
//   sync                      -> {height, block_hash}   catch up with btcd's tip now
//   new_address               -> {address}      a fresh P2WPKH address of the wallet
//   balance                   -> {confirmed_sat, spendable_sat, locked_sat, immature_sat,
//                                 utxos, height}   confirmed coins only (wallet.mjs)
//   open_channel {pubkey, amount_sat, push_msat, announce, feerate_sat_per_vb, timeout_ms}
//        -> {temporary_channel_id, channel_id, funding_txid, funding_output_index, funding_fee_sat}
//        LDK's `create_channel` to a connected peer; the wallet funds it on
//        FundingGenerationReady (feerate default 2 sat/vB). Replies at ChannelPending (the
//        funding transaction was signed by both and broadcast), or fails with the reason the
//        channel closed (e.g. the peer's `error`); fails at once if the peer is not connected.
//   list_channels             -> {channels: [{channel_id, counterparty, capacity_sat,
//        outbound_msat, inbound_msat (LDK's outbound/inbound capacity: spendable now, reserve
//        excluded), is_usable, is_channel_ready, is_outbound, is_announced, short_channel_id
//        (u64 as a decimal string, or null), confirmations, confirmations_required,
//        funding_txid, funding_output_index}]}
//   close_channel {channel_id, counterparty}       -> {}   cooperative close (shutdown)
//   force_close_channel {channel_id, counterparty} -> {}   broadcast our latest commitment
//   invoice {amount_msat (null: any), description, expiry_s}
//        -> {bolt11, payment_hash}   LDK's own BOLT 11 invoice (create_invoice_from_channelmanager:
//        route hints for its unannounced channels); a payment to it is claimed at once
//   pay {bolt11, timeout_ms} -> {payment_hash, preimage, fee_msat}   send_payment (3 attempts);
//        replies at PaymentSent, fails at PaymentFailed with LDK's reason
// Events: payment_claimed {payment_hash, amount_msat} (a payment to our invoice, claimed),
//   block_disconnected {height, block_hash} (a reorg), broadcast {txid, ok, error?,
//   already? (btcd had it: the peer sent it first)},
//   funding_broadcast {txid, temporary_channel_id},
//   channel_pending {channel_id, counterparty, funding_txid, funding_output_index},
//   channel_ready {channel_id, counterparty}, channel_closed {channel_id, counterparty,
//   reason, detail}, spendable_outputs {count}, sweep {txid} (outputs that do not already pay
//   the wallet are spent to it with KeysManager's OutputSpender), ldk_event {type}.
// Inbound channels are accepted automatically, public or private (node.mjs's UserConfig; no
// anchors: LDK 0.1 wants anchor channels accepted by hand, and LND then uses static_remotekey).

import { BtcdRpc, ChainFeed } from "./chain.mjs";

const DEFAULT_FEERATE_SAT_PER_VB = 2;

export function installChannels(ctx) {
  const { ldk, chanMan, chainMonitor, keysManager, wallet, bitcoin, emit, log, hex, unhex } = ctx;
  let rpc = null;
  let feed = null;
  let pendingTx = []; // broadcasts before `chain`
  const fundingTxids = new Map(); // funding txid -> temporary channel id
  const openWaiters = new Map(); // temporary channel id hex -> {resolve, reject, info}
  const payWaiters = new Map(); // payment id hex -> {resolve, reject}
  let nextUserChannelId = 1n;

  const txidOf = (raw) => bitcoin.Transaction.fromBuffer(Buffer.from(raw)).getId();
  const rev = (u8) => Buffer.from(u8).reverse().toString("hex");
  const chanIdHex = (cid) => hex(cid.get_a());

  function sendTx(raw) {
    const txid = txidOf(raw);
    if (fundingTxids.has(txid)) {
      emit({ event: "funding_broadcast", txid, temporary_channel_id: fundingTxids.get(txid) });
    }
    if (rpc === null) {
      pendingTx.push(raw);
      emit({ event: "broadcast", txid, ok: false, error: "no chain attached yet (queued)" });
      return;
    }
    rpc.call("sendrawtransaction", [hex(raw)]).then(
      () => emit({ event: "broadcast", txid, ok: true }),
      (e) => {
        const error = String(e.message || e);
        // The peer broadcast the same transaction first (e.g. a closing transaction).
        if (error.includes("already have transaction")) {
          emit({ event: "broadcast", txid, ok: true, already: true });
          return;
        }
        log("info", "broadcast refused", { txid, error });
        emit({ event: "broadcast", txid, ok: false, error });
      });
  }
  ctx.broadcastQueue.send = (txs) => { for (const tx of txs) sendTx(tx); };

  // -- LDK events ---------------------------------------------------------------------------

  const actions = []; // work that calls back into ChannelManager, run after event handling
  const handler = ldk.EventHandler.new_impl({
    handle_event(ev) {
      try {
        onEvent(ev);
      } catch (e) {
        log("error", "event handler failed", { error: String(e && e.stack ? e.stack : e) });
      }
      return ldk.Result_NoneReplayEventZ.constructor_ok();
    },
  });

  function onEvent(ev) {
    if (ev instanceof ldk.Event_FundingGenerationReady) {
      const tmp = ev.temporary_channel_id;
      const cp = ev.counterparty_node_id;
      const script = ev.output_script;
      const value = ev.channel_value_satoshis;
      actions.push(() => fundChannel(tmp, cp, script, value));
    } else if (ev instanceof ldk.Event_ChannelPending) {
      const out = {
        event: "channel_pending", channel_id: chanIdHex(ev.channel_id),
        counterparty: hex(ev.counterparty_node_id),
        funding_txid: rev(ev.funding_txo.get_txid()), funding_output_index: ev.funding_txo.get_index(),
      };
      emit(out);
      const tmp = chanIdHex(ev.former_temporary_channel_id);
      const w = openWaiters.get(tmp);
      if (w) {
        openWaiters.delete(tmp);
        w.resolve({ temporary_channel_id: tmp, channel_id: out.channel_id, funding_txid: out.funding_txid,
          funding_output_index: out.funding_output_index, funding_fee_sat: w.info.fee_sat ?? null });
      }
    } else if (ev instanceof ldk.Event_ChannelReady) {
      emit({ event: "channel_ready", channel_id: chanIdHex(ev.channel_id), counterparty: hex(ev.counterparty_node_id) });
    } else if (ev instanceof ldk.Event_ChannelClosed) {
      const reason = ev.reason.constructor.name.replace(/^ClosureReason_/, "");
      const detail = closureDetail(ev.reason);
      const id = chanIdHex(ev.channel_id);
      const cp = ev.counterparty_node_id ? hex(ev.counterparty_node_id) : null;
      emit({ event: "channel_closed", channel_id: id, counterparty: cp, reason, detail });
      const w = openWaiters.get(id);
      if (w) {
        openWaiters.delete(id);
        w.reject(new Error(`channel closed before funding: ${reason}${detail ? ": " + detail : ""}`));
      }
    } else if (ev instanceof ldk.Event_PendingHTLCsForwardable) {
      // Received HTLCs become PaymentClaimable only once LDK processes them (it asks
      // for a delay; the test bed has no reason to batch).
      actions.push(() => chanMan.process_pending_htlc_forwards());
    } else if (ev instanceof ldk.Event_PaymentClaimable) {
      const pre = ev.purpose instanceof ldk.PaymentPurpose_Bolt11InvoicePayment
        ? optional(ev.purpose.payment_preimage) : null;
      if (pre) actions.push(() => chanMan.claim_funds(pre));
      else chanMan.fail_htlc_backwards(ev.payment_hash);
    } else if (ev instanceof ldk.Event_PaymentClaimed) {
      emit({ event: "payment_claimed", payment_hash: hex(ev.payment_hash), amount_msat: Number(ev.amount_msat) });
    } else if (ev instanceof ldk.Event_PaymentSent) {
      const id = optional(ev.payment_id);
      const w = id ? payWaiters.get(hex(id)) : null;
      if (w) {
        payWaiters.delete(hex(id));
        const fee = optional(ev.fee_paid_msat);
        w.resolve({ payment_hash: hex(ev.payment_hash), preimage: hex(ev.payment_preimage),
          fee_msat: fee === null ? null : Number(fee) });
      }
    } else if (ev instanceof ldk.Event_PaymentFailed) {
      const w = payWaiters.get(hex(ev.payment_id));
      if (w) {
        payWaiters.delete(hex(ev.payment_id));
        const r = optional(ev.reason);
        w.reject(new Error(`payment failed: ${r === null ? "unknown" : String(r)}`));
      }
    } else if (ev instanceof ldk.Event_DiscardFunding) {
      const info = ev.funding_info;
      if (info instanceof ldk.FundingInfo_Tx) wallet.unlock(txidOf(info.transaction));
      emit({ event: "ldk_event", type: "DiscardFunding", channel_id: chanIdHex(ev.channel_id) });
    } else if (ev instanceof ldk.Event_SpendableOutputs) {
      const descs = ev.outputs;
      emit({ event: "spendable_outputs", count: descs.length, channel_id: ev.channel_id ? chanIdHex(ev.channel_id) : null });
      actions.push(() => sweep(descs));
    } else {
      emit({ event: "ldk_event", type: ev.constructor.name.replace(/^Event_/, "") });
    }
  }

  function closureDetail(r) {
    if (r instanceof ldk.ClosureReason_CounterpartyForceClosed) return r.peer_msg.get_a();
    if (r instanceof ldk.ClosureReason_ProcessingError) return r.err;
    return "";
  }

  function fundChannel(tmp, cp, script, value) {
    const tmpHex = chanIdHex(tmp);
    const w = openWaiters.get(tmpHex);
    const rate = w?.info.feerate ?? DEFAULT_FEERATE_SAT_PER_VB;
    let funded;
    try {
      funded = wallet.fund(script, value, rate, feed ? feed.tip.height : 0);
    } catch (e) {
      log("warn", "funding failed", { error: String(e) });
      if (w) { openWaiters.delete(tmpHex); w.reject(e); }
      chanMan.force_close_without_broadcasting_txn(tmp, cp, "funding failed");
      return;
    }
    fundingTxids.set(funded.txid, tmpHex);
    ctx.save(true);
    if (w) w.info.fee_sat = funded.fee_sat;
    const res = chanMan.funding_transaction_generated(tmp, cp, funded.tx);
    if (!res.is_ok()) {
      wallet.unlock(funded.txid);
      const err = new Error("funding_transaction_generated refused");
      if (w) { openWaiters.delete(tmpHex); w.reject(err); }
    }
  }

  // Outputs LDK hands us that do not already pay the wallet (to_remote, delayed to_local)
  // are spent to the wallet's sweep script; StaticOutputs at that script are wallet coins.
  function sweep(descs) {
    const foreign = descs.filter((d) => !(d instanceof ldk.SpendableOutputDescriptor_StaticOutput
      && Buffer.from(d.output.script_pubkey).equals(wallet.sweepScript)));
    if (!foreign.length) return;
    const res = keysManager.as_OutputSpender().spend_spendable_outputs(
      foreign, [], Uint8Array.from(wallet.sweepScript), 1000, ldk.Option_u32Z.constructor_none());
    if (!res.is_ok()) {
      log("warn", "spend_spendable_outputs failed", {});
      return;
    }
    const tx = res.res;
    emit({ event: "sweep", txid: txidOf(tx) });
    sendTx(tx);
  }

  function processEvents() {
    chainMonitor.as_EventsProvider().process_pending_events(handler);
    chanMan.as_EventsProvider().process_pending_events(handler);
    while (actions.length) {
      try {
        actions.shift()();
      } catch (e) {
        log("error", "event action failed", { error: String(e && e.stack ? e.stack : e) });
      }
    }
  }

  // -- chain --------------------------------------------------------------------------------

  const listener = {
    connect(raw, height, hashHex) {
      chainMonitor.as_Listen().block_connected(raw, height);
      chanMan.as_Listen().block_connected(raw, height);
      wallet.connectBlock(bitcoin.Block.fromBuffer(Buffer.from(raw)), height);
      log("debug", "block connected", { height, hash: hashHex });
      processEvents();
      ctx.save(true);
    },
    disconnect(header, height, hashHex) {
      emit({ event: "block_disconnected", height, block_hash: hashHex });
      chanMan.as_Listen().block_disconnected(header, height);
      chainMonitor.as_Listen().block_disconnected(header, height);
      wallet.disconnectBlock(height);
      processEvents();
      ctx.save(true);
    },
  };

  const tipReply = (t) => ({ height: t.height, block_hash: t.hash });

  const commands = {
    async chain(req) {
      if (rpc) throw new Error("chain already attached");
      const r = new BtcdRpc({ host: req.host, port: req.port, cert: req.cert, user: req.user, password: req.password });
      const start = ctx.startBlock ?? { height: 0, hashHex: await r.call("getblockhash", [0]) };
      rpc = r;
      feed = new ChainFeed(rpc, listener, start, log);
      const tip = await feed.sync();
      feed.start(req.poll_ms ?? 200);
      const queued = pendingTx;
      pendingTx = [];
      for (const tx of queued) sendTx(tx);
      return tipReply(tip);
    },

    async sync() {
      if (!feed) throw new Error("no chain attached (send `chain` first)");
      return tipReply(await feed.sync());
    },

    async new_address() {
      const address = wallet.newAddress();
      ctx.save(true);
      return { address };
    },

    async balance() {
      return { ...wallet.balance(feed ? feed.tip.height : 0), height: feed ? feed.tip.height : 0 };
    },

    async open_channel(req) {
      if (!feed) throw new Error("no chain attached (send `chain` first)");
      const their = unhex(req.pubkey);
      if (!ctx.isConnected(String(req.pubkey).toLowerCase())) throw new Error(`not connected to ${req.pubkey}`);
      const amount = BigInt(req.amount_sat);
      const push = BigInt(req.push_msat ?? 0);
      const cfg = ldk.UserConfig.constructor_default();
      const hs = cfg.get_channel_handshake_config();
      hs.set_announce_for_forwarding(Boolean(req.announce));
      cfg.set_channel_handshake_config(hs);
      const userId = nextUserChannelId++;
      const res = chanMan.create_channel(their, amount, push, userId, null, cfg);
      if (!res.is_ok()) throw new Error(`create_channel: ${apiError(res.err)}`);
      const tmpHex = chanIdHex(res.res);
      const timeoutMs = req.timeout_ms ?? 60000;
      const done = new Promise((resolve, reject) => {
        openWaiters.set(tmpHex, { resolve, reject, info: { feerate: req.feerate_sat_per_vb } });
      });
      let timer;
      const timeout = new Promise((_r, reject) => {
        timer = setTimeout(() => {
          openWaiters.delete(tmpHex);
          reject(new Error(`no channel_pending for ${tmpHex} in ${timeoutMs} ms`));
        }, timeoutMs);
      });
      ctx.pump();
      try {
        return await Promise.race([done, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },

    async invoice(req) {
      const amt = req.amount_msat == null ? ldk.Option_u64Z.constructor_none()
        : ldk.Option_u64Z.constructor_some(BigInt(req.amount_msat));
      const res = ldk.UtilMethods.constructor_create_invoice_from_channelmanager(
        chanMan, amt, String(req.description ?? ""), req.expiry_s ?? 3600, ldk.Option_u16Z.constructor_none());
      if (!res.is_ok()) throw new Error(`invoice: ${res.err}`);
      return { bolt11: res.res.to_str(), payment_hash: hex(res.res.payment_hash()) };
    },

    async pay(req) {
      const parsed = ldk.Bolt11Invoice.constructor_from_str(String(req.bolt11));
      if (!parsed.is_ok()) throw new Error(`pay: not a BOLT 11 invoice: ${parsed.err}`);
      const params = ldk.UtilMethods.constructor_payment_parameters_from_invoice(parsed.res);
      if (!params.is_ok()) throw new Error("pay: the invoice has no amount");
      const hash = params.res.get_a();
      const id = hash; // one payment per invoice: its hash names it
      const done = new Promise((resolve, reject) => payWaiters.set(hex(id), { resolve, reject }));
      const res = chanMan.send_payment(hash, params.res.get_b(), id, params.res.get_c(),
        ldk.Retry.constructor_attempts(3));
      if (!res.is_ok()) {
        payWaiters.delete(hex(id));
        throw new Error(`send_payment: ${res.err}`);
      }
      ctx.pump();
      let timer;
      const timeout = new Promise((_r, reject) => {
        timer = setTimeout(() => {
          payWaiters.delete(hex(id));
          reject(new Error(`no PaymentSent for ${hex(hash)} in ${req.timeout_ms ?? 60000} ms`));
        }, req.timeout_ms ?? 60000);
      });
      try {
        return await Promise.race([done, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },

    async list_channels() {
      return { channels: chanMan.list_channels().map(channelJson) };
    },

    async close_channel(req) {
      const res = chanMan.close_channel(ldk.ChannelId.constructor_new(unhex(req.channel_id)), unhex(req.counterparty));
      if (!res.is_ok()) throw new Error(`close_channel: ${apiError(res.err)}`);
      ctx.pump();
      return {};
    },

    async force_close_channel(req) {
      const res = chanMan.force_close_broadcasting_latest_txn(
        ldk.ChannelId.constructor_new(unhex(req.channel_id)), unhex(req.counterparty), "force close requested by the test");
      if (!res.is_ok()) throw new Error(`force_close: ${apiError(res.err)}`);
      ctx.pump();
      return {};
    },
  };

  function apiError(err) {
    const name = err.constructor.name.replace(/^APIError_/, "");
    return err.err ? `${name}: ${err.err}` : name;
  }

  const optional = (o) => (o && "some" in o ? o.some : null);

  function channelJson(c) {
    const txo = c.get_funding_txo();
    const scid = optional(c.get_short_channel_id());
    return {
      channel_id: chanIdHex(c.get_channel_id()),
      counterparty: hex(c.get_counterparty().get_node_id()),
      capacity_sat: Number(c.get_channel_value_satoshis()),
      outbound_msat: Number(c.get_outbound_capacity_msat()),
      inbound_msat: Number(c.get_inbound_capacity_msat()),
      is_usable: c.get_is_usable(),
      is_channel_ready: c.get_is_channel_ready(),
      is_outbound: c.get_is_outbound(),
      is_announced: c.get_is_announced(),
      short_channel_id: scid === null ? null : BigInt.asUintN(64, BigInt(scid)).toString(),
      confirmations: optional(c.get_confirmations()),
      confirmations_required: optional(c.get_confirmations_required()),
      funding_txid: txo ? rev(txo.get_txid()) : null,
      funding_output_index: txo ? txo.get_index() : null,
    };
  }

  function tick() {
    chanMan.timer_tick_occurred();
    chainMonitor.rebroadcast_pending_claims();
  }

  function stop() {
    if (feed) feed.stop();
    if (rpc) rpc.close();
  }

  return { commands, processEvents, tick, stop };
}
