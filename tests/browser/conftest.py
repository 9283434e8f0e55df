"""A real browser on the login pages: Playwright (Python) driving Debian's ``chromium``.

The pages' JavaScript (``idp/authn/static/authn/card-login.js``) runs for real against the live
server (``tests/interop/conftest.py``'s ``live_provider``), under the site's real CSP; the phone
is the reference app library ``card_app`` over real HTTP. Playwright's own browser download is
never used (``playwright install`` cannot run here): the browser is ``/usr/bin/chromium``, from
Debian's package (``make test`` and ``.ci/run`` install it). Without chromium or the playwright
package every test here is skipped, and says why.

No WebAuthn test yet: FIDO2 has no login page so far (``idp/authn``: "FIDO2 next"). When it
comes, Chromium's virtual authenticator (CDP ``WebAuthn.addVirtualAuthenticator``) can play the
security key here.
"""

from __future__ import annotations

import gc
import importlib.util
import io
import json
import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command

# The provider on a live server and a doctor: the interop tests' fixtures.
from tests.interop.card_helpers import PIN, RelyingParty
from tests.interop.conftest import doctor, live_provider  # noqa: F401
from tests.oidc.factories import make_client

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PLAYWRIGHT = importlib.util.find_spec("playwright") is not None
MISSING = (
    "the playwright package is not installed (make install)"
    if not PLAYWRIGHT
    else "Debian's chromium is not installed (apt-get install chromium; make test does it as root)"
    if not CHROMIUM
    else ""
)


@pytest.fixture(scope="module", autouse=True)
def _browser_available() -> None:
    """Module-scoped, so that it comes before the (module-scoped) browser is launched."""
    if MISSING:
        pytest.skip(f"browser tests skipped: {MISSING}")


@pytest.fixture(autouse=True)
def _live_server_closes_its_connections() -> Iterator[None]:
    """Chromium keeps its HTTP connections alive, and the live server's thread serving one keeps
    its own database connection until the browser hangs up (Django closes it in close_request):
    on PostgreSQL such a session outlived the tests and held up dropping the test database. With
    no persistent connections each request closes its own, as soon as it is answered."""
    database = settings.DATABASES["default"]
    previous = database.get("CONN_MAX_AGE", 0)
    database["CONN_MAX_AGE"] = 0
    yield
    database["CONN_MAX_AGE"] = previous


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Debian chromium, one per test module (each test gets its own context)."""
    from playwright.sync_api import expect, sync_playwright

    from tests.browser.tabs import WAIT_MS

    # Playwright's sync API keeps its asyncio loop registered as the running loop of this thread
    # while it is started (its greenlets share the thread), so Django would refuse every database
    # query of the test itself (SynchronousOnlyOperation). Nothing here is async: the live server
    # answers in its own thread. Allowed only while the browser lives, then put back as it was.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    expect.set_options(timeout=WAIT_MS)
    playwright = sync_playwright().start()
    try:
        # --no-sandbox: CI runs as root, where chromium refuses to start with its sandbox.
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            browser.close()
            # A connection to the live server is held by an object that only the cyclic
            # collector frees: collected later, during another module's tests, the server
            # thread serving it ended then and failed to close its SQLite connection ("created
            # in a thread can only be used in that same thread"). Freed here, while the live
            # server still shares it.
            gc.collect()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def open_tab(chromium, rp) -> Iterator[Callable[..., Any]]:
    """``open_tab(locale="fr-FR")``: a fresh browser profile and its tab (closed afterwards)."""
    from tests.browser.tabs import Tab

    opened: list[Any] = []

    def open_(locale: str = "fr-FR") -> Tab:
        context = chromium.new_context(locale=locale)
        opened.append(context)
        return Tab(context, rp)

    yield open_
    for context in opened:
        context.close()


@pytest.fixture
def rp_site() -> Iterator[Any]:
    from tests.browser.tabs import RelyingPartySite

    site = RelyingPartySite()
    yield site
    site.close()


@pytest.fixture
def rp(live_provider, rp_site) -> RelyingParty:  # noqa: F811 (the imported fixture)
    """A confidential client whose redirect URI is ``rp_site``'s, and its back end."""
    redirect_uri = rp_site.url("/callback")
    client, secret = make_client(redirect_uris=[redirect_uri])
    return RelyingParty(live_provider, client.client_id, secret, redirect_uri=redirect_uri)


@pytest.fixture
def phone(live_provider, doctor) -> Iterator[Any]:  # noqa: F811
    """The doctor's phone: the reference app activated with an administrator's in-person code."""
    from card_app.client import CardApp

    out = io.StringIO()
    call_command("card_activation", doctor.id_nat, "--json", stdout=out)
    app = CardApp(settings.IDP_BASE_URL)
    app.complete_activation(
        activation_code=json.loads(out.getvalue())["code"], pin=PIN, device_name="Phone"
    )
    yield app
    app.close()
