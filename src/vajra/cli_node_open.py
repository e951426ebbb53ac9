"""`vajra node ID open PEER_ID@HOST:PORT AMOUNT_SAT --device NAME`: the hosted node opens
a channel to a peer as funder, from its on-chain wallet (decision 0028).

Two steps, one command. (1) The runtime's worker dials the peer as the node, runs BOLT 2
`open_channel` ... `funding_signed` (every channel signature through the node's signer)
and the wallet drafts the funding transaction: the answer names the funding output (the
2-of-2's P2WSH script), the amount and the fee. (2) The device (`vajra device`
simulator) checks that output is what it was asked for (a P2WSH of AMOUNT_SAT) and signs
an on-chain authorisation for exactly that script, amount and a maximum fee
(--max-fee-sat, default the drafted fee); the runtime has the signer sign the funding
transaction under it and broadcasts it. The channel is usable once the funding output is
deep enough (`vajra node ID channels`).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from vajra.cli_node import CliError, _call, _print


def parse_peer(uri: str) -> tuple[str, str, int]:
    """PEER_ID@HOST:PORT -> (node id hex, host, port). Raises `CliError`."""
    node, at, addr = uri.partition("@")
    host, colon, port = addr.rpartition(":")
    try:
        ok = len(bytes.fromhex(node)) == 33 and bool(at) and bool(colon) and bool(host)
        number = int(port)
    except ValueError:
        ok, number = False, 0
    if not ok or not 0 < number < 65536:
        raise CliError("usage", f"PEER must be NODE_ID@HOST:PORT (66 hex digits), not {uri!r}")
    return node.lower(), host.strip("[]"), number


def cmd_open(args: argparse.Namespace) -> int:
    from vajra.cli_device import DeviceFile, _dir
    from vajra.crypto.hashes import sha256
    from vajra.signer.messages import FLAG_USER_PRESENT, Confirmation
    from vajra.signer.onchain_messages import OnchainAuthorisation

    peer, host, port = parse_peer(args.peer)
    if args.amount_sat < 1:
        raise CliError("usage", f"AMOUNT_SAT must be a positive integer, not {args.amount_sat}")
    if args.push_msat < 0:
        raise CliError("usage", f"--push-msat must be >= 0, not {args.push_msat}")
    dev = DeviceFile(_dir(args) / f"{args.device}.json")  # fails before the peer is asked
    body = {"peer": peer, "host": host, "port": port, "funding_sat": args.amount_sat,
            "push_msat": args.push_msat, "anchors": not args.no_anchors}  # fmt: skip
    opening: dict[str, Any] = dict(_call(args, "open", body, under=""))
    script = bytes.fromhex(str(opening["funding_script"]))
    # The device checks what it signs: a P2WSH output (BOLT 3 funding) of the amount
    # the user typed. The signer checks the rest (its own channel's outpoint, capacity).
    if len(script) != 34 or script[:2] != b"\x00\x20":
        raise CliError("bad_opening", "the funding output is not a P2WSH script", opening)
    if int(opening["amount_sat"]) != args.amount_sat:
        raise CliError("bad_opening", "the funding amount is not AMOUNT_SAT", opening)
    max_fee = args.max_fee_sat if args.max_fee_sat is not None else int(opening["fee_sat"])
    auth = OnchainAuthorisation(
        bytes.fromhex(args.id), sha256(script), args.amount_sat, max_fee,
        int(time.time()) + args.expiry_s, dev.next_counter(), dev.key.device_id,
        FLAG_USER_PRESENT if args.user_present else 0,
    ).signed(dev.key)  # fmt: skip
    fund: dict[str, Any] = {"authorisation": auth.encode().hex()}
    if args.confirm_by:
        owner = DeviceFile(_dir(args) / f"{args.confirm_by}.json")
        fund["confirmation"] = (
            Confirmation(auth.auth_id, owner.key.device_id).signed(owner.key).encode().hex()
        )
    try:
        out: dict[str, Any] = dict(_call(args, f"open/{opening['channel_id']}/fund", fund,
                                         under=""))  # fmt: skip
    except CliError as e:  # the opening is named so the user can tell the peer's side
        e.body.setdefault("channel_id", opening["channel_id"])
        raise
    _print(args, out, f"channel {out['channel_id']} with {peer}: {out['state']}, funding txid "
                      f"{out['funding_txid']} ({args.amount_sat} sat, fee {out['fee_sat']} sat)")  # fmt: skip
    return 0


def register(cmd: Any) -> None:
    """Add `open` with `cli_node.register`'s `cmd` helper."""
    c = cmd("open", "open a channel to PEER as funder from the node's wallet, the funding "
            "authorised by --device (prints the channel; usable at depth)", cmd_open)  # fmt: skip
    c.description = __doc__
    c.formatter_class = argparse.RawDescriptionHelpFormatter
    c.epilog = (
        "errors (exit 1; JSON on stderr with --json): peer_unreachable, peer_refused "
        "(the peer's text), peer_disconnected, peer_timeout, open_failed, "
        "insufficient_funds, signer_refused (exit 3: needs_confirmation, give "
        "--confirm-by or --user-present), no_chain, unknown_node"
    )
    c.add_argument("peer", metavar="PEER_ID@HOST:PORT", help="the peer to open to")
    c.add_argument("amount_sat", type=int, metavar="AMOUNT_SAT",
                   help="channel capacity in satoshi, paid from the node's wallet")  # fmt: skip
    c.add_argument("--device", required=True, help="the device that authorises (its file)")
    c.add_argument("--device-dir", default=None, help="device files (env VAJRA_DEVICE_DIR)")
    c.add_argument("--push-msat", type=int, default=0, help="give the peer this much at open")
    c.add_argument("--no-anchors", action="store_true",
                   help="channel type option_static_remotekey without anchor outputs")  # fmt: skip
    c.add_argument("--max-fee-sat", type=int, default=None,
                   help="most funding fee the device allows (default: the drafted fee)")  # fmt: skip
    c.add_argument("--expiry-s", type=int, default=300, help="authorisation valid this long")
    c.add_argument("--user-present", action="store_true", help="ring squeezed / biometric")
    c.add_argument("--confirm-by", help="an owner device confirming a large funding")
