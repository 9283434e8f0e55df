"""Caducée: identity provider and single sign-on for health professionals."""
