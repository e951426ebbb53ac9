"""Vajra: a Lightning node runtime hosting many self-custodial light nodes."""

__version__ = "0.1.0"
