"""The multi-tenant host: address fabric, hibernating peers, wake/sleep, signer links."""
