"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) through HTTP."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.http import HttpResponse

from idp.audit.models import AuditEvent
from idp.oidc import sessions, tokens
from idp.oidc.models import LogoutDelivery, SsoSession
from relying_parties.registry import get_client
from tests.oidc.factories import POST_LOGOUT_URI, make_client, make_professional, rpps
from tests.oidc.issued import issue, open_session

pytestmark = pytest.mark.django_db

URL = "/auth/realms/esante-wallet/protocol/openid-connect/logout"


@pytest.fixture
def professional():
    return make_professional("8" + rpps(31))


@pytest.fixture
def rp():
    client, _ = make_client(client_id="dmp", backchannel_logout_uri="https://rp.example.fr/bc")
    return client


def _browser_in(client, session: SsoSession) -> None:
    """Give the test browser the SSO cookie of ``session``."""
    response = HttpResponse()
    sessions.set_cookie(response, session)
    client.cookies[sessions.COOKIE_NAME] = response.cookies[sessions.COOKIE_NAME].value


def _ended(session: SsoSession) -> bool:
    session.refresh_from_db()
    return session.ended_at is not None


def _cookie_cleared(response) -> bool:
    morsel = response.cookies.get(sessions.COOKIE_NAME)
    return morsel is not None and morsel.value == "" and morsel["max-age"] == 0


def test_valid_hint_logs_out_at_once_and_redirects_with_state(client, professional, rp):
    issued = issue(rp, professional)
    _browser_in(client, issued.session)

    response = client.get(
        URL,
        {
            "id_token_hint": issued.id_token,
            "post_logout_redirect_uri": POST_LOGOUT_URI,
            "state": "af0ifjsldkj&x=1",
        },
    )

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == POST_LOGOUT_URI
    assert parse_qs(location.query) == {"state": ["af0ifjsldkj&x=1"]}
    assert _ended(issued.session)
    assert issued.session.end_reason == "rp_logout"
    assert _cookie_cleared(response)
    assert LogoutDelivery.objects.filter(sid=issued.session.sid, client_id="dmp").count() == 1
    event = AuditEvent.objects.get(tag="oidc:logout:requested")
    assert event.subject == professional.sub
    assert event.data["client_id"] == "dmp" and event.data["id_token_hint"] is True


def test_post_works_like_get(client, professional, rp):
    issued = issue(rp, professional)
    _browser_in(client, issued.session)
    response = client.post(
        URL, {"id_token_hint": issued.id_token, "post_logout_redirect_uri": POST_LOGOUT_URI}
    )
    assert response.status_code == 302
    assert response["Location"] == POST_LOGOUT_URI
    assert _ended(issued.session)


def test_cross_site_post_without_the_cookie_ends_the_session_the_hint_names(
    client, rp, professional
):
    # A relying party's form POSTs here from its own site: the SameSite=Lax cookie is not sent.
    issued = issue(rp, professional)
    other = open_session(professional)
    response = client.post(
        URL, {"id_token_hint": issued.id_token, "post_logout_redirect_uri": POST_LOGOUT_URI}
    )
    assert response.status_code == 302
    assert response["Location"] == POST_LOGOUT_URI
    assert _ended(issued.session)
    assert not _ended(other)
    assert LogoutDelivery.objects.filter(sid=issued.session.sid, client_id="dmp").count() == 1


def test_hint_of_an_ended_session_without_cookie_changes_nothing(client, rp, professional):
    issued = issue(rp, professional)
    sessions.end(issued.session, "logout")
    before = AuditEvent.objects.count()
    response = client.post(URL, {"id_token_hint": issued.id_token})
    assert response.status_code == 200
    assert AuditEvent.objects.count() == before


def test_expired_hint_is_accepted(client, professional, rp):
    issued = issue(rp, professional)
    old = tokens.issue_id_token(
        client=get_client("dmp"),
        professional=tokens.load_professional(professional.pk),
        access_token=issued.access_token,
        nonce="",
        auth_time=issued.session.auth_time,
        acr="eidas1",
        amr=["pin"],
        sid=issued.session.sid,
        now=int(time.time()) - 7200,
    )
    _browser_in(client, issued.session)
    response = client.get(URL, {"id_token_hint": old.value})
    assert response.status_code == 200
    assert _ended(issued.session)


def test_unregistered_redirect_uri_shows_our_page_instead(client, professional, rp):
    issued = issue(rp, professional)
    _browser_in(client, issued.session)
    response = client.get(
        URL,
        {
            "id_token_hint": issued.id_token,
            "post_logout_redirect_uri": "https://evil.example/steal",
            "state": "s",
        },
    )
    assert response.status_code == 200
    assert "Location" not in response
    # Neither a link nor a form leads there (the language switcher only re-requests this page).
    assert b'href="https://evil' not in response.content
    assert b'action="https://evil' not in response.content
    assert _ended(issued.session)


@pytest.mark.parametrize(
    "uri",
    [
        POST_LOGOUT_URI + "/",
        POST_LOGOUT_URI + "?x=1",
        POST_LOGOUT_URI.upper(),
        "https://rp.example.fr",
    ],
)
def test_redirect_uri_must_match_exactly(client, professional, rp, uri):
    issued = issue(rp, professional)
    _browser_in(client, issued.session)
    response = client.get(URL, {"id_token_hint": issued.id_token, "post_logout_redirect_uri": uri})
    assert response.status_code == 200
    assert "Location" not in response


def test_redirect_uri_with_client_id_and_no_session(client, rp):
    response = client.get(
        URL, {"client_id": "dmp", "post_logout_redirect_uri": POST_LOGOUT_URI, "state": "xyz"}
    )
    assert response.status_code == 302
    assert response["Location"] == POST_LOGOUT_URI + "?state=xyz"


def test_redirect_uri_without_a_client_is_ignored(client):
    response = client.get(URL, {"post_logout_redirect_uri": POST_LOGOUT_URI})
    assert response.status_code == 200
    assert "Location" not in response


def test_redirect_uri_registered_by_another_client_is_ignored(client, professional, rp):
    make_client(client_id="other", post_logout_redirect_uris=["https://other.fr/bye"])
    issued = issue(rp, professional)
    _browser_in(client, issued.session)
    response = client.get(
        URL, {"id_token_hint": issued.id_token, "post_logout_redirect_uri": "https://other.fr/bye"}
    )
    assert response.status_code == 200
    assert "Location" not in response


def test_without_hint_a_live_session_is_asked_for_confirmation(client, professional, rp):
    issued = issue(rp, professional)
    _browser_in(client, issued.session)

    response = client.get(
        URL, {"client_id": "dmp", "post_logout_redirect_uri": POST_LOGOUT_URI, "state": "s1"}
    )

    assert response.status_code == 200
    assert b'name="confirm_token"' in response.content
    assert not _ended(issued.session)
    assert not AuditEvent.objects.filter(tag="oidc:logout:requested").exists()
    assert not LogoutDelivery.objects.exists()

    form = response.context["carried"]
    data = dict(form, confirm_token=response.context["confirm_token"])
    confirmed = client.post(URL, data)
    assert confirmed.status_code == 302
    assert confirmed["Location"] == POST_LOGOUT_URI + "?state=s1"
    assert _ended(issued.session)
    assert AuditEvent.objects.get(tag="oidc:logout:requested").data["confirmed"] is True


def test_confirmation_token_of_another_session_does_not_log_out(client, professional, rp):
    mine = issue(rp, professional)
    theirs = open_session(make_professional("8" + rpps(32)))
    _browser_in(client, theirs)
    forged = client.get(URL).context["confirm_token"]  # token bound to *their* session
    _browser_in(client, mine.session)

    response = client.post(URL, {"confirm_token": forged})

    assert response.status_code == 200
    assert b'name="confirm_token"' in response.content  # asked again
    assert not _ended(mine.session)


def test_hint_of_another_professional_asks_for_confirmation(client, professional, rp):
    someone_else = make_professional("8" + rpps(33))
    their_tokens = issue(rp, someone_else)
    mine = issue(rp, professional)
    _browser_in(client, mine.session)
    response = client.get(URL, {"id_token_hint": their_tokens.id_token})
    assert b'name="confirm_token"' in response.content
    assert not _ended(mine.session)
    assert not _ended(their_tokens.session)


def test_hint_of_an_earlier_session_of_the_same_professional_logs_out(client, professional, rp):
    earlier = issue(rp, professional)
    current = issue(rp, professional)
    _browser_in(client, current.session)
    response = client.get(URL, {"id_token_hint": earlier.id_token})
    assert response.status_code == 200
    assert b'name="confirm_token"' not in response.content
    assert _ended(current.session)


@pytest.mark.parametrize("hint", ["garbage", "a.b.c"])
def test_invalid_hint_is_refused_without_redirect(client, professional, rp, hint):
    issued = issue(rp, professional)
    _browser_in(client, issued.session)
    response = client.get(URL, {"id_token_hint": hint, "post_logout_redirect_uri": POST_LOGOUT_URI})
    assert response.status_code == 400
    assert "Location" not in response
    assert not _ended(issued.session)


def test_access_token_as_hint_is_refused(client, professional, rp):
    issued = issue(rp, professional)
    _browser_in(client, issued.session)
    response = client.get(URL, {"id_token_hint": issued.access_token})
    assert response.status_code == 400
    assert not _ended(issued.session)


def test_client_id_not_matching_the_hint_is_refused(client, professional, rp):
    make_client(client_id="other")
    issued = issue(rp, professional)
    _browser_in(client, issued.session)
    response = client.get(URL, {"id_token_hint": issued.id_token, "client_id": "other"})
    assert response.status_code == 400
    assert not _ended(issued.session)


def test_no_session_shows_the_closed_page(client):
    response = client.get(URL)
    assert response.status_code == 200
    assert "Session fermée".encode() in response.content
    assert not AuditEvent.objects.filter(tag="oidc:logout:requested").exists()


def test_ui_locales_picks_english(client, professional, rp):
    issued = issue(rp, professional)
    _browser_in(client, issued.session)
    response = client.get(URL, {"id_token_hint": issued.id_token, "ui_locales": "en-GB fr"})
    assert b"Session closed" in response.content


def test_pages_are_not_cached_nor_framed(client):
    response = client.get(URL)
    assert response["Cache-Control"] == "no-store"
    assert response["X-Frame-Options"] == "DENY"


def test_after_logout_the_sessions_tokens_are_refused(client, professional, rp):
    issued = issue(rp, professional)
    _browser_in(client, issued.session)
    client.get(URL, {"id_token_hint": issued.id_token})
    response = client.get(
        "/auth/realms/esante-wallet/protocol/openid-connect/userinfo",
        HTTP_AUTHORIZATION=f"Bearer {issued.access_token}",
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    issued.refresh_row.refresh_from_db()
    assert issued.refresh_row.revoked_at is not None
