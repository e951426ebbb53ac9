"""Cryptographic primitives: the one place Vajra touches secp256k1, AEAD and hashes."""
