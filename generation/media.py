"""Signed, expiring links to files in the gateway's storage (`response_format=url`)."""

from __future__ import annotations

import mimetypes

from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, JsonResponse

SALT = "gateway.media"


def signed_url(name: str, *, ttl: int | None = None) -> str:
    token = signing.dumps({"n": name, "t": ttl or settings.MEDIA_URL_TTL}, salt=SALT, compress=True)
    return f"{settings.PUBLIC_BASE_URL}{settings.MEDIA_URL}{token}"


def _resolve(token: str) -> str:
    try:
        payload = signing.loads(token, salt=SALT, max_age=None)
        signing.loads(token, salt=SALT, max_age=int(payload.get("t", settings.MEDIA_URL_TTL)))
    except signing.SignatureExpired:
        raise PermissionError("This link has expired.") from None
    except signing.BadSignature:
        raise Http404 from None
    return payload["n"]


def serve_signed(request, token: str):
    try:
        name = _resolve(token)
    except PermissionError as exc:
        return JsonResponse({"error": {"message": str(exc), "type": "invalid_request_error", "param": None,
                                       "code": "link_expired"}}, status=410)
    if not default_storage.exists(name):
        raise Http404
    mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse(default_storage.open(name, "rb"), content_type=mime)
    response["Cache-Control"] = "private, max-age=300"
    return response
