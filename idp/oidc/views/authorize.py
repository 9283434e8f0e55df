"""Authorization endpoint. (Being built.)"""

from idp.oidc.views.discovery import _unavailable

authorize = resume = _unavailable
