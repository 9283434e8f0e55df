"""Login page (being built)."""

from django.http import Http404, HttpRequest, HttpResponse


def login(request: HttpRequest, txn: str) -> HttpResponse:
    raise Http404
