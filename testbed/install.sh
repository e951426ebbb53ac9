#!/usr/bin/env bash
# Install Vajra's interop test bed: btcd + btcctl, LND + lncli, the LDK WASM package for
# testbed/ldk/harness.mjs (with bitcoinjs-lib, ecpair, tiny-secp256k1 for its wallet), lnprototest (+ pyln-proto) in its own virtualenv, and Electrum
# (Debian's python3-electrum .deb, unpacked, with its Python dependencies in a venv).
#
# Usage: testbed/install.sh [COMPONENT...]   (default: all; e.g. `testbed/install.sh electrum`)
#
# Everything goes to ${VAJRA_CACHE:-$HOME/.cache/vajra}/testbed/, one directory per
# component keyed by its pinned version (testbed/versions.env) and the hash of its input
# files, so a clean clone (CI) reuses it and a changed pin builds a fresh one. A directory
# counts only once its `.complete` marker exists (written last); a directory without it is
# a failed or interrupted install and is rebuilt from scratch. Re-running is a fast no-op.
#
# Any failure exits non-zero naming the component. Needs: go (>= 1.25), node (20) + npm,
# python3 (override with PYTHON=...), apt-get + dpkg-deb (Electrum). vajra.testbed.paths
# finds the same directories.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
tb="$root/testbed"
cache="${VAJRA_CACHE:-$HOME/.cache/vajra}/testbed"
py="${PYTHON:-python3}"
# shellcheck source=versions.env
. "$tb/versions.env"

t_all=$(date +%s)
wanted=("$@")
# want NAME: true when NAME was asked for (or nothing was: install everything).
want() {
  [ ${#wanted[@]} -eq 0 ] && return 0
  local w
  for w in "${wanted[@]}"; do [ "$w" = "$1" ] && return 0; done
  return 1
}
summary=()
current=""

fail() {
  echo "testbed/install.sh: FAILED: ${current:-setup}: $*" >&2
  exit 1
}
trap 'rc=$?; if [ $rc -ne 0 ]; then echo "testbed/install.sh: FAILED installing ${current:-setup} (exit $rc); see the output above" >&2; fi' EXIT

need() {
  command -v "$1" >/dev/null 2>&1 || fail "'$1' not found on PATH ($2)"
}

# key FILE... : first 12 hex of sha256 over the files' bytes, then any extra text on stdin.
# vajra/testbed/paths.py computes the same.
key() {
  { cat "$@"; cat; } | sha256sum | cut -c1-12
}

# begin NAME DIR: returns 1 (skip) when DIR is complete, else clears DIR and returns 0.
begin() {
  current="$1"
  local dir="$2"
  if [ -f "$dir/.complete" ]; then
    summary+=("$(printf '%-12s ok (cached)   %s' "$1" "$dir")")
    return 1
  fi
  echo "== $1: installing into $dir" >&2
  rm -rf "$dir"
  mkdir -p "$dir"
  t0=$(date +%s)
  return 0
}

finish() {
  local dir="$1"
  date -u +%Y-%m-%dT%H:%M:%SZ >"$dir/.complete"
  summary+=("$(printf '%-12s built in %3ss %s' "$current" "$(( $(date +%s) - t0 ))" "$dir")")
}

mkdir -p "$cache"
# One installer at a time per cache (CI and a developer may share a machine).
exec 9>"$cache/.install.lock"
flock 9

# ---- btcd + btcctl -----------------------------------------------------------------------
btcd_dir="$cache/btcd-$BTCD_VERSION"
if want btcd && begin btcd "$btcd_dir"; then
  need go "install Go >= 1.25"
  GOBIN="$btcd_dir/bin" GOTOOLCHAIN=local go install "github.com/btcsuite/btcd@$BTCD_VERSION" \
    || fail "go install github.com/btcsuite/btcd@$BTCD_VERSION"
  GOBIN="$btcd_dir/bin" GOTOOLCHAIN=local go install "github.com/btcsuite/btcd/cmd/btcctl@$BTCD_VERSION" \
    || fail "go install github.com/btcsuite/btcd/cmd/btcctl@$BTCD_VERSION"
  "$btcd_dir/bin/btcd" --version >/dev/null || fail "built btcd does not run"
  finish "$btcd_dir"
fi

# ---- LND + lncli -------------------------------------------------------------------------
current=lnd
want lnd && { grep -q "^require github.com/lightningnetwork/lnd $LND_VERSION\$" "$tb/lnd/go.mod" \
  || fail "testbed/lnd/go.mod does not require lnd $LND_VERSION; run testbed/lnd/update.sh $LND_VERSION"; }
lnd_key="$(printf %s "$LND_BUILD_TAGS" | key "$tb/lnd/go.mod" "$tb/lnd/go.sum")"
lnd_dir="$cache/lnd-$LND_VERSION-$lnd_key"
if want lnd && begin lnd "$lnd_dir"; then
  need go "install Go >= 1.25"
  echo "   (building LND takes several minutes on 2 cores)" >&2
  (cd "$tb/lnd" && GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -mod=readonly" go build -trimpath \
      -tags "$LND_BUILD_TAGS" -o "$lnd_dir/bin/" \
      github.com/lightningnetwork/lnd/cmd/lnd github.com/lightningnetwork/lnd/cmd/lncli) \
    || fail "go build of lnd/lncli $LND_VERSION in testbed/lnd"
  "$lnd_dir/bin/lnd" --version >/dev/null || fail "built lnd does not run"
  "$lnd_dir/bin/lncli" --version >/dev/null || fail "built lncli does not run"
  finish "$lnd_dir"
fi

# ---- LDK (npm lightningdevkit) -----------------------------------------------------------
current=ldk
want ldk && { grep -q "\"lightningdevkit\": \"$LDK_NPM_VERSION\"" "$tb/ldk/package.json" \
  || fail "testbed/ldk/package.json does not pin lightningdevkit $LDK_NPM_VERSION"; }
ldk_key="$(key "$tb/ldk/package.json" "$tb/ldk/package-lock.json" </dev/null)"
ldk_dir="$cache/ldk-$LDK_NPM_VERSION-$ldk_key"
if want ldk && begin ldk "$ldk_dir"; then
  need node "install Node.js 20"
  need npm "install npm"
  cp "$tb/ldk/package.json" "$tb/ldk/package-lock.json" "$ldk_dir/"
  (cd "$ldk_dir" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci lightningdevkit@$LDK_NPM_VERSION"
  # Smoke test: the harness loads the WASM, prints its `ready` line and exits on EOF.
  out="$(node "$tb/ldk/harness.mjs" --ldk-dir "$ldk_dir/node_modules/lightningdevkit" </dev/null 2>/dev/null)" \
    || fail "testbed/ldk/harness.mjs does not start with the installed package"
  case "$out" in *'"event":"ready"'*) ;; *) fail "harness.mjs printed no ready line: $out" ;; esac
  finish "$ldk_dir"
fi

# ---- lnprototest (+ pyln-proto) virtualenv -----------------------------------------------
current=lnprototest
need "$py" "install Python 3 or set PYTHON"
pyver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" || fail "$py does not run"
lnpt_key="$(printf '%s %s' "$LNPROTOTEST_VERSION" "$PYLN_PROTO_VERSION" | key "$tb/lnprototest/constraints.txt")"
lnpt_dir="$cache/lnprototest-$LNPROTOTEST_VERSION-py$pyver-$lnpt_key"
if want lnprototest && begin lnprototest "$lnpt_dir"; then
  "$py" -m venv "$lnpt_dir/venv" || fail "python -m venv"
  "$lnpt_dir/venv/bin/pip" install -q --disable-pip-version-check \
    -c "$tb/lnprototest/constraints.txt" \
    "lnprototest==$LNPROTOTEST_VERSION" "pyln-proto==$PYLN_PROTO_VERSION" \
    || fail "pip install lnprototest==$LNPROTOTEST_VERSION pyln-proto==$PYLN_PROTO_VERSION"
  "$lnpt_dir/venv/bin/python" -c 'import lnprototest, pyln.proto.wire' \
    || fail "lnprototest does not import in its venv"
  finish "$lnpt_dir"
fi

# ---- Electrum (Debian python3-electrum) --------------------------------------------------
# Debian's package, not PyPI's: it is what bookworm users run (4.3.4). The .debs are
# fetched with `apt-get download` (no root, no system change) and unpacked with
# `dpkg-deb -x`; libsecp256k1.so.1 from Debian's libsecp256k1-1 goes next to Electrum's
# ecc_fast.py, the first place it looks. Its Python dependencies (the package's Depends:)
# come from PyPI into a venv, pinned in testbed/electrum/constraints.txt, because the
# Debian builds of the C-extension ones (aiohttp, multidict, yarl, cryptography) are for
# Debian's own interpreter. A .pth file puts the unpacked package on the venv's path.
current=electrum
el_key="$(printf '%s %s' "$ELECTRUM_DEB_VERSION" "$LIBSECP256K1_DEB_VERSION" | key "$tb/electrum/constraints.txt")"
el_dir="$cache/electrum-${ELECTRUM_DEB_VERSION%%+*}-py$pyver-$el_key"
if want electrum && begin electrum "$el_dir"; then
  need apt-get "Electrum comes from Debian's python3-electrum package"
  need dpkg-deb "Electrum comes from Debian's python3-electrum package"
  mkdir -p "$el_dir/debs" "$el_dir/root"
  (cd "$el_dir/debs" && apt-get download -q "python3-electrum=$ELECTRUM_DEB_VERSION" \
      "libsecp256k1-1=$LIBSECP256K1_DEB_VERSION" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) \
    || fail "apt-get download python3-electrum=$ELECTRUM_DEB_VERSION libsecp256k1-1=$LIBSECP256K1_DEB_VERSION (apt-get update?)"
  for deb in "$el_dir"/debs/*.deb; do dpkg-deb -x "$deb" "$el_dir/root" || fail "dpkg-deb -x $deb"; done
  site="$el_dir/root/usr/lib/python3/dist-packages"
  cp "$el_dir"/root/usr/lib/x86_64-linux-gnu/libsecp256k1.so.1 "$site/electrum/" \
    || fail "libsecp256k1.so.1 not in the libsecp256k1-1 package"
  "$py" -m venv "$el_dir/venv" || fail "python -m venv"
  "$el_dir/venv/bin/pip" install -q --disable-pip-version-check \
    -r "$tb/electrum/constraints.txt" || fail "pip install -r testbed/electrum/constraints.txt"
  echo "$site" >"$("$el_dir/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/electrum-deb.pth"
  "$el_dir/venv/bin/python" -c '
import electrum.ecc_fast, electrum.lnpeer, electrum.version as v
assert v.ELECTRUM_VERSION == "4.3.4", v.ELECTRUM_VERSION' \
    || fail "Debian Electrum does not import (with libsecp256k1) in its venv"
  finish "$el_dir"
fi

current=""
echo "testbed: all components ready in $cache ($(( $(date +%s) - t_all ))s)"
for line in "${summary[@]}"; do echo "  $line"; done
