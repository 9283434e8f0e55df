"""How a professional proves who they are: card app, one-time codes, FIDO2; the login pages.

Each method is a begin/complete ceremony that ends a login transaction with what actually
happened (amr, acr, auth_time); the OpenID provider derives its claims from that.
"""
