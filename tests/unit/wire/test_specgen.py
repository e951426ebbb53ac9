"""The checked-in `_generated.py` is exactly what the spec text generates (no drift)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.wire.vectors import SPEC_DIR
from vajra.wire import MESSAGE_CLASSES, TLV_STREAM_CLASSES
from vajra.wire.specgen import OUTPUT, generate, main
from vajra.wire.specparse import SpecError, load, parse_file


def test_generated_file_matches_spec() -> None:
    assert OUTPUT.read_text(encoding="utf-8") == generate(SPEC_DIR), (
        "src/vajra/wire/_generated.py is stale: run python -m vajra.wire.specgen --write"
    )


def test_check_mode(tmp_path: Path) -> None:
    assert main(["--check", "--spec-dir", str(SPEC_DIR)]) == 0
    stale = tmp_path / "gen.py"
    stale.write_text("# old\n")
    assert main(["--check", "--spec-dir", str(SPEC_DIR), "--output", str(stale)]) == 1
    assert main(["--write", "--spec-dir", str(SPEC_DIR), "--output", str(stale)]) == 0
    assert stale.read_text() == OUTPUT.read_text()


def test_every_message_block_in_the_spec_is_generated() -> None:
    """Count `1. type: N (`name`)` blocks followed by `2. data:` independently."""
    import re

    expected = set()
    for name in ("01-messaging.md", "02-peer-protocol.md", "07-routing-gossip.md"):
        text = (SPEC_DIR / name).read_text()
        expected |= {
            int(n) for n in re.findall(r"^1\. type: (\d+) \(`\w+`\)\n2\. data:", text, re.M)
        }
    expected.add(513)  # onion_message, BOLT 4
    assert set(MESSAGE_CLASSES) == expected


def test_unreferenced_tlv_streams_are_attached_by_name() -> None:
    """BOLT 2 lists `update_add_htlc_tlvs` etc. after the message without a `tlvs` field."""
    for name in (
        "update_add_htlc",
        "update_fulfill_htlc",
        "update_fail_htlc",
        "start_batch",
        "channel_reestablish",
    ):
        cls = next(c for c in MESSAGE_CLASSES.values() if name == c.NAME)
        assert cls.SCHEMA.tlv_stream == f"{name}_tlvs"
    assert "n1" in TLV_STREAM_CLASSES and "n2" in TLV_STREAM_CLASSES


def _spec_dir(tmp_path: Path, messaging: str) -> Path:
    for name in ("02-peer-protocol.md", "07-routing-gossip.md", "04-onion-routing.md"):
        (tmp_path / name).write_text("")
    (tmp_path / "01-messaging.md").write_text(messaging)
    return tmp_path


@pytest.mark.parametrize(
    "fields",
    [
        "   * [`u17`:`x`]\n",  # unknown type
        "   * [`tu64`:`x`]\n   * [`u16`:`y`]\n",  # truncated int outside a TLV record
        "   * [`len*byte`:`x`]\n",  # length field not defined earlier
        "   * [`...*byte`:`x`]\n",  # "rest of record" outside a TLV record
    ],
)
def test_checker_rejects_malformed_definitions(tmp_path: Path, fields: str) -> None:
    with pytest.raises(SpecError):
        load(_spec_dir(tmp_path, "1. type: 99 (`bogus`)\n2. data:\n" + fields))


def test_parser_reads_a_minimal_spec(tmp_path: Path) -> None:
    text = (
        "1. type: 99 (`thing`)\n2. data:\n   * [`u16`:`len`]\n   * [`len*byte`:`data`]\n"
        "\n1. `tlv_stream`: `thing_tlvs`\n2. types:\n   1. type: 1 (`flag`)\n"
    )
    spec = load(_spec_dir(tmp_path, text))
    (msg,) = spec.messages
    assert (msg.type, msg.name, msg.tlv_stream) == (99, "thing", "thing_tlvs")
    assert parse_file(text, "x.md", frozenset()).messages == []
