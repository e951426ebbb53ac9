// The LDK objects of the harness: fee estimator, broadcaster, monitor persister, ChainMonitor,
// the SignerProvider (KeysManager's, with the wallet's scripts), router, ChannelManager and
// PeerManager. harness.mjs wires them to sockets and stdin.
//
// With a data directory, state survives a restart (same --seed): every ChannelMonitor is
// written to monitors/<funding txid>_<vout>.bin on each update (LDK's Persist, synchronous,
// so an update is Completed only once it is on disk), the ChannelManager to manager.bin by
// `saveManager` (after every block and whenever LDK says it needs persisting), the wallet
// to wallet.json. At start, monitors are read, the ChannelManager is read with them
// (ChannelManagerReadArgs) and each monitor is handed to the ChainMonitor (watch_channel);
// the chain feed resumes from the manager's best block. Files are replaced atomically
// (write to .tmp, fsync, rename). Without a data directory everything is in memory.

import * as fs from "node:fs";
import * as path from "node:path";

export function writeAtomic(file, data) {
  const tmp = file + ".tmp";
  const fd = fs.openSync(tmp, "w", 0o600);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

export function buildNode({ ldk, network, logger, keysManager, wallet, emit, hex, now, dataDir, log }) {
  const monitorDir = dataDir ? path.join(dataDir, "monitors") : null;
  if (monitorDir) fs.mkdirSync(path.join(monitorDir, "archive"), { recursive: true, mode: 0o700 });
  const monitorFile = (outpoint) =>
    path.join(monitorDir, `${Buffer.from(outpoint.get_txid()).reverse().toString("hex")}_${outpoint.get_index()}.bin`);
  const writeMonitor = (outpoint, monitor) => {
    if (!monitorDir) return ldk.ChannelMonitorUpdateStatus.LDKChannelMonitorUpdateStatus_Completed;
    try {
      writeAtomic(monitorFile(outpoint), monitor.write());
      return ldk.ChannelMonitorUpdateStatus.LDKChannelMonitorUpdateStatus_Completed;
    } catch (e) {
      log("error", "monitor write failed", { error: String(e) });
      return ldk.ChannelMonitorUpdateStatus.LDKChannelMonitorUpdateStatus_UnrecoverableError;
    }
  };
  // Fee rates in sat per 1000 weight units, per LDK confirmation target. Regtest has no fee
  // market: these are fixed. MaximumFeeEstimate is the ceiling LDK derives the highest
  // commitment feerate it accepts from a funding peer from; it is set well above LND's
  // regtest fallback (50 sat/vB, 12,500 sat/kw). Channel fees are 1,000 sat/kw, the close
  // minimum LDK's floor (253).
  const CT = ldk.ConfirmationTarget;
  const FEE_PER_KW = new Map([
    [CT.LDKConfirmationTarget_MaximumFeeEstimate, 25000],
    [CT.LDKConfirmationTarget_UrgentOnChainSweep, 5000],
    [CT.LDKConfirmationTarget_MinAllowedAnchorChannelRemoteFee, 253],
    [CT.LDKConfirmationTarget_MinAllowedNonAnchorChannelRemoteFee, 253],
    [CT.LDKConfirmationTarget_AnchorChannelFee, 253],
    [CT.LDKConfirmationTarget_NonAnchorChannelFee, 1000],
    [CT.LDKConfirmationTarget_ChannelCloseMinimum, 253],
    [CT.LDKConfirmationTarget_OutputSpendingFee, 1000],
  ]);
  const feeEst = ldk.FeeEstimator.new_impl({
    get_est_sat_per_1000_weight(target) {
      return FEE_PER_KW.get(target) ?? 1000;
    },
  });
  // Transactions LDK wants on chain: handed to channels.mjs, which sends them to btcd once the
  // chain is attached (and emits `broadcast`).
  const broadcastQueue = { send: (txs) => { for (const tx of txs) emit({ event: "broadcast", tx: hex(tx) }); } };
  const broadcaster = ldk.BroadcasterInterface.new_impl({
    broadcast_transactions(txs) {
      broadcastQueue.send(txs.map((t) => Uint8Array.from(t)));
    },
  });
  // Monitors are kept in memory (see the header): every update is complete at once.
  const persister = ldk.Persist.new_impl({
    persist_new_channel(outpoint, monitor) {
      return writeMonitor(outpoint, monitor);
    },
    update_persisted_channel(outpoint, _update, monitor) {
      return writeMonitor(outpoint, monitor);
    },
    archive_persisted_channel(outpoint) {
      if (!monitorDir) return;
      const f = monitorFile(outpoint);
      if (fs.existsSync(f)) fs.renameSync(f, path.join(monitorDir, "archive", path.basename(f)));
    },
  });
  const chainMonitor = ldk.ChainMonitor.constructor_new(
    ldk.Option_FilterZ.constructor_none(), broadcaster, logger, feeEst, persister);
  // KeysManager's channel signers, but the wallet's sweep key for shutdown and destination
  // scripts: cooperative-close outputs and swept outputs pay to the harness's own wallet.
  // The user_channel_id handed back to KeysManager is cut to 124 bits: the 0.1.0 bindings'
  // encodeUint128 refuses values >= 2^124 (its bound has one hex digit too few), and LDK draws
  // inbound channels' ids at random over 128 bits. KeysManager only mixes the id into the
  // channel's key derivation as entropy, so the cut costs nothing.
  const U124 = (1n << 124n) - 1n;
  const kmSigner = keysManager.as_SignerProvider();
  const signerProvider = ldk.SignerProvider.new_impl({
    generate_channel_keys_id: (inbound, value, userId) =>
      kmSigner.generate_channel_keys_id(inbound, value, userId & U124),
    derive_channel_signer: (value, keysId) => kmSigner.derive_channel_signer(value, keysId),
    read_chan_signer: (reader) => kmSigner.read_chan_signer(reader),
    get_destination_script: (_keysId) => ldk.Result_CVec_u8ZNoneZ.constructor_ok(Uint8Array.from(wallet.sweepScript)),
    get_shutdown_scriptpubkey: () => ldk.Result_ShutdownScriptNoneZ.constructor_ok(
      ldk.ShutdownScript.constructor_new_p2wpkh(Uint8Array.from(wallet.sweepPubkeyHash))),
  });
  const netGraph = ldk.NetworkGraph.constructor_new(network, logger);
  const scorer = ldk.ProbabilisticScorer.constructor_new(
    ldk.ProbabilisticScoringDecayParameters.constructor_default(), netGraph, logger);
  const lockableScore = ldk.MultiThreadedLockableScore.constructor_new(scorer.as_Score());
  const router = ldk.DefaultRouter.constructor_new(
    netGraph, logger, keysManager.as_EntropySource(), lockableScore.as_LockableScore(),
    ldk.ProbabilisticScoringFeeParameters.constructor_default());
  const msgRouter = ldk.DefaultMessageRouter.constructor_new(netGraph, keysManager.as_EntropySource());
  // Inbound channels are accepted public or private: LDK's default refuses an `open_channel`
  // whose announce flag differs from its own preference (LND opens public channels by default).
  const userConfig = ldk.UserConfig.constructor_default();
  const limits = userConfig.get_channel_handshake_limits();
  limits.set_force_announced_channel_preference(false);
  userConfig.set_channel_handshake_limits(limits);
  const managerFile = dataDir ? path.join(dataDir, "manager.bin") : null;
  let chanMan;
  let startBlock = null; // null: a fresh node at genesis, fed every block from height 1
  if (managerFile && fs.existsSync(managerFile)) {
    const monitors = [];
    for (const name of fs.readdirSync(monitorDir).filter((n) => n.endsWith(".bin"))) {
      const res = ldk.UtilMethods.constructor_C2Tuple_ThirtyTwoBytesChannelMonitorZ_read(
        fs.readFileSync(path.join(monitorDir, name)), keysManager.as_EntropySource(), signerProvider);
      if (!res.is_ok()) throw new Error(`cannot read monitor ${name}`);
      monitors.push(res.res.get_b());
    }
    const res = ldk.UtilMethods.constructor_C2Tuple_ThirtyTwoBytesChannelManagerZ_read(
      fs.readFileSync(managerFile), keysManager.as_EntropySource(), keysManager.as_NodeSigner(),
      signerProvider, feeEst, chainMonitor.as_Watch(), broadcaster, router.as_Router(),
      msgRouter.as_MessageRouter(), logger, userConfig, monitors);
    if (!res.is_ok()) throw new Error("cannot read manager.bin");
    chanMan = res.res.get_b();
    for (const m of monitors) {
      const watched = chainMonitor.as_Watch().watch_channel(m.get_funding_txo().get_a(), m);
      if (!watched.is_ok()) throw new Error("watch_channel refused a stored monitor");
    }
    const best = chanMan.current_best_block();
    startBlock = { height: best.get_height(), hashHex: Buffer.from(best.get_block_hash()).reverse().toString("hex") };
    log("info", "state loaded", { monitors: monitors.length, height: startBlock.height });
  } else {
    chanMan = ldk.ChannelManager.constructor_new(
      feeEst, chainMonitor.as_Watch(), broadcaster, router.as_Router(), msgRouter.as_MessageRouter(),
      logger, keysManager.as_EntropySource(), keysManager.as_NodeSigner(),
      signerProvider, userConfig,
      ldk.ChainParameters.constructor_new(network, ldk.BestBlock.constructor_from_network(network)),
      Math.floor(now / 1000));
  }
  const saveManager = (force) => {
    if (!managerFile) return;
    if (chanMan.get_and_clear_needs_persistence() || force) writeAtomic(managerFile, chanMan.write());
  };
  const ignorer = ldk.IgnoringMessageHandler.constructor_new();
  const peerManager = ldk.PeerManager.constructor_new(
    chanMan.as_ChannelMessageHandler(), ignorer.as_RoutingMessageHandler(),
    ignorer.as_OnionMessageHandler(), ignorer.as_CustomMessageHandler(),
    Math.floor(now / 1000), keysManager.as_EntropySource().get_secure_random_bytes(),
    logger, keysManager.as_NodeSigner());

  // `keep` holds every object LDK was handed, so none is collected (and freed by the
  // bindings' finalizers) while the harness runs.
  const keep = [feeEst, broadcaster, persister, kmSigner, signerProvider, netGraph, scorer,
    lockableScore, router, msgRouter, userConfig, ignorer];
  return { chainMonitor, chanMan, peerManager, broadcastQueue, keep, startBlock, saveManager };
}
