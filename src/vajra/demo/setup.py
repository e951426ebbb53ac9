"""The demo's first half: the chain and two LNDs, the runtime and its live signer, the
hosted nodes met by peers while asleep, and LND-A's channel to one sleeping node."""

from __future__ import annotations

from vajra.demo.common import Demo, uri, vajra
from vajra.testbed.btcd import COINBASE_MATURITY
from vajra.testbed.procs import wait_until
from vajra.testbed.runtime import start_runtime

CHANNEL_SAT = 100_000
"""LND-A's private channel to the hosted node."""
AB_CHANNEL_SAT = 1_000_000
AB_PUSH_SAT = 400_000
"""LND-A's public channel to LND-B, with this much pushed to LND-B (what it pays with)."""


def chain(d: Demo) -> str:
    d.btcd.start()
    # One after the other: a child started from a worker thread would die with that
    # thread (PR_SET_PDEATHSIG follows the thread that forked, osutil.die_with_parent).
    d.lnd_a.start()
    d.lnd_b.start()
    d.btcd.set_mining_address(d.lnd_a.new_address("p2wkh"))
    d.btcd.generate(COINBASE_MATURITY + 10)
    d.lnd_a.wait_synced()
    d.lnd_b.wait_synced()
    bal = wait_until(d.lnd_a.confirmed_balance_sat, timeout=60, what="LND-A's coins")
    d.lnd_a.connect(d.lnd_b.uri)
    txid = d.lnd_a.open_channel(d.lnd_b.node_id, AB_CHANNEL_SAT, push_amt_sat=AB_PUSH_SAT,
                                sat_per_vbyte=2)  # fmt: skip
    return (f"btcd height={d.btcd.getblockcount()}; LND-A {d.lnd_a.node_id[:16]}.. has {bal} "
            f"sat and opened a public {AB_CHANNEL_SAT} sat channel to LND-B "
            f"{d.lnd_b.node_id[:16]}.. (funding {txid[:16]}.., {AB_PUSH_SAT} sat pushed)")  # fmt: skip


def runtime(d: Demo) -> str:
    d.rt = start_runtime(
        d.store, workers=None, metrics_port=None, signer_port=d.signer_port, chain=d.btcd,
        extra=("--idle-timeout", str(d.idle_timeout), "--chain-poll", "0.2"),
        log=d.workdir / "runtime.log", timeout=600,
    )  # fmt: skip
    ready = d.rt.ready
    return (
        f"{ready['workers']} workers on port {d.rt.port}; signer hub on "
        f"{d.signer_port}, runtime key {str(ready.get('runtime_pubkey'))[:16]}.."
    )


def pair(d: Demo) -> str:
    paired = d.signer.init_and_pair(d.store, d.signer_port)
    d.signer.run()
    wait_until(lambda: any(s.get("connected") for s in d.admin("/v1/signers")["signers"]),
               timeout=30, what="the signer to dial in")  # fmt: skip
    return f"signer id {paired['signer_id']} paired (one-time code, pinned keys) and connected"


def create(d: Demo) -> str:
    out = vajra("nodes", "--store", str(d.store), "create", "--count", str(d.nodes),
                "--signer", "1", timeout=1800)  # fmt: skip
    d.hosted = d.admin(f"/v1/nodes?limit={min(d.nodes, 100_000)}")["nodes"]
    return f"{out['created']} nodes created by the signer; identities in runtime memory only"


def lnd_connects(d: Demo, rng_sample: list[dict[str, object]]) -> str:
    for n in rng_sample:
        d.lnd_a.connect(uri(n))
        d.log(f"         LND-A -> {uri(n)}: connected (init exchanged, node asleep)")
    ids = d.lnd_a.peer_ids()
    missing = [n for n in rng_sample if n["node_id"] not in ids]
    if missing:
        raise AssertionError(f"LND-A does not list {len(missing)} hosted nodes")
    return f"LND-A lists {len(rng_sample)} hosted nodes as peers; counters {d.c('handshakes', 'inits', 'wakes')}"


def ldk_pings(d: Demo, rng_sample: list[dict[str, object]]) -> str:
    d.ldk.start()
    rtts = []
    for n in rng_sample:
        d.ldk.connect(str(n["host"]), int(str(n["port"])), str(n["node_id"]))
        rtts.append(d.ldk.ping(str(n["node_id"])))
    return f"{len(rng_sample)} pongs (rtt ms {[round(x) for x in rtts]}); {d.c('pongs', 'wakes')}"


def channel(d: Demo, target: dict[str, object]) -> str:
    nid = d.channel_node = str(target["node_id"])
    d.lnd_a.connect(uri(target))
    d.wait_asleep("every node asleep")
    before = d.counters()
    res = d.lnd_a.cli("openchannel", f"--node_key={nid}", f"--local_amt={CHANNEL_SAT}",
                      "--private", "--sat_per_vbyte=2")  # fmt: skip
    d.log(f"         node {nid[:16]}.. woke and accepted; LND-A broadcast funding tx "
          f"{str(res['funding_txid'])[:16]}.. after the node's funding_signed")  # fmt: skip
    wait_until(lambda: d.counters()["sleeps"] > before["sleeps"],
               timeout=d.idle_timeout + 30, what="the node to sleep while blocks come")  # fmt: skip
    d.btcd.generate(6)

    def active() -> bool:
        return any(c["remote_pubkey"] == nid for c in d.lnd_a.list_channels(active_only=True))

    wait_until(active, timeout=120, interval=1, what="LND-A to list the channel active")
    wait_until(lambda: d.lnd_b.list_channels(active_only=True), timeout=120, interval=1,
               what="LND-B's channel with LND-A active")  # fmt: skip
    row = d.channel_row()
    d.log(f"         vajra node {nid[:16]}.. channels: {row['state']}, {row['capacity_sat']} "
          f"sat, our balance {row['local_balance_msat']} msat")  # fmt: skip
    d.wait_asleep("the node asleep again")
    kinds: dict[str, int] = {}
    audit = d.signer.audit()
    for e in audit["entries"]:
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    d.log(f"         signer audit (chain verified={audit['verified']}): {kinds}")
    return (f"channel active on LND-A, listed by the runtime, node asleep; LND-A <-> LND-B "
            f"active; {d.c('wakes', 'sleeps', 'awake')}")  # fmt: skip
