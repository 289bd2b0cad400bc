"""Re-encoding a result image into the format the client asked for (`output_format`).

The upstreams choose their own formats (Jimeng's CDN sends WEBP or JPEG, Gemini PNG); an app
that asked for `png` and saves the bytes as `.png` must get PNG. The worker converts once, before
the file is stored, so the response, the signed link and the stored file all agree.
"""

from __future__ import annotations

import io

from PIL import Image

MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
# Without `output_compression`, lossy formats are written at this quality: visually lossless at a
# third of the size of 100.
DEFAULT_QUALITY = 95
# JPEG has no transparency; transparent pixels come out on white, as most viewers show them.
JPEG_BACKGROUND = (255, 255, 255)


def wanted(params: dict) -> tuple[str | None, int | None]:
    """The job's requested format and compression (None when the client left them out)."""
    fmt = params.get("output_format")
    return (fmt if fmt in MIME else None), params.get("output_compression")


def needs_conversion(mime: str, fmt: str | None, compression: int | None) -> bool:
    if fmt is None:
        return False
    if MIME[fmt] != mime:
        return True
    # Same format: re-encode only to honour an explicit compression of a lossy format.
    return compression is not None and fmt in ("jpeg", "webp")


def convert(data: bytes, fmt: str, compression: int | None) -> tuple[bytes, str]:
    """The image re-encoded as `fmt`: (bytes, mime)."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        if fmt == "jpeg":
            img = _flatten(img)
        elif img.mode not in ("RGB", "RGBA", "L", "LA"):
            img = img.convert("RGBA" if "transparency" in img.info or img.mode in ("P", "PA") else "RGB")
        out = io.BytesIO()
        options = {}
        if fmt in ("jpeg", "webp"):
            options["quality"] = DEFAULT_QUALITY if compression is None else compression
        img.save(out, PIL_FORMAT[fmt], **options)
    return out.getvalue(), MIME[fmt]


def _flatten(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, JPEG_BACKGROUND)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB") if img.mode != "RGB" else img
