"""BOLT 2/3 channels: key derivation, per-commitment secrets; the state machine comes next."""
