"""Token endpoint. (Being built.)"""

from idp.oidc.views.discovery import _unavailable

token = _unavailable
