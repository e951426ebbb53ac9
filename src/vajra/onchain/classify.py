"""Which transaction spent a channel's funding output (BOLT 5 "General Nomenclature").

BOLT 5 names three ways a channel ends on chain: the *mutual close*, the *unilateral
close* (ours, "local commitment", or theirs, "remote commitment") and the *revoked
transaction close* (a counterparty commitment whose secret we hold). `classify_txid`
decides from the spending transaction's id alone, which is what the shared watcher's
SPENT event carries: every commitment we can be held to (our latest, the peer's current
and next) is rebuilt from the view and compared. `classify` also reads the whole
transaction when it is at hand: a BOLT 3 commitment carries its obscured commitment
number in nLockTime and nSequence, which tells a revoked or a newer (we lost state)
counterparty commitment from a mutual close.

    txid == our latest commitment            -> HOLDER
    txid == their current / next commitment  -> COUNTERPARTY (ref names which)
    commitment number < their current        -> REVOKED (the penalty path, issue 11 item 3)
    commitment number > their next           -> FUTURE (we are behind: only `to_remote`,
                                                 paid to our static payment key, is ours)
    no commitment number                     -> MUTUAL
    txid unknown, transaction not at hand    -> UNKNOWN (`to_remote` is still watched by
                                                 script: see `claims.to_remote_script`)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from vajra.bitcoin.tx import Tx
from vajra.channel.commitment import Commitment, commitment_number_of
from vajra.onchain.view import ChannelView, CommitmentRef


class CloseKind(enum.StrEnum):
    MUTUAL = "mutual"
    HOLDER = "holder"
    COUNTERPARTY = "counterparty"
    REVOKED = "revoked"
    FUTURE = "future"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Classified:
    kind: CloseKind
    txid: bytes
    ref: CommitmentRef | None = None
    """HOLDER / COUNTERPARTY: the commitment that is on chain."""
    commitment: Commitment | None = None
    """Its BOLT 3 build (outputs with scripts and HTLCs), for HOLDER / COUNTERPARTY."""
    number: int | None = None
    """The commitment number the transaction carries (REVOKED, FUTURE)."""


def candidates(view: ChannelView) -> list[tuple[CommitmentRef, Commitment]]:
    """Every commitment the channel can be closed with that is not a breach: ours, then
    the peer's current and next."""
    return [(r, r.build(view.params)) for r in (view.holder, *view.counterparty)]


def classify_txid(view: ChannelView, txid: bytes) -> Classified:
    """HOLDER or COUNTERPARTY if `txid` is one of `candidates`, else UNKNOWN."""
    for ref, c in candidates(view):
        if c.tx.txid == txid:
            kind = CloseKind.HOLDER if ref is view.holder else CloseKind.COUNTERPARTY
            return Classified(kind, txid, ref, c)
    return Classified(CloseKind.UNKNOWN, txid)


def classify(view: ChannelView, tx: Tx) -> Classified:
    """As `classify_txid`, then from the transaction itself: REVOKED, FUTURE or
    MUTUAL. (A caller passes only a transaction that spends the funding outpoint.)"""
    known = classify_txid(view, tx.txid)
    if known.kind is not CloseKind.UNKNOWN:
        return known
    number = commitment_number_of(tx, view.params.obscuring_factor)
    if number is None:
        return Classified(CloseKind.MUTUAL, tx.txid)
    if number < view.revoked_below:
        return Classified(CloseKind.REVOKED, tx.txid, number=number)
    return Classified(CloseKind.FUTURE, tx.txid, number=number)
