"""Serving stored files: signed, expiring links (`response_format=url`) and ranged streaming.

Responses stream through an async iterator: under ASGI a sync iterator would be read whole into
memory first, and an MP4 must be seekable (HTTP Range) for players.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re

from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.http import Http404, JsonResponse, StreamingHttpResponse

SALT = "gateway.media"
CHUNK = 256 * 1024
RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


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


def ranged_response(request, name: str, content_type: str | None = None, *, filename: str | None = None):
    """200 with the whole file, 206 for a satisfiable `Range: bytes=a-b`, 416 otherwise."""
    path = default_storage.path(name)
    size = default_storage.size(name)
    content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
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
            return resp
        length, status = end - start + 1, 206
    response = StreamingHttpResponse(_chunks(path, start, length), status=status, content_type=content_type)
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    if filename:
        response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def serve_signed(request, token: str):
    try:
        name = _resolve(token)
    except PermissionError as exc:
        return JsonResponse({"error": {"message": str(exc), "type": "invalid_request_error", "param": None,
                                       "code": "link_expired"}}, status=410)
    if not default_storage.exists(name):
        raise Http404
    response = ranged_response(request, name)
    response["Cache-Control"] = "private, max-age=300"
    return response
