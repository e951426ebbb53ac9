#!/usr/bin/env bash
# Ensure the project's virtualenv exists and is current; print its path.
# It lives outside the repository, keyed by Python version, the hash of the lock file and
# the checkout's path: a changed lock builds a fresh one, and two checkouts (a developer's
# and CI's clone) never share one, so neither can point the other's `vajra` at its code.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${VAJRA_CACHE:-$HOME/.cache/vajra}"
py="${PYTHON:-python3}"
pyver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
key="$( (cat "$root/requirements/lock.txt" "$root/pyproject.toml"; echo "$root") | sha256sum | cut -c1-12)"
venv="$cache/venv-py$pyver-$key"
if [ ! -x "$venv/bin/vajra" ] || [ ! -f "$venv/.complete" ]; then
  echo "venv: creating $venv" >&2
  rm -rf "$venv"
  mkdir -p "$cache"
  "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >&2 || true
  "$venv/bin/pip" install -q -r "$root/requirements/lock.txt" >&2
  touch "$venv/.complete"
fi
# Editable install is cheap and points at this checkout (the venv is shared by clones).
if ! "$venv/bin/python" -c 'import vajra, os, sys; sys.exit(0 if os.path.realpath(vajra.__file__).startswith(os.path.realpath(sys.argv[1])) else 1)' "$root/src" 2>/dev/null; then
  "$venv/bin/pip" install -q --no-deps --no-build-isolation -e "$root" >&2
fi
echo "$venv"
