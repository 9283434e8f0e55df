"""UserInfo, introspection, revocation. (Being built.)"""

from idp.oidc.views.discovery import _unavailable

userinfo = introspect = revoke = _unavailable
