"""idp.core.lazy_messages: the message storage is built on first use, and then works as Django's."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils.functional import empty

from idp.core.lazy_messages import LazyMessageMiddleware


def _run(view, cookies=None):
    request = RequestFactory().get("/")
    request.COOKIES.update(cookies or {})
    SessionMiddleware(lambda r: None).process_request(request)
    middleware = LazyMessageMiddleware(view)
    response = middleware(request)
    return request, response


def test_a_request_that_never_touches_messages_builds_no_storage():
    request, response = _run(lambda request: HttpResponse("x"))
    assert request._messages._wrapped is empty
    assert not response.cookies


def test_messages_added_are_stored_and_read_on_the_next_request():
    def add(request):
        messages.success(request, "done")
        return HttpResponse("x")

    request, response = _run(add)
    assert isinstance(request._messages, FallbackStorage)
    cookie = response.cookies["messages"].value
    seen = []

    def read(request):
        seen.extend(str(m) for m in messages.get_messages(request))
        return HttpResponse("x")

    request, response = _run(read, {"messages": cookie})
    assert seen == ["done"]
    assert response.cookies["messages"].value == ""  # read: the cookie is cleared
