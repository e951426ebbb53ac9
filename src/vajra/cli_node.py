"""`vajra node ID ...`: one hosted node's channels and on-chain wallet, through the
running runtime.

    vajra node ID channels                 the node's channels (state, capacity, balances)
    vajra node ID invoice AMOUNT_MSAT --description TEXT [--expiry S]
                                           a BOLT 11 invoice (the node stays asleep)
    vajra node ID payments                 received (and sent) payments and their states
    vajra node ID close CHANNEL_ID --force  close unilaterally: broadcast the node's latest
                                           commitment, sweep what is owed (BOLT 5)
    vajra node ID pay BOLT11 --device NAME [--user-present] [--max-fee-msat N]
                                           pay an invoice under the device's authorisation
    vajra node ID close CHANNEL_ID [--no-wait] [--timeout S]
                                           close a channel cooperatively: the node's share
                                           goes to its wallet (waits for the closing tx)
    vajra node ID open PEER_ID@HOST:PORT AMOUNT_SAT --device NAME [--push-msat N]
                                           open a channel as funder from the node's wallet

    vajra node ID address                  a fresh receive address of the node
    vajra node ID balance                  confirmed and unconfirmed sat
    vajra node ID utxos                    the node's unspent outputs
    vajra node ID send ADDRESS AMOUNT_SAT --device NAME
                                           send on-chain, authorised by a device

The node's keys stay on its live signer: `send` asks the runtime what the spend would
cost, has the device (the `vajra device` simulator: --device-dir, env VAJRA_DEVICE_DIR)
sign an on-chain authorisation for exactly that destination and amount and a maximum
fee (--max-fee-sat, default the quoted fee), and hands it to the runtime, which builds
the PSBT and asks the signer; the signer signs only what the authorisation covers. The
runtime is found as `vajra nodes` finds it (--store or --admin).

Output is JSON with --json; errors are then JSON on stderr ({"error": code, ...}).
Exit codes: 0 done, 1 error or refused, 3 the signer needs a confirmation
(--user-present, or --confirm-by OWNER_DEVICE).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

CHAIN_ENV = "VAJRA_CHAIN"


class CliError(Exception):
    def __init__(self, code: str, detail: str = "", body: dict[str, Any] | None = None) -> None:
        self.code = code
        self.detail = detail
        self.body = body or {"error": code, "detail": detail}
        super().__init__(f"{code}: {detail}" if detail else code)


def _call(
    args: argparse.Namespace, action: str, body: dict[str, Any] | None = None, *,
    under: str = "wallet/",
) -> Any:  # fmt: skip
    from vajra.runtime.admin_client import AdminClient, AdminError

    try:
        if args.admin:
            client = AdminClient(args.admin, timeout=120)
        elif args.store:
            client = AdminClient.for_store(args.store, timeout=120)
        else:
            raise CliError("usage", "give --store (of a running runtime) or --admin SOCKET")
        path = f"/v1/nodes/{args.id}/{under}{action}"
        return client.get(path) if body is None else client.post(path, body)
    except AdminError as e:
        code = "no_runtime" if e.status == 0 and e.error != "forbidden" else e.error
        raise CliError(code, e.detail, {**e.body, "error": code}) from None


def _print(args: argparse.Namespace, obj: Any, text: str) -> None:
    print(json.dumps(obj) if args.json else text)


def cmd_channels(args: argparse.Namespace) -> int:
    """The summary the node's worker writes after every channel change (decision 0020):
    shown for a sleeping node without waking it."""
    out = _call(args, "channels", under="")
    lines = []
    for c in out["channels"]:
        cid = c.get("channel_id", "(opening)")
        bal = ""
        if "local_balance_msat" in c:
            bal = f"  local {c['local_balance_msat']} msat  remote {c['remote_balance_msat']} msat"
        cap = f"  {c['capacity_sat']} sat" if "capacity_sat" in c else ""
        lines.append(f"{cid}  {c['state']}{cap}  peer {c['peer']}{bal}")
    _print(args, out, "\n".join(lines) or "no channels")
    return 0


def cmd_invoice(args: argparse.Namespace) -> int:
    """A BOLT 11 invoice of the node, signed by its signer; the node is not woken."""
    if args.amount_msat < 0:
        raise CliError(
            "bad_amount", f"AMOUNT_MSAT must be positive (0: any amount), not {args.amount_msat}"
        )
    body = {"amount_msat": args.amount_msat or None, "description": args.description,
            "expiry_s": args.expiry}  # fmt: skip
    out = _call(args, "invoice", body, under="")
    _print(args, out, out["bolt11"])
    return 0


def cmd_payments(args: argparse.Namespace) -> int:
    """The node's payment records as its worker last wrote them (no wake)."""
    out = _call(args, "payments", under="")
    lines = []
    for p in out["payments"]:
        fee = f"  fee {p['fee_msat']} msat" if p.get("direction") == "outgoing" else ""
        why = f"  ({p['reason']})" if p.get("reason") else ""
        lines.append(f"{p['direction']:8}  {p['payment_hash']}  {p['amount_msat']} msat{fee}  "
                     f"{p['state']}{why}")  # fmt: skip
    _print(args, out, "\n".join(lines) or "no payments")
    return 0


FINAL_STATES = ("succeeded", "failed")


def cmd_pay(args: argparse.Namespace) -> int:
    """Pay a BOLT 11 invoice: the device signs a `PaymentAuthorisation` for the
    invoice's own hash and amount (as `vajra device authorise` would), the runtime's
    worker wakes the node and starts it (decision 0023), and this waits for a final
    state in the payments list. Exit 1 when it failed (the reason printed)."""
    from vajra.cli_device import DeviceFile, _dir
    from vajra.node.payments import PaymentError, read_invoice
    from vajra.signer.messages import FLAG_USER_PRESENT, Confirmation, PaymentAuthorisation

    if args.max_fee_msat < 0:
        raise CliError("usage", f"--max-fee-msat must be >= 0, not {args.max_fee_msat}")
    try:  # the device reads what it signs from the invoice itself, not from the runtime
        inv = read_invoice(args.bolt11, int(time.time()))
    except PaymentError as e:
        raise CliError(e.code, str(e).removeprefix(f"{e.code}: ")) from None
    assert inv.amount_msat is not None
    dev = DeviceFile(_dir(args) / f"{args.device}.json")
    auth = PaymentAuthorisation(
        bytes.fromhex(args.id), inv.payment_hash, inv.amount_msat, args.max_fee_msat,
        int(time.time()) + args.expiry_s, dev.next_counter(), dev.key.device_id,
        FLAG_USER_PRESENT if args.user_present else 0,
    ).signed(dev.key)  # fmt: skip
    body: dict[str, Any] = {"bolt11": args.bolt11, "authorisation": auth.encode().hex()}
    if args.confirm_by:
        owner = DeviceFile(_dir(args) / f"{args.confirm_by}.json")
        body["confirmation"] = (
            Confirmation(auth.auth_id, owner.key.device_id).signed(owner.key).encode().hex()
        )
    rec: dict[str, Any] = dict(_call(args, "pay", body, under=""))
    deadline = time.monotonic() + args.timeout
    while rec.get("state") not in FINAL_STATES and time.monotonic() < deadline:
        time.sleep(0.25)
        for p in _call(args, "payments", under="")["payments"]:
            if p.get("direction") == "outgoing" and p["payment_hash"] == inv.payment_hash.hex():
                rec = dict(p)
    state = rec.get("state")
    if state not in FINAL_STATES:
        raise CliError("timeout", f"still {state} after {args.timeout} s", {
            "error": "timeout", "detail": f"still {state}", "payment": rec})  # fmt: skip
    if state == "failed":
        raise CliError("payment_failed", str(rec.get("reason") or ""),
                       {"error": "payment_failed", "detail": rec.get("reason"), "payment": rec})  # fmt: skip
    _print(args, rec, f"paid {rec['amount_msat']} msat (fee {rec['fee_msat']} msat): "
                      f"preimage {rec.get('preimage')}")  # fmt: skip
    return 0


def _channel(args: argparse.Namespace, channel_id: str) -> dict[str, Any] | None:
    for c in _call(args, "channels", under="")["channels"]:
        if c.get("channel_id") == channel_id:
            return dict(c)
    return None


def cmd_close(args: argparse.Namespace) -> int:
    """Close a channel cooperatively (decision 0029): the node's worker wakes it, sends
    `shutdown` paying the node wallet's close script, and the fee is negotiated with the
    peer (the funder pays it); this waits until the closing transaction is agreed and
    broadcast (`closing_txid` in the channel list) unless --no-wait. "closed" follows
    once the chain watcher sees it confirmed. --force: a unilateral close instead
    (`_force_close`)."""
    cid = args.channel_id.lower()
    if len(cid) != 64 or any(ch not in "0123456789abcdef" for ch in cid):
        raise CliError("usage", f"CHANNEL_ID must be 64 hex digits (vajra node ID channels), "
                                f"not {args.channel_id!r}")  # fmt: skip
    if args.force:
        return _force_close(args, cid)
    view: dict[str, Any] = dict(_call(args, "close", {"channel_id": cid}, under=""))
    deadline = time.monotonic() + args.timeout
    while not args.no_wait and "closing_txid" not in view:
        if time.monotonic() >= deadline:
            detail = f"no closing transaction agreed after {args.timeout} s"
            raise CliError("timeout", detail, {"error": "timeout", "detail": detail,
                                               "channel": view})  # fmt: skip
        time.sleep(0.25)
        view = _channel(args, cid) or view
    if "closing_txid" in view:
        text = f"{cid} {view['state']}: closing transaction {view['closing_txid']} broadcast"
    else:
        text = f"{cid} {view['state']}: shutdown sent, the fee is being negotiated"
    _print(args, view, text)
    return 0


def _force_close(args: argparse.Namespace, cid: str) -> int:
    """A unilateral close (decision 0025): the node's latest commitment, signed by its
    signer, is broadcast; its outputs are swept to the node's wallet as they mature."""
    out = _call(args, "close", {"channel_id": cid, "force": True}, under="")
    refused = out.get("onchain_refused")
    if refused:
        raise CliError("refused", str(refused), {"error": "refused", "detail": refused,
                                                 "channel": out})  # fmt: skip
    onchain = out.get("onchain") or {}
    _print(args, out, f"{out['channel_id']}  {out['state']}  commitment {onchain.get('txid')}")
    return 0


def cmd_address(args: argparse.Namespace) -> int:
    out = _call(args, "address", {})
    _print(args, out, out["address"])
    return 0


def cmd_balance(args: argparse.Namespace) -> int:
    out = _call(args, "balance")
    _print(args, out, f"confirmed {out['confirmed_sat']} sat, unconfirmed "
                      f"{out['unconfirmed_sat']} sat (tip {out['tip_height']})")  # fmt: skip
    return 0


def cmd_utxos(args: argparse.Namespace) -> int:
    out = _call(args, "utxos")
    lines = [f"{u['txid']}:{u['vout']}  {u['value_sat']} sat  {u['confirmations']} conf  "
             f"{u['address']}" for u in out["utxos"]]  # fmt: skip
    _print(args, out, "\n".join(lines) or "no unspent outputs")
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    from vajra.bitcoin.script import address_to_script
    from vajra.cli_device import DeviceFile, _dir
    from vajra.crypto.hashes import sha256
    from vajra.errors import DecodeError
    from vajra.signer.messages import FLAG_USER_PRESENT, Confirmation
    from vajra.signer.onchain_messages import OnchainAuthorisation

    if args.amount_sat < 1:
        raise CliError("usage", "AMOUNT_SAT must be a positive integer")
    # The device computes what it signs from the address itself, not from the runtime.
    chain = args.chain or os.environ.get(CHAIN_ENV) or "regtest"
    try:
        script = address_to_script(args.address, chain)
    except (DecodeError, ValueError) as e:
        raise CliError("bad_address", str(e)) from None
    quote = _call(args, "quote", {"address": args.address, "amount_sat": args.amount_sat})
    if quote.get("destination_script") != script.hex():
        raise CliError("bad_quote", "the runtime's destination script is not the address's")
    max_fee = args.max_fee_sat if args.max_fee_sat is not None else int(quote["fee_sat"])
    dev = DeviceFile(_dir(args) / f"{args.device}.json")
    auth = OnchainAuthorisation(
        bytes.fromhex(args.id), sha256(script), args.amount_sat, max_fee,
        int(time.time()) + args.expiry_s, dev.next_counter(), dev.key.device_id,
        FLAG_USER_PRESENT if args.user_present else 0,
    ).signed(dev.key)  # fmt: skip
    body: dict[str, Any] = {"address": args.address, "amount_sat": args.amount_sat,
                            "authorisation": auth.encode().hex()}  # fmt: skip
    if args.confirm_by:
        owner = DeviceFile(_dir(args) / f"{args.confirm_by}.json")
        body["confirmation"] = (
            Confirmation(auth.auth_id, owner.key.device_id).signed(owner.key).encode().hex()
        )
    out = _call(args, "send", body)
    _print(args, out, f"sent {args.amount_sat} sat to {args.address}: txid {out['txid']} "
                      f"(fee {out['fee_sat']} sat)")  # fmt: skip
    return 0


def _guarded(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            rc: int = func(args)
            return rc
        except CliError as e:
            body = e.body
        except (OSError, ValueError) as e:
            body = {"error": "error", "detail": str(e)}
        except Exception as e:  # a VajraError from the device file and the like
            body = {"error": type(e).__name__, "detail": str(e)}
        if args.json:
            print(json.dumps(body), file=sys.stderr)
        else:
            detail = f": {body.get('detail')}" if body.get("detail") else ""
            print(f"error: {body.get('error')}{detail}", file=sys.stderr)
        decision = body.get("decision")
        if isinstance(decision, dict) and decision.get("outcome") == "needs_confirmation":
            return 3
        return 1

    return run


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "node",
        help="one node's channels and on-chain wallet: channels, open, pay, address, balance, "
        "utxos, send (via the runtime)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("id", help="node id (66 hex digits)")
    ns = p.add_subparsers(dest="node_cmd", metavar="ACTION", required=True)

    def cmd(name: str, help_: str, func: Any) -> argparse.ArgumentParser:
        c = ns.add_parser(name, help=help_, description=help_)
        c.add_argument("--store", default=None, help="store of the running runtime")
        c.add_argument(
            "--admin", default=None, help="the runtime's admin socket path (instead of --store)"
        )
        c.add_argument("--json", action="store_true", help="JSON output (errors: JSON on stderr)")
        c.set_defaults(func=_guarded(func))
        return c

    cmd("channels", "the node's channels: id, state, capacity, balances, peer", cmd_channels)
    c = cmd("invoice", "a BOLT 11 invoice of the node (signed by its signer; no wake)",
            cmd_invoice)  # fmt: skip
    c.add_argument("amount_msat", type=int, help="amount in millisatoshi (0: any amount)")
    c.add_argument("--description", required=True, help="what the payment is for (d field)")
    c.add_argument("--expiry", type=int, default=3600, help="seconds the invoice is valid")
    cmd("payments", "the node's payments, sent and received: hash, direction, state, amount, fee",
        cmd_payments)  # fmt: skip
    c = cmd("pay", "pay a BOLT 11 invoice, authorised by --device; waits for the outcome",
            cmd_pay)  # fmt: skip
    c.add_argument("bolt11", help="the BOLT 11 invoice (with an amount)")
    c.add_argument("--device", required=True, help="the device that authorises (its file)")
    c.add_argument("--device-dir", default=None, help="device files (env VAJRA_DEVICE_DIR)")
    c.add_argument("--max-fee-msat", type=int, default=0,
                   help="most routing fee the device allows, msat (default 0: direct peer)")  # fmt: skip
    c.add_argument("--expiry-s", type=int, default=300, help="authorisation valid this long")
    c.add_argument("--user-present", action="store_true", help="ring squeezed / biometric")
    c.add_argument("--confirm-by", help="an owner device confirming a large payment")
    c.add_argument("--timeout", type=float, default=120.0,
                   help="seconds to wait for succeeded/failed (exit 1 if neither)")  # fmt: skip
    c = cmd("close", "close a channel cooperatively; the node's share goes to its wallet "
            "(waits until the closing transaction is broadcast); --force: unilateral", cmd_close)  # fmt: skip
    c.epilog = (
        "The peer must be connected to the node (close does not dial it: "
        "peer_offline). Other errors: no_wallet (run `vajra node ID address` once), "
        "unknown_channel, channel_not_ready, channel_failed, already_closing. The "
        "channel shows `closing` with its closing_txid, then `closed` with "
        "closing_height once the transaction confirms (vajra node ID channels). A force "
        "close (--force) broadcasts the node's latest commitment instead; BOLT 5 sweeps "
        "follow to the node's wallet as outputs mature (decision 0025)."
    )
    c.add_argument("channel_id", help="the channel's id (64 hex digits, vajra node ID channels)")
    c.add_argument("--no-wait", action="store_true",
                   help="return once our shutdown is sent, before the fee is agreed")  # fmt: skip
    c.add_argument("--timeout", type=float, default=60.0,
                   help="seconds to wait for the closing transaction (exit 1 after)")  # fmt: skip
    c.add_argument("--force", action="store_true",
                   help="unilateral close: broadcast the node's latest commitment (signed by "
                        "its signer, refused if revoked); no peer needed")  # fmt: skip
    from vajra.cli_node_open import register as register_open

    register_open(cmd)
    cmd("address", "a fresh receive address of the node (watched before it is shown)",
        cmd_address)  # fmt: skip
    cmd("balance", "confirmed and unconfirmed balance in sat, from the chain watcher",
        cmd_balance)  # fmt: skip
    cmd("utxos", "the node's unspent outputs", cmd_utxos)
    c = cmd("send", "send AMOUNT_SAT to ADDRESS, authorised by --device", cmd_send)
    c.add_argument("address", help="destination address")
    c.add_argument("amount_sat", type=int, help="amount in satoshi")
    c.add_argument("--device", required=True, help="the device that authorises (its file)")
    c.add_argument("--device-dir", default=None, help="device files (env VAJRA_DEVICE_DIR)")
    c.add_argument("--max-fee-sat", type=int, default=None,
                   help="most fee the device allows (default: the runtime's quote)")  # fmt: skip
    c.add_argument("--expiry-s", type=int, default=300, help="authorisation valid this long")
    c.add_argument("--user-present", action="store_true", help="ring squeezed / biometric")
    c.add_argument("--confirm-by", help="an owner device confirming a large send")
    c.add_argument("--chain", default=None, help=f"address chain (env {CHAIN_ENV}; regtest)")
