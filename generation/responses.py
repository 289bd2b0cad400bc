"""Shaping an ended job into the Images API response (gateway-anchors.md §A.4)."""

from __future__ import annotations

import base64
import math
import time

from django.core.files.storage import default_storage

from generation.media import signed_url
from generation.waiting import JobSnapshot

FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp", "image/gif": "gif"}


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def images_response(snap: JobSnapshot, *, response_format: str, input_images: int = 0) -> dict:
    images = [f for f in snap.files if f["kind"] == "image"]
    data = []
    for record in images:
        if response_format == "b64_json":
            with default_storage.open(record["file"], "rb") as handle:
                data.append({"b64_json": base64.b64encode(handle.read()).decode()})
        else:
            data.append({"url": signed_url(record["file"])})
    first = images[0] if images else {}
    body = {
        "created": int(time.time()),
        "data": data,
        "output_format": FORMATS.get(first.get("mime"), "png"),
        "usage": usage(snap),
    }
    if first.get("width") and first.get("height"):
        body["size"] = f"{first['width']}x{first['height']}"
    return body


def usage(snap: JobSnapshot) -> dict:
    text_tokens = estimate_tokens(snap.params.get("prompt", ""))
    return {
        "input_tokens": text_tokens,
        "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": 0},
        "output_tokens": 0,
        "total_tokens": text_tokens,
    }


def completed_events(snap: JobSnapshot, event_prefix: str) -> list[dict]:
    """The `<prefix>.completed` event of each image of an image stream (the upstreams send no
    partial images, which OpenAI's protocol allows: the final image may come first). Stream
    events always carry the image inline, whatever `response_format` says."""
    images = [f for f in snap.files if f["kind"] == "image"]
    events = []
    for record in images:
        with default_storage.open(record["file"], "rb") as handle:
            encoded = base64.b64encode(handle.read()).decode()
        event = {"type": f"{event_prefix}.completed", "b64_json": encoded, "created_at": int(time.time()),
                 "output_format": FORMATS.get(record.get("mime"), "png"), "quality": "auto", "background": "auto",
                 "usage": usage(snap)}
        if record.get("width") and record.get("height"):
            event["size"] = f"{record['width']}x{record['height']}"
        events.append(event)
    return events
