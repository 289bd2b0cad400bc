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
    text_tokens = estimate_tokens(snap.params.get("prompt", ""))
    body = {
        "created": int(time.time()),
        "data": data,
        "output_format": FORMATS.get(first.get("mime"), "png"),
        "usage": {
            "input_tokens": text_tokens,
            "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": 0},
            "output_tokens": 0,
            "total_tokens": text_tokens,
        },
    }
    if first.get("width") and first.get("height"):
        body["size"] = f"{first['width']}x{first['height']}"
    return body
