"""A minimal scripted browser for interoperability tests: keeps cookies, follows no redirect by
itself, submits HTML forms. Built on the standard library so that the relying-party libraries under
test bring their own HTTP stacks and nothing is shared with the provider's code."""

from __future__ import annotations

import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class Response:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def location(self) -> str:
        return urllib.parse.urljoin(self.url, self.headers.get("location", ""))

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._current: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._current = Form(attributes.get("action", ""), attributes.get("method", "get"))
            self.forms.append(self._current)
        elif tag in ("input", "button", "select", "textarea") and self._current is not None:
            name = attributes.get("name")
            if name and (tag != "input" or attributes.get("type") not in ("submit", "button")):
                self._current.fields.setdefault(name, attributes.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


class Browser:
    """Cookies and one request at a time, like a person's browser tab."""

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.headers = dict(headers or {})  # sent with every request (a User-Agent, say)
        self.cookies = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect()
        )

    def request(
        self,
        url: str,
        *,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        sent = {**self.headers, **(headers or {})}
        request = urllib.request.Request(url, data=body, headers=sent)  # noqa: S310 (test-only)
        try:
            with self._opener.open(request, timeout=30) as answer:
                return Response(url, answer.status, _headers(answer), answer.read())
        except urllib.error.HTTPError as answer:
            return Response(url, answer.code, _headers(answer), answer.read())

    def follow(self, url: str, *, until: str, max_hops: int = 10) -> Response:
        """GET ``url`` and follow redirects until one points at a URL starting with ``until``.

        A ``url`` that already starts with ``until`` (the previous answer went there, as a login
        that answers the client at once does) is not fetched: the redirect to it is returned.
        """
        if url.startswith(until):
            return Response(url, 302, {"location": url}, b"")
        response = self.request(url)
        for _ in range(max_hops):
            if response.status not in (301, 302, 303, 307, 308):
                return response
            if response.location.startswith(until):
                return response
            response = self.request(response.location)
        raise AssertionError(f"too many redirects from {url}")

    @staticmethod
    def forms(response: Response) -> list[Form]:
        parser = _FormParser()
        parser.feed(response.text)
        return parser.forms

    def submit(
        self,
        response: Response,
        form: Form,
        *,
        headers: dict[str, str] | None = None,
        **values: str,
    ) -> Response:
        action = urllib.parse.urljoin(response.url, form.action or response.url)
        return self.request(action, data={**form.fields, **values}, headers=headers)


def _headers(answer) -> dict[str, str]:
    return {name.lower(): value for name, value in answer.headers.items()}
