"""vajra.testbed.paths agrees with testbed/install.sh on versions and cache directory names."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from vajra.testbed import paths as tb_paths
from vajra.testbed.errors import TestbedNotInstalled

ROOT = tb_paths.repo_root()
INSTALL_SH = ROOT / "testbed" / "install.sh"


def test_parse_env_file() -> None:
    text = "# comment\n\nA=1\nB=\"two words\"\n  C='x'  \n"
    assert tb_paths.parse_env_file(text) == {"A": "1", "B": "two words", "C": "x"}
    with pytest.raises(ValueError, match="line 1"):
        tb_paths.parse_env_file("not a pair\n")


def test_versions_env_is_shell_sourceable_and_matches_python() -> None:
    v = tb_paths.read_versions(ROOT)
    out = subprocess.run(
        [
            "bash",
            "-c",
            'set -eu; . "$1"; printf "%s\\n" "$BTCD_VERSION" "$LND_VERSION" "$LND_BUILD_TAGS" '
            '"$LDK_NPM_VERSION" "$LNPROTOTEST_VERSION" "$PYLN_PROTO_VERSION" '
            '"$ELECTRUM_DEB_VERSION" "$LIBSECP256K1_DEB_VERSION"',
            "-",
            str(ROOT / "testbed" / "versions.env"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out == [
        v.btcd, v.lnd, v.lnd_build_tags, v.ldk_npm, v.lnprototest, v.pyln_proto,
        v.electrum_deb, v.libsecp256k1_deb,
    ]  # fmt: skip


def _shell_key(files: list[Path], extra: str) -> str:
    """Run install.sh's own `key` function (extracted from the script) on the same inputs."""
    script = INSTALL_SH.read_text()
    start = script.index("\nkey() {")
    end = script.index("\n}\n", start) + 3
    return subprocess.run(
        ["bash", "-c", script[start:end] + '\nprintf %s "$1" | key "${@:2}"', "-", extra]
        + [str(f) for f in files],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_directory_keys_match_install_sh() -> None:
    tp = tb_paths.locate(ROOT)
    tb = ROOT / "testbed"
    v = tp.versions
    lnd = _shell_key([tb / "lnd" / "go.mod", tb / "lnd" / "go.sum"], v.lnd_build_tags)
    ldk = _shell_key([tb / "ldk" / "package.json", tb / "ldk" / "package-lock.json"], "")
    lnpt = _shell_key([tb / "lnprototest" / "constraints.txt"], f"{v.lnprototest} {v.pyln_proto}")
    assert tp.lnd_dir.name == f"lnd-{v.lnd}-{lnd}"
    assert tp.ldk_dir.name == f"ldk-{v.ldk_npm}-{ldk}"
    assert tp.lnprototest_dir.name.startswith(f"lnprototest-{v.lnprototest}-py")
    assert tp.lnprototest_dir.name.endswith(f"-{lnpt}")
    assert tp.btcd_dir.name == f"btcd-{v.btcd}"
    el = _shell_key([tb / "electrum" / "constraints.txt"], f"{v.electrum_deb} {v.libsecp256k1_deb}")
    assert tp.electrum_dir.name.startswith("electrum-4.3.4-py")
    assert tp.electrum_dir.name.endswith(f"-{el}")


def test_lnd_module_pins_the_same_lnd() -> None:
    v = tb_paths.read_versions(ROOT)
    gomod = (ROOT / "testbed" / "lnd" / "go.mod").read_text()
    assert f"require github.com/lightningnetwork/lnd {v.lnd}\n" in gomod


def test_missing_install_names_the_installer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAJRA_CACHE", str(tmp_path))
    tp = tb_paths.locate(ROOT)
    assert set(tp.missing()) == {"btcd", "lnd", "ldk", "lnprototest", "electrum"}
    with pytest.raises(TestbedNotInstalled, match=r"testbed/install\.sh"):
        tp.require("btcd")
