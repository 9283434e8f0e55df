"""WSGI entry point (granian or gunicorn in production; see deploy/).

Protocol endpoints called by relying parties' servers go through a lean middleware stack; pages
through Django's full one (idp.core.protocol_handler).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "idp.settings")
_pages = get_wsgi_application()

from idp.core.protocol_handler import LeanWSGIHandler, ProtocolRouter  # noqa: E402 (after setup)

application = ProtocolRouter(pages=_pages, protocol=LeanWSGIHandler())
