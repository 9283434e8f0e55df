from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """Landing page: what this provider is and where a relying service finds it."""
    return render(request, "core/home.html", {"issuer": settings.IDP_ISSUER})
