"""Configuration checks.

Placeholder: the deploy checks (issuer, secret key, signing keys) are being written.
"""
