"""Serving stored files: signed, expiring links (`response_format=url`) and ranged streaming.

Responses stream through an async iterator: under ASGI a sync iterator would be read whole into
memory first, and an MP4 must be seekable (HTTP Range) for players.

Everything here is served from the gateway's own origin, where an operator is logged in to the
admin, and some files (a failed job's captured page, its console log) are upstream content. So
every response says `nosniff`, and anything that is not one of the images or videos the API
produces is sandboxed: no scripts, no requests, an opaque origin (`_contain`).
"""

from __future__ import annotations

import asyncio
import mimetypes
import posixpath
import re

from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

SALT = "gateway.media"
CHUNK = 256 * 1024
RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")

# What the API itself writes (results, thumbnails, stored inputs; generation.storage.EXTENSIONS):
# shown inline as the media they are. Not SVG, which is a document that can run scripts.
MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "video/mp4"})
# Types stated here rather than guessed: `.log` has none in mimetypes (it came out as an
# application/octet-stream download) and a captured page's charset must not be sniffed either.
KNOWN_TYPES = {".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8",
               ".log": "text/plain; charset=utf-8", ".txt": "text/plain; charset=utf-8",
               ".json": "application/json"}
# Upstream content an operator reads in the browser: shown inline, but sandboxed.
READABLE_TYPES = frozenset({"text/html", "text/plain", "application/json"})
# No scripts (sandbox without allow-scripts, so also an opaque origin: no cookies, no access to
# the admin), no requests of any kind; the page's inline styles and data: images still render.
SANDBOX_CSP = ("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


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


def own_file(url: str) -> str | None:
    """The stored name behind one of our own signed links, whatever host it was reached by (a
    result fed back as an input); None for any other URL. An expired link raises PermissionError."""
    from urllib.parse import urlsplit

    path = urlsplit(url).path
    if not path.startswith(settings.MEDIA_URL):
        return None
    try:
        return _resolve(path[len(settings.MEDIA_URL):])
    except Http404:
        return None


async def _chunks(path: str, start: int, length: int):
    handle = await asyncio.to_thread(open, path, "rb")
    try:
        await asyncio.to_thread(handle.seek, start)
        remaining = length
        while remaining > 0:
            data = await asyncio.to_thread(handle.read, min(CHUNK, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
    finally:
        await asyncio.to_thread(handle.close)


def content_type_for(name: str) -> str:
    known = KNOWN_TYPES.get(posixpath.splitext(name)[1].lower())
    return known or mimetypes.guess_type(name)[0] or "application/octet-stream"


def _contain(response, name: str, content_type: str, filename: str | None) -> None:
    """nosniff on everything; anything but the API's own images and videos sandboxed by CSP,
    shown inline when it is text or a page an operator reads, downloaded otherwise."""
    response["X-Content-Type-Options"] = "nosniff"
    base = content_type.split(";", 1)[0].strip().lower()
    if base in MEDIA_TYPES:
        if filename:
            response["Content-Disposition"] = content_disposition_header(False, filename)
        return
    response["Content-Security-Policy"] = SANDBOX_CSP
    response["X-Frame-Options"] = "DENY"
    response["Referrer-Policy"] = "no-referrer"
    response["Content-Disposition"] = content_disposition_header(base not in READABLE_TYPES,
                                                                 filename or name.rsplit("/", 1)[-1])


def ranged_response(request, name: str, content_type: str | None = None, *, filename: str | None = None):
    """200 with the whole file, 206 for a satisfiable `Range: bytes=a-b`, 416 otherwise."""
    path = default_storage.path(name)
    size = default_storage.size(name)
    content_type = content_type or content_type_for(name)
    start, length, status = 0, size, 200
    header = request.headers.get("Range", "")
    match = RANGE_RE.match(header.strip()) if header else None
    if match and (match.group(1) or match.group(2)):
        first, last = match.group(1), match.group(2)
        if first:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        else:  # a suffix: the last N bytes
            start = max(0, size - int(last))
            end = size - 1
        if start >= size or end < start:
            resp = JsonResponse({"error": {"message": f"Range not satisfiable (size {size}).",
                                           "type": "invalid_request_error", "param": "Range",
                                           "code": "range_not_satisfiable"}}, status=416)
            resp["Content-Range"] = f"bytes */{size}"
            resp["X-Content-Type-Options"] = "nosniff"
            return resp
        length, status = end - start + 1, 206
    response = StreamingHttpResponse(_chunks(path, start, length), status=status, content_type=content_type)
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    _contain(response, name, content_type, filename)
    return response


def serve_signed(request, token: str):
    try:
        name = _resolve(token)
    except PermissionError as exc:
        response = JsonResponse({"error": {"message": str(exc), "type": "invalid_request_error", "param": None,
                                           "code": "link_expired"}}, status=410)
        response["X-Content-Type-Options"] = "nosniff"
        return response
    if not default_storage.exists(name):
        raise Http404
    response = ranged_response(request, name)
    response["Cache-Control"] = "private, max-age=300"
    return response
