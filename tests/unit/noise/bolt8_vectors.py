"""Read the BOLT 8 Appendix A test vectors from ../shared/specs (never retyped).

A handshake vector is its key parameters (`rs.pub`, `ls.priv`, `e.priv`, ...) and the
ordered `input:`/`output:` steps; an output is bytes, an error code (`ACT1_BAD_TAG`) or the
final key pair (`sk,rk=...`). Comment lines (intermediate states) are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.specs import spec_path

BOLT8 = spec_path("bolts/08-transport.md")

_PARAM = re.compile(
    r"^(rs\.pub|ls\.priv|ls\.pub|e\.priv|e\.pub|ck|sk|rk)\s*[:=]\s*(?:0x)?([0-9a-f]+)$"
)
_STEP = re.compile(r"^(input|output)\s*:\s*(.+)$")
_ERROR = re.compile(r"^ERROR \((\w+)(?: \d+)?\)$")
_KEYS = re.compile(r"^(sk,rk|rk,sk)=0x([0-9a-f]{64}),0x([0-9a-f]{64})$")
_MSG_OUT = re.compile(r"^output (\d+): 0x([0-9a-f]+)$")


@dataclass(frozen=True)
class Step:
    """One `input:` or `output:` line: `data`, `error` or `keys` is set."""

    kind: str  # "input" | "output"
    act: str  # the last "# Act ..." header seen ("" before any)
    data: bytes | None = None
    error: str | None = None
    keys: dict[str, bytes] | None = None


@dataclass
class HandshakeVector:
    name: str
    params: dict[str, bytes] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)


@dataclass
class MessageVector:
    name: str
    params: dict[str, bytes]
    outputs: dict[int, bytes]


def _section(title: str) -> str:
    text = BOLT8.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.index("\n#", start + len(title) + 5)
    return text[start:end]


def _parse_step(kind: str, value: str, act: str) -> Step:
    if m := _ERROR.match(value):
        return Step(kind, act, error=m.group(1))
    if m := _KEYS.match(value):
        a, b = m.group(1).split(",")
        return Step(kind, act, keys={a: bytes.fromhex(m.group(2)), b: bytes.fromhex(m.group(3))})
    if value.startswith("0x"):
        return Step(kind, act, data=bytes.fromhex(value[2:]))
    raise ValueError(f"unparsed BOLT 8 vector value: {value!r}")


def handshake_vectors(title: str) -> list[HandshakeVector]:
    """The vectors under `## Initiator Tests` or `## Responder Tests`."""
    out: list[HandshakeVector] = []
    act = ""
    for raw in _section(title).splitlines():
        line = raw.strip()
        if line.startswith("name:"):
            out.append(HandshakeVector(line.removeprefix("name:").strip()))
            act = ""
        elif not out or not line or line.startswith("```"):
            continue
        elif line.startswith("# Act"):
            act = line.removeprefix("# ").strip()
        elif line.startswith("#"):
            continue
        elif m := _PARAM.match(line):
            out[-1].params[m.group(1)] = bytes.fromhex(m.group(2))
        elif m := _STEP.match(line):
            out[-1].steps.append(_parse_step(m.group(1), m.group(2).strip(), act))
        else:
            raise ValueError(f"unparsed BOLT 8 vector line: {line!r}")
    if not out:
        raise ValueError(f"no vectors under {title!r} in {BOLT8}")
    return out


def initiator_vectors() -> list[HandshakeVector]:
    return handshake_vectors("Initiator Tests")


def responder_vectors() -> list[HandshakeVector]:
    return handshake_vectors("Responder Tests")


def message_vectors() -> list[MessageVector]:
    """`## Message Encryption Tests`: the keys after the handshake and outputs by index."""
    vec: MessageVector | None = None
    out: list[MessageVector] = []
    for raw in _section("Message Encryption Tests").splitlines():
        line = raw.strip()
        if line.startswith("name:"):
            vec = MessageVector(line.removeprefix("name:").strip(), {}, {})
            out.append(vec)
        elif vec is None or line.startswith("#"):
            continue
        elif m := _PARAM.match(line):
            vec.params[m.group(1)] = bytes.fromhex(m.group(2))
        elif m := _MSG_OUT.match(line):
            vec.outputs[int(m.group(1))] = bytes.fromhex(m.group(2))
    if not out:
        raise ValueError(f"no message vectors in {BOLT8}")
    return out
