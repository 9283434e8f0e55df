"""RP-initiated logout. (Being built.)"""

from idp.oidc.views.discovery import _unavailable

logout = _unavailable
