"""Bitcoin-level constants and (later) transactions and scripts."""
