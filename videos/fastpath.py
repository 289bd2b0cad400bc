"""`GET /v1/videos/{id}` answered straight from ASGI: the one endpoint clients poll in a loop.

It skips Django's request machinery (a thread and a database connection per request, signals,
DRF negotiation) and does only what the endpoint needs: the cached key lookup, one read on the
shared reader threads, the same `video_object` the DRF view renders, and the same error
envelope. Anything unusual (another method, a malformed path) falls through to Django.
"""

from __future__ import annotations

import json
import re
import uuid

from django.conf import settings

from api import authentication
from api.errors import ApiError
from api.reads import read

PATH_RE = re.compile(r"^/v1/videos/(?P<id>(?:video_|vtask_)?[0-9a-fA-F-]{32,36})$")


def matches(scope) -> str | None:
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    match = PATH_RE.match(scope["path"])
    return match.group("id") if match else None


def _header(scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin1")
    return ""


async def _send(send, status: int, body: dict, extra: list[tuple[bytes, bytes]] = ()) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
               (b"x-request-id", ("req_" + uuid.uuid4().hex).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def retrieve(scope, receive, send, video_id: str) -> None:
    from videos.views import _load_video

    scheme, _, raw = _header(scope, b"authorization").partition(" ")
    raw = raw.strip()
    key = None
    if scheme.lower() == "bearer" and raw:
        known, key = authentication.cached(raw)
        if not known:  # only a cache miss costs a trip to the reader threads
            key = await read(authentication.lookup, raw)
    if key is None:
        error = ApiError.unauthorized("Incorrect, disabled or expired API key provided." if raw else
                                      "You didn't provide an API key. Send it as 'Authorization: Bearer <API key>'.")
        return await _send(send, error.status, error.body(), [(b"www-authenticate", b'Bearer realm="api"')])
    found = await read(_load_video, video_id, key.pk)
    if found is None:
        error = ApiError.not_found(f"No video with id '{video_id}'.", param="video_id")
        return await _send(send, error.status, error.body())
    body, active = found
    extra = [(b"openai-poll-after-ms", str(settings.VIDEO_POLL_AFTER_MS).encode())] if active else []
    await _send(send, 200, body, extra)
