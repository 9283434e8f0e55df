"""django.contrib.messages' middleware, with the message storage built on first use.

Only the admin adds or shows messages; the login journey's pages never touch them, yet Django's
``MessageMiddleware`` builds a ``FallbackStorage`` (a cookie and a session storage) for every page
request and asks it, on the way out, whether anything is to be stored. Here ``request._messages``
is a lazy object: built (the same storage, from the same request) the first time anything reads or
adds a message, and saved on the way out only then. A request that never touched it had nothing
to read, add or store.
"""

from __future__ import annotations

from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import SimpleLazyObject, empty


class LazyMessageMiddleware(MessageMiddleware):
    """``MessageMiddleware`` whose storage is built when first used."""

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        storage = getattr(request, "_messages", None)
        if isinstance(storage, SimpleLazyObject) and storage._wrapped is empty:
            return response  # never used: nothing was read or added
        return super().process_response(request, response)
