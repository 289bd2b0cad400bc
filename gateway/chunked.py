"""Request bodies sent without a Content-Length (`Transfer-Encoding: chunked`).

Django under ASGI reads such a body, but Django REST framework takes a request without a length
for one with no body: a chunked JSON request was answered "prompt: This field is required."
rather than parsed. So an API request with a chunked body is read here first, up to
MAX_REQUEST_BYTES (beyond that: 413, as for a declared length), and handed on with its length.
"""

from __future__ import annotations

import json
import uuid

from django.conf import settings


def chunked(scope) -> bool:
    names = {name.lower() for name, _value in scope.get("headers", ())}
    return b"transfer-encoding" in names and b"content-length" not in names


async def with_length(scope, receive, send):
    """(scope, receive) carrying the whole body and its length, or (None, None) once a 413 is sent."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None, None
        body += message.get("body", b"")
        if len(body) > settings.MAX_REQUEST_BYTES:
            await _too_large(send)
            return None, None
        if not message.get("more_body", False):
            break
    headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"transfer-encoding"]
    headers.append((b"content-length", str(len(body)).encode()))
    delivered = False

    async def replay():
        nonlocal delivered
        if delivered:
            return await receive()  # what comes after the body: the client's disconnect
        delivered = True
        return {"type": "http.request", "body": bytes(body), "more_body": False}

    return {**scope, "headers": headers}, replay


async def _too_large(send) -> None:
    from api.errors import request_too_large

    payload = json.dumps(request_too_large().body()).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
        (b"x-request-id", f"req_{uuid.uuid4().hex}".encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})
