"""Vajra's real interop test bed: btcd (regtest chain), LND and LDK peers, lnprototest.

Nothing here is mocked: `testbed/install.sh` installs pinned releases into the cache and
these modules start, drive and stop them as real processes (see `selfcheck` for the tour).
"""
