"""BOLT 2 "Channel Close": `shutdown` and the legacy `closing_signed` negotiation with
the `fee_range` TLV (decision 0016: what LND 0.21 and LDK 0.1 use when
`option_simple_close` is not negotiated; we do not advertise it).

Theory of operation
-------------------
    Close(script, feerate) command     our script, checked ("MUST set scriptpubkey in one
                                       of the following forms"; the upfront script if we
                                       sent one); `shutdown` goes out once no update of
                                       ours is pending on the peer's commitment
    shutdown from the peer             checked the same way (a bad form gets a `warning`
                                       and is ignored; a different upfront script fails
                                       the channel); event `ShutdownReceived`: the owner
                                       answers with `Close` (its wallet's script)
    after either shutdown              no new `update_add_htlc` either way (a peer's is a
                                       broken rule); fulfils, fails, fee updates and the
                                       commitment dance go on until no HTLC is left
    both sent, channel clean           -> NEGOTIATING: the funder asks the signer for
                                       `SignMutualClose` (AWAIT_CLOSING_SIG) and sends the
                                       first `closing_signed` with its `fee_range`
    closing_signed from the peer       its signature is verified here on the BOLT 3 legacy
                                       closing transaction (public data, both variants);
                                       the fee rules of "The receiving node" pick our
                                       answer; equal fees on both sides -> the signed
                                       transaction (event `MutualCloseReady`), CLOSED
    reconnection                       our `shutdown` is resent; negotiation restarts

Everything a close needs is plain data in `ShutdownState` (persisted with the channel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vajra.bitcoin.script import is_p2wpkh, is_p2wsh, witness_program
from vajra.bitcoin.tx import Tx, TxIn
from vajra.channel import signer_io as io
from vajra.channel.closing import closing_sighash, legacy_closing_tx
from vajra.channel.scripts import funding_script
from vajra.channel.signing import commitment_witness
from vajra.channel.spec import Side
from vajra.channel.states import Link, State
from vajra.channel.updates import UpdateRuleBroken
from vajra.crypto.secp256k1 import compact_to_der, verify_digest
from vajra.errors import ProtocolError, VajraError
from vajra.wire import (
    ClosingSigned,
    ClosingSignedTlvs,
    FeeRange,
    Shutdown,
    WarningMessage,
)

if TYPE_CHECKING:
    from vajra.channel.machine import Channel

CLOSING_WEIGHT_WITNESS = 224
"""Weight units the 2-of-2 witness adds to a legacy closing transaction (marker, flag,
item count, empty item, two 73-byte signatures, the 71-byte funding script)."""
MIN_FEERATE_PER_KW = 253


@dataclass(slots=True)
class ShutdownState:
    """One channel's close, plain data (persisted). Negotiation fields restart on every
    reconnection (BOLT 2: "negotiation restarts on reconnection")."""

    anysegwit: bool = False
    """`option_shutdown_anysegwit` negotiated (both advertised it in `init`)."""
    upfront_local: bytes = b""
    upfront_remote: bytes = b""
    """`upfront_shutdown_script`s from open/accept_channel (empty: none)."""
    local_script: bytes | None = None
    local_sent: bool = False
    remote_script: bytes | None = None
    feerate_per_kw: int = 0
    max_feerate_per_kw: int = 0
    signing_fee: int | None = None
    sent_fee: int | None = None
    sent_signature: bytes = b""
    received_fee: int | None = None
    received_signature: bytes = b""
    received_range: tuple[int, int] | None = None

    def restart(self) -> None:
        self.signing_fee = self.sent_fee = self.received_fee = None
        self.sent_signature = self.received_signature = b""
        self.received_range = None


def valid_script(script: bytes, *, anysegwit: bool) -> bool:
    """BOLT 2 `shutdown` forms: P2WPKH, P2WSH, or with `option_shutdown_anysegwit` any
    witness program of versions 1 to 16 (2 to 40 bytes)."""
    if is_p2wpkh(script) or is_p2wsh(script):
        return True
    wp = witness_program(script)
    return anysegwit and wp is not None and wp[0] >= 1


# -- inputs ------------------------------------------------------------------------------


def cmd_close(ch: Channel, cmd: io.Close) -> None:
    """Raises UpdateRuleBroken (nothing changed) for a script or fee BOLT 2 forbids."""
    sd = ch.shutdown
    if sd.local_script is not None:
        raise UpdateRuleBroken("shutdown-already-sent", Side.LOCAL)
    if not valid_script(cmd.scriptpubkey, anysegwit=sd.anysegwit):
        raise UpdateRuleBroken("shutdown-script-form", Side.LOCAL, cmd.scriptpubkey.hex())
    if sd.upfront_local and cmd.scriptpubkey != sd.upfront_local:
        raise UpdateRuleBroken("shutdown-script-not-upfront", Side.LOCAL)
    if cmd.feerate_per_kw < MIN_FEERATE_PER_KW:
        raise UpdateRuleBroken("closing-feerate-too-low", Side.LOCAL, str(cmd.feerate_per_kw))
    sd.local_script = cmd.scriptpubkey
    sd.feerate_per_kw = cmd.feerate_per_kw
    sd.max_feerate_per_kw = max(cmd.max_feerate_per_kw or 0, cmd.feerate_per_kw)
    progress(ch)


def on_shutdown(ch: Channel, m: Shutdown) -> None:
    sd = ch.shutdown
    if sd.remote_script is not None:
        # Resent after a reconnection (BOLT 2 "MUST retransmit shutdown"): the same.
        if m.scriptpubkey != sd.remote_script:
            raise ProtocolError("shutdown-script-changed", state=ch.state.value, message=m.NAME)
        return
    if not valid_script(m.scriptpubkey, anysegwit=sd.anysegwit):
        # "if the scriptpubkey is not in one of the above forms: SHOULD send a warning"
        ch.queue(WarningMessage(ch.channel_id, b"shutdown scriptpubkey not a standard form"))
        return
    if sd.upfront_remote and m.scriptpubkey != sd.upfront_remote:
        # "... that shutdown_scriptpubkey is not equal to scriptpubkey: MUST fail the
        # connection" — and we will not close to anything else.
        raise ProtocolError("shutdown-script-not-upfront", state=ch.state.value, message=m.NAME)
    sd.remote_script = m.scriptpubkey
    if sd.local_script is None:
        ch.emit(io.ShutdownReceived(m.scriptpubkey))
    progress(ch)


def progress(ch: Channel) -> None:
    """Send our shutdown when allowed; start negotiating once both are out and the
    channel is clean. Runs after every input while NORMAL with the link up."""
    sd, led = ch.shutdown, ch.ledger
    if ch.state is not State.NORMAL or ch.link is not Link.UP:
        return
    # "if there are updates pending on the receiving node's commitment transaction:
    # MUST NOT send a shutdown" — ours not yet signed, or the peer's not yet signed back.
    if sd.local_script is not None and not sd.local_sent:
        if led.pending[Side.LOCAL].proposed or led.pending[Side.REMOTE].acked:
            return
        sd.local_sent = True
        ch.queue(Shutdown(ch.channel_id, sd.local_script))
    if not (sd.local_sent and sd.remote_script is not None) or not _clean(ch):
        return
    ch.state = State.NEGOTIATING
    if led.channel.funder is Side.LOCAL:
        _propose(ch, _our_fee(ch))


def on_reconnected(ch: Channel) -> None:
    """After the peer's channel_reestablish: resend our shutdown, restart negotiating
    (once CLOSED: resend the closing_signed that closed it, for a peer that lost it)."""
    sd = ch.shutdown
    if sd.local_sent and sd.local_script is not None:
        ch.queue(Shutdown(ch.channel_id, sd.local_script))
    if ch.state is State.CLOSED:
        ch.queue(_final(ch))
        return
    sd.restart()
    if ch.state is State.NEGOTIATING and ch.ledger.channel.funder is Side.LOCAL:
        _propose(ch, _our_fee(ch))


def on_closing_signed(ch: Channel, m: ClosingSigned) -> None:
    sd, funder = ch.shutdown, ch.ledger.channel.funder

    def broken(rule: str) -> ProtocolError:
        return ProtocolError(rule, state=ch.state.value, message=m.NAME)

    fee = m.fee_satoshis
    if fee > ch.ledger.local_commit.spec.balance_msat[funder] // 1000:
        raise broken("closing-fee-above-funder-balance")
    if not _peer_signature_valid(ch, fee, m.signature):
        raise broken("closing-signature-invalid")
    sd.received_fee, sd.received_signature = fee, m.signature
    rng = m.tlvs.fee_range
    sd.received_range = (rng.min_fee_satoshis, rng.max_fee_satoshis) if rng else None
    if fee == sd.sent_fee:  # "equal to its previously sent fee_satoshis": done
        _complete(ch)
        return
    low, high = _our_range(ch)
    if rng is not None:
        lo, hi = max(low, rng.min_fee_satoshis), min(high, rng.max_fee_satoshis)
        if lo > hi:  # "no overlap ... SHOULD send a warning"
            ch.queue(WarningMessage(ch.channel_id, b"closing fee_range: no overlap"))
            return
        if funder is Side.LOCAL or sd.sent_fee is not None:
            # The funder "MUST fail the channel" unless fee is in the overlap; a fundee
            # that already answered must see its own fee back.
            if not lo <= fee <= hi or (funder is Side.REMOTE and fee != sd.sent_fee):
                raise broken("closing-fee-outside-range")
            _propose(ch, fee)
        else:
            _propose(ch, fee if lo <= fee <= hi else min(max(_our_fee(ch), lo), hi))
        return
    if low <= fee <= high:  # "if the receiver agrees with the fee": the same back
        _propose(ch, fee)
        return
    # "MUST propose a value strictly between the received fee_satoshis and its
    # previously-sent fee_satoshis"
    if sd.sent_fee is None:
        _propose(ch, _our_fee(ch))
        return
    step = min(max((sd.sent_fee + fee) // 2, low), high)
    if not min(sd.sent_fee, fee) < step < max(sd.sent_fee, fee):
        raise broken("closing-fee-no-progress")
    _propose(ch, step)


def on_closing_signed_after_close(ch: Channel, m: ClosingSigned) -> None:
    """We are CLOSED, the peer negotiates again (it lost our last closing_signed): the
    agreed one again, unless it already proposes that very fee."""
    if m.fee_satoshis != ch.shutdown.sent_fee:
        ch.queue(_final(ch))


def _final(ch: Channel) -> ClosingSigned:
    sd = ch.shutdown
    assert sd.sent_fee is not None
    low, high = _our_range(ch)
    rng = ClosingSignedTlvs(fee_range=FeeRange(low, high))
    return ClosingSigned(ch.channel_id, sd.sent_fee, sd.sent_signature, rng)


def on_close_signed(ch: Channel, r: io.MutualCloseSigned) -> None:
    sd = ch.shutdown
    assert sd.signing_fee is not None and sd.local_script is not None
    sd.sent_fee, sd.sent_signature, sd.signing_fee = sd.signing_fee, r.signature, None
    low, high = _our_range(ch)
    ch.state = State.NEGOTIATING
    ch.queue(
        ClosingSigned(
            ch.channel_id,
            sd.sent_fee,
            r.signature,
            ClosingSignedTlvs(fee_range=FeeRange(low, high)),
        )
    )
    if sd.received_fee == sd.sent_fee:
        _complete(ch)


# -- helpers -----------------------------------------------------------------------------


def _clean(ch: Channel) -> bool:
    """No HTLC in either commitment, nothing pending, no revocation owed (BOLT 2)."""
    led = ch.ledger
    return (
        not led.local_commit.spec.htlcs
        and not led.remote_commit.spec.htlcs
        and led.next_remote is None
        and not any(p.all() for p in led.pending)
    )


def _propose(ch: Channel, fee: int) -> None:
    sd = ch.shutdown
    assert sd.local_script is not None and sd.remote_script is not None
    sd.signing_fee = fee
    ch.request(io.SignMutualClose(sd.local_script, sd.remote_script, fee), State.AWAIT_CLOSING_SIG)


def _tx(ch: Channel, fee: int, *, peer_view: bool, omit_peer: bool = False) -> Tx:
    """The legacy closing transaction as we (`peer_view` False: our dust limit) or the
    peer (its dust limit, maybe without its own output) builds it."""
    sd, led = ch.shutdown, ch.ledger
    assert sd.local_script is not None and sd.remote_script is not None
    spec, c = led.local_commit.spec, led.channel
    me = Side.REMOTE if peer_view else Side.LOCAL
    scripts = {Side.LOCAL: sd.local_script, Side.REMOTE: sd.remote_script}
    return legacy_closing_tx(
        funding_outpoint=c.funding_outpoint,
        local_msat=spec.balance_msat[me],
        remote_msat=spec.balance_msat[me.other],
        local_script=scripts[me],
        remote_script=scripts[me.other],
        fee_sat=fee,
        local_is_opener=c.funder is me,
        dust_limit_sat=c.params[me].dust_limit_sat,
        omit_local=omit_peer,
    )


def _funding_script(ch: Channel) -> bytes:
    bp = ch.ledger.channel.basepoints
    return funding_script(bp[Side.LOCAL].funding_pubkey, bp[Side.REMOTE].funding_pubkey)


def _verifies(ch: Channel, tx: Tx, signature: bytes) -> bool:
    c = ch.ledger.channel
    digest = closing_sighash(tx, _funding_script(ch), c.capacity_sat)
    return verify_digest(c.basepoints[Side.REMOTE].funding_pubkey, signature, digest)


def _peer_signature_valid(ch: Channel, fee: int, signature: bytes) -> bool:
    """ "if the signature is not valid for either variant of closing transaction"."""
    for omit in (False, True):
        try:
            if _verifies(ch, _tx(ch, fee, peer_view=True, omit_peer=omit), signature):
                return True
        except (ValueError, VajraError):
            continue
    return False


def _complete(ch: Channel) -> None:
    sd, c = ch.shutdown, ch.ledger.channel
    assert sd.sent_fee is not None
    tx = _tx(ch, sd.sent_fee, peer_view=False)
    if not _verifies(ch, tx, sd.received_signature):
        # The peer signed its other variant (an output between our dust limits): both
        # signatures must cover one transaction, and our signer signs only ours.
        raise ProtocolError("closing-transaction-variant", state=ch.state.value)
    bp = c.basepoints
    witness = commitment_witness(
        _funding_script(ch),
        bp[Side.LOCAL].funding_pubkey, compact_to_der(sd.sent_signature) + b"\x01",
        bp[Side.REMOTE].funding_pubkey, compact_to_der(sd.received_signature) + b"\x01",
    )  # fmt: skip
    txin = tx.inputs[0]
    signed = Tx(tx.version, (TxIn(txin.prevout, b"", txin.sequence, witness),), tx.outputs, 0)
    ch.state = State.CLOSED
    ch.emit(io.MutualCloseReady(signed, sd.sent_fee))


def _fee_for(ch: Channel, feerate_per_kw: int) -> int:
    try:
        weight = _tx(ch, 0, peer_view=False).weight + CLOSING_WEIGHT_WITNESS
    except ValueError:  # both balances below our dust limit: nothing to close to
        raise ProtocolError("closing-no-output", state=ch.state.value) from None
    return weight * feerate_per_kw // 1000


def _our_fee(ch: Channel) -> int:
    low, high = _our_range(ch)
    return min(max(_fee_for(ch, ch.shutdown.feerate_per_kw), low), high)


def _our_range(ch: Channel) -> tuple[int, int]:
    """The funder: what it is prepared to pay (at most its balance). The other side pays
    nothing: a low minimum (the relay floor), and any fee the funder can pay ("SHOULD set
    max_fee_satoshis to at least the max_fee_satoshis received")."""
    sd, led = ch.shutdown, ch.ledger
    funder = led.channel.funder
    cap = led.local_commit.spec.balance_msat[funder] // 1000
    low = min(_fee_for(ch, MIN_FEERATE_PER_KW), cap)
    high = _fee_for(ch, sd.max_feerate_per_kw) if funder is Side.LOCAL else cap
    return low, max(low, min(high, cap))
