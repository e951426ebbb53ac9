"""The node's received payments (plain data in the sealed `NodeState.received`).

In the shape shared with sent payments (`vajra.node.payments`, paysend), so `vajra node
ID payments` lists both: `direction` ("incoming"), `payment_hash` (hex), `amount_msat`
(what the HTLC set paid), `fee_msat` (0), `state` ("pending" | "succeeded" | "failed"),
`reason` (why it failed: a stable short code), `preimage` (hex; only once succeeded),
`created_at` / `settled_at` (unix seconds; 0: not yet), `parts` (HTLCs in the set). At
most `MAX_PAYMENTS` are kept, the oldest settled ones forgotten first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vajra.errors import DecodeError

MAX_PAYMENTS = 1000
INCOMING = "incoming"
PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"


@dataclass(slots=True)
class ReceivedPayment:
    direction: str
    payment_hash: str
    amount_msat: int
    state: str = PENDING
    fee_msat: int = 0
    reason: str = ""
    preimage: str = ""
    created_at: int = 0
    settled_at: int = 0
    parts: int = 0

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: object) -> ReceivedPayment:
        if not isinstance(obj, dict):
            raise DecodeError("payment record: not an object")
        try:
            return cls(
                str(obj["direction"]), str(obj["payment_hash"]), int(obj["amount_msat"]),
                str(obj["state"]), int(obj.get("fee_msat", 0)), str(obj.get("reason", "")),
                str(obj.get("preimage", "")), int(obj.get("created_at", 0)),
                int(obj.get("settled_at", 0)), int(obj.get("parts", 0)),
            )  # fmt: skip
        except (KeyError, ValueError, TypeError) as e:
            raise DecodeError(f"payment record: {e}") from None

    def summary(self) -> dict[str, object]:
        """The operator's listing: the record without the preimage unless succeeded
        (a settled payment's preimage is known to every hop of its route)."""
        out = self.to_json()
        if self.state != SUCCEEDED:
            out.pop("preimage")
        return out


def find(
    records: list[ReceivedPayment], direction: str, payment_hash: bytes
) -> ReceivedPayment | None:
    h = payment_hash.hex()
    for r in reversed(records):
        if r.direction == direction and r.payment_hash == h:
            return r
    return None


def add(records: list[ReceivedPayment], record: ReceivedPayment) -> None:
    """Append, forgetting the oldest settled records beyond `MAX_PAYMENTS`."""
    records.append(record)
    while len(records) > MAX_PAYMENTS:
        old = next((i for i, r in enumerate(records) if r.state != PENDING), 0)
        del records[old]
