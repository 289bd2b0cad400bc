"""Input images from clients: uploads and URLs, checked before anything is stored.

Uploads are recognised by their bytes (part headers lie: the SDK sends raw bytes as
`filename="upload"`), limited in size and decoded by Pillow under its decompression-bomb limit.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings

from urllib.parse import urlsplit

from django.conf import settings
from PIL import Image

from api.errors import ApiError
from generation.ssrf import UnsafeURL, fetch_public

SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)
DATA_URL_RE = re.compile(r"^data:(?P<mime>[\w/+.-]*)(?P<params>(;[\w=.-]+)*?)(?P<b64>;base64)?,(?P<data>.*)$", re.S)


def sniff(data: bytes) -> str | None:
    for magic, ext in SIGNATURES:
        if data.startswith(magic):
            return ext
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def check_image(data: bytes, param: str) -> str:
    """The file's extension if `data` is a real, sane image; a 400 naming `param` otherwise."""
    if not data:
        raise ApiError.invalid(f"{param}: the image is empty.", param=param, code="invalid_image")
    if len(data) > settings.MAX_UPLOAD_BYTES:
        raise ApiError.invalid(f"{param}: the image is larger than {settings.MAX_UPLOAD_BYTES // (1024 * 1024)} MB.",
                               param=param, code="image_too_large")
    ext = sniff(data)
    if ext is None:
        raise ApiError.invalid(f"{param}: not a PNG, JPEG, WEBP or GIF image.", param=param,
                               code="invalid_image_format")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                img.verify()
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > settings.MAX_IMAGE_PIXELS:
                    raise Image.DecompressionBombError("too many pixels")
                img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ApiError.invalid(f"{param}: the image has too many pixels.", param=param,
                               code="image_too_large") from None
    except Exception:
        raise ApiError.invalid(f"{param}: the image could not be decoded.", param=param,
                               code="invalid_image") from None
    return ext


def read_upload(upload, param: str) -> tuple[bytes, str]:
    if upload.size > settings.MAX_UPLOAD_BYTES:
        raise ApiError.invalid(f"{param}: the image is larger than {settings.MAX_UPLOAD_BYTES // (1024 * 1024)} MB.",
                               param=param, code="image_too_large")
    data = upload.read()
    return data, check_image(data, param)


def _read_own_file(url: str, param: str) -> bytes | None:
    """A result of this gateway, fed back by its signed link, read from storage: the link's host
    is often one the SSRF guard refuses (the gateway on loopback or a LAN), and it is ours."""
    from django.core.files.storage import default_storage

    from generation.media import own_file

    try:
        name = own_file(url)
    except PermissionError:
        raise ApiError.invalid(f"{param}: this gateway's link has expired.", param=param,
                               code="invalid_image_url") from None
    if name is None:
        return None
    try:
        with default_storage.open(name, "rb") as handle:
            return handle.read(settings.MAX_UPLOAD_BYTES + 1)
    except FileNotFoundError:  # cleaned up since: the URL is fetched as any other, and refused
        return None


def read_url(url: str, param: str) -> tuple[bytes, str]:
    """A `data:` URL or an http(s) URL fetched through the SSRF guard."""
    if not isinstance(url, str) or not url.strip():
        raise ApiError.invalid(f"{param}: expected an image URL.", param=param)
    url = url.strip()
    if url.startswith("data:"):
        match = DATA_URL_RE.match(url)
        if not match:
            raise ApiError.invalid(f"{param}: malformed data: URL.", param=param, code="invalid_image_url")
        try:
            data = base64.b64decode(match.group("data"), validate=True) if match.group("b64") else \
                match.group("data").encode()
        except (binascii.Error, ValueError):
            raise ApiError.invalid(f"{param}: the data: URL is not valid base64.", param=param,
                                   code="invalid_image_url") from None
        return data, check_image(data, param)
    own = _read_own_file(url, param)
    if own is not None:
        return own, check_image(own, param)
    try:
        data = fetch_public(url, max_bytes=settings.MAX_UPLOAD_BYTES, timeout=settings.URL_FETCH_TIMEOUT)
    except UnsafeURL as exc:
        if urlsplit(url).path.startswith(settings.MEDIA_URL):
            # Most likely one of our own links, altered or cleaned up: say that, not "non-public".
            raise ApiError.invalid(f"{param}: not a valid link to a file of this gateway (the link was altered "
                                   "or the file has been cleaned up).", param=param,
                                   code="invalid_image_url") from None
        raise ApiError.invalid(f"{param}: {exc}", param=param, code="invalid_image_url") from None
    return data, check_image(data, param)
