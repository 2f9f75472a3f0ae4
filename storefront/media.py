"""Uploaded media for the demo and single-machine shops (SERVE_MEDIA); nginx or a CDN elsewhere."""

from pathlib import PurePosixPath

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.static import serve

from catalog.images import SERVED_EXTENSIONS


def media_serve(request: HttpRequest, path: str) -> HttpResponse:
    """Photos only: a file of any other type is not served from the shop's origin, whatever put it
    there. SecurityMiddleware adds X-Content-Type-Options: nosniff, so browsers trust the type."""
    if PurePosixPath(path).suffix.lower() not in SERVED_EXTENSIONS:
        raise Http404("Not a photo.")
    response = serve(request, path, document_root=settings.MEDIA_ROOT)
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"  # if a browser renders it anyway
    return response
