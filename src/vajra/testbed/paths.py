"""Where `testbed/install.sh` put each pinned component, computed the same way it does.

The installer keys each component's directory in `${VAJRA_CACHE:-~/.cache/vajra}/testbed/`
by version and the first 12 hex digits of a SHA-256 over its input files (see `key()` in
install.sh); a directory counts only when its `.complete` marker exists. This module reads
`testbed/versions.env` from the repository and derives the same names, so the Python side
never guesses and never uses a stale build.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from vajra.testbed.errors import TestbedNotInstalled

MARKER = ".complete"
INSTALL_HINT = "run testbed/install.sh (from the repository root) to install the test bed"


def repo_root() -> Path:
    """The checkout holding `testbed/versions.env`: $VAJRA_REPO, else found upward from here."""
    env = os.environ.get("VAJRA_REPO")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "testbed" / "versions.env").is_file():
            return parent
    cwd = Path.cwd()
    for parent in (cwd, *cwd.parents):
        if (parent / "testbed" / "versions.env").is_file():
            return parent
    raise TestbedNotInstalled(
        "cannot find testbed/versions.env above "
        f"{here} or {cwd}; set VAJRA_REPO to the Vajra checkout"
    )


def cache_dir() -> Path:
    """`${VAJRA_CACHE:-$HOME/.cache/vajra}/testbed`, as install.sh uses."""
    base = os.environ.get("VAJRA_CACHE") or str(Path.home() / ".cache" / "vajra")
    return Path(base) / "testbed"


def parse_env_file(text: str) -> dict[str, str]:
    """Parse the `KEY=value` / `KEY="value"` lines of versions.env (comments ignored)."""
    out: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.isidentifier():
            raise ValueError(f"versions.env line {lineno}: not KEY=value: {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[name] = value
    return out


@dataclass(frozen=True, slots=True)
class Versions:
    """The pins in testbed/versions.env."""

    btcd: str
    lnd: str
    lnd_build_tags: str
    ldk_npm: str
    lnprototest: str
    pyln_proto: str
    electrum_deb: str
    libsecp256k1_deb: str


def read_versions(root: Path | None = None) -> Versions:
    path = (root or repo_root()) / "testbed" / "versions.env"
    env = parse_env_file(path.read_text())
    try:
        return Versions(
            btcd=env["BTCD_VERSION"],
            lnd=env["LND_VERSION"],
            lnd_build_tags=env["LND_BUILD_TAGS"],
            ldk_npm=env["LDK_NPM_VERSION"],
            lnprototest=env["LNPROTOTEST_VERSION"],
            pyln_proto=env["PYLN_PROTO_VERSION"],
            electrum_deb=env["ELECTRUM_DEB_VERSION"],
            libsecp256k1_deb=env["LIBSECP256K1_DEB_VERSION"],
        )
    except KeyError as e:
        raise TestbedNotInstalled(f"{path} lacks {e.args[0]}") from None


def _key(files: list[Path], extra: str = "") -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    h.update(extra.encode())
    return h.hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class TestbedPaths:
    """Absolute paths of everything the test bed runs."""

    __test__ = False  # not a pytest test class

    versions: Versions
    repo: Path
    cache: Path
    btcd_dir: Path
    lnd_dir: Path
    ldk_dir: Path
    lnprototest_dir: Path
    electrum_dir: Path

    @property
    def btcd(self) -> Path:
        return self.btcd_dir / "bin" / "btcd"

    @property
    def btcctl(self) -> Path:
        return self.btcd_dir / "bin" / "btcctl"

    @property
    def lnd(self) -> Path:
        return self.lnd_dir / "bin" / "lnd"

    @property
    def lncli(self) -> Path:
        return self.lnd_dir / "bin" / "lncli"

    @property
    def ldk_module(self) -> Path:
        """The installed `node_modules/lightningdevkit` (passed to the harness as --ldk-dir)."""
        return self.ldk_dir / "node_modules" / "lightningdevkit"

    @property
    def ldk_harness(self) -> Path:
        return self.repo / "testbed" / "ldk" / "harness.mjs"

    @property
    def lnprototest_python(self) -> Path:
        return self.lnprototest_dir / "venv" / "bin" / "python"

    @property
    def electrum_python(self) -> Path:
        """The venv whose path holds Debian's Electrum package (see testbed/install.sh)."""
        return self.electrum_dir / "venv" / "bin" / "python"

    def components(self) -> dict[str, Path]:
        """Component name -> its cache directory."""
        return {
            "btcd": self.btcd_dir,
            "lnd": self.lnd_dir,
            "ldk": self.ldk_dir,
            "lnprototest": self.lnprototest_dir,
            "electrum": self.electrum_dir,
        }

    def missing(self) -> list[str]:
        """Names of components whose directory is not complete."""
        return [n for n, d in self.components().items() if not (d / MARKER).is_file()]

    def require(self, *names: str) -> TestbedPaths:
        """Raise `TestbedNotInstalled` unless the named (default: all) components are complete."""
        wanted = names or tuple(self.components())
        missing = [n for n in self.missing() if n in wanted]
        if missing:
            dirs = ", ".join(f"{n} ({self.components()[n]})" for n in missing)
            raise TestbedNotInstalled(f"test bed not installed: {dirs}; {INSTALL_HINT}")
        if "ldk" in wanted and shutil.which("node") is None:
            raise TestbedNotInstalled(
                "`node` (Node.js 20) is not on PATH; the LDK harness needs it"
            )
        return self

    def as_json(self) -> dict[str, object]:
        return {
            "versions": asdict(self.versions),
            "repo": str(self.repo),
            "cache": str(self.cache),
            "installed": {n: (d / MARKER).is_file() for n, d in self.components().items()},
            "dirs": {n: str(d) for n, d in self.components().items()},
            "binaries": {
                "btcd": str(self.btcd),
                "btcctl": str(self.btcctl),
                "lnd": str(self.lnd),
                "lncli": str(self.lncli),
                "ldk_module": str(self.ldk_module),
                "ldk_harness": str(self.ldk_harness),
                "lnprototest_python": str(self.lnprototest_python),
                "electrum_python": str(self.electrum_python),
            },
        }


def locate(root: Path | None = None) -> TestbedPaths:
    """Compute every component's directory (installed or not; see `TestbedPaths.require`)."""
    repo = root or repo_root()
    v = read_versions(repo)
    tb = repo / "testbed"
    cache = cache_dir()
    lnd_key = _key([tb / "lnd" / "go.mod", tb / "lnd" / "go.sum"], v.lnd_build_tags)
    ldk_key = _key([tb / "ldk" / "package.json", tb / "ldk" / "package-lock.json"])
    lnpt_key = _key([tb / "lnprototest" / "constraints.txt"], f"{v.lnprototest} {v.pyln_proto}")
    el_key = _key([tb / "electrum" / "constraints.txt"], f"{v.electrum_deb} {v.libsecp256k1_deb}")
    pyver = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return TestbedPaths(
        versions=v,
        repo=repo,
        cache=cache,
        btcd_dir=cache / f"btcd-{v.btcd}",
        lnd_dir=cache / f"lnd-{v.lnd}-{lnd_key}",
        ldk_dir=cache / f"ldk-{v.ldk_npm}-{ldk_key}",
        lnprototest_dir=cache / f"lnprototest-{v.lnprototest}-py{pyver}-{lnpt_key}",
        electrum_dir=cache / f"electrum-{v.electrum_deb.split('+')[0]}-py{pyver}-{el_key}",
    )


def installed(*names: str) -> TestbedPaths:
    """`locate()` then `require(*names)`: the paths, or a clear error naming what is missing."""
    return locate().require(*names)
