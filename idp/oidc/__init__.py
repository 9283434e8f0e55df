"""The OpenID Connect provider: protocol (no HTTP rendering), views, keys, tokens, claims, sessions.

Built by the OIDC provider issue; it reads professionals through ``idp.accounts`` and clients
through one narrow function of ``relying_parties``.
"""
