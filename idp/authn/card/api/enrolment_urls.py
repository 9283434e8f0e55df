"""Routes of the card app API (see urls.py)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
