"""Fetching a generated image at full size through the browser context's own HTTP client.

In-page fetch() of the CDN URL fails (no CORS header for gemini.google.com) and canvas copies are
preview-sized (gemini-web.md §2.5). `context.request` is not bound by CORS and carries the
context's cookies, which the CDN's google.com hop checks. Its URL options decide the size:
"=s0" is the original pixels (spike, hamlog), "=s16383" the largest rendition (femini), and
"=s2048-rj" the fallback gemini-webapi uses. With "=d-I?alr=yes"-style options a hop answers with
the next URL as text instead of a redirect, so text bodies that are URLs are followed too.
"""

from __future__ import annotations

import io
import logging
import re
from urllib.parse import urlsplit, urlunsplit

from PIL import Image

from generation.drivers.base import OutputFile

logger = logging.getLogger(__name__)

MAX_TEXT_HOPS = 5


def image_file(data: bytes) -> OutputFile | None:
    """The bytes as an OutputFile if Pillow recognises a complete image, else None."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            fmt, (width, height) = img.format, img.size
    except Exception:
        return None
    mime = Image.MIME.get(fmt or "", "application/octet-stream")
    return OutputFile(data=data, mime=mime, width=width, height=height)


def with_size(url: str, suffix: str) -> str:
    """Replace the FIFE options (everything after the first "=" of the last path segment)."""
    parts = urlsplit(url)
    head, _, last = parts.path.rpartition("/")
    base = last.split("=", 1)[0]
    path = f"{head}/{base}{suffix}"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


async def fetch_full_size(request, candidates: list[str], cfg, ms, *, referer: str, suffixes=None) -> OutputFile | None:
    """Try each candidate URL with each size option; the first real image wins."""
    suffixes = cfg.FULL_SIZE_SUFFIXES if suffixes is None else suffixes
    for url in candidates:
        for suffix in suffixes:
            target = with_size(url, suffix) if suffix else url
            found = await _get(request, target, lambda: ms(cfg.DOWNLOAD_REQUEST_TIMEOUT), referer)
            if found is not None:
                return found
    return None


async def _get(request, url: str, timeout_ms, referer: str) -> OutputFile | None:
    from playwright.async_api import Error as PlaywrightError

    for _ in range(MAX_TEXT_HOPS):
        try:
            response = await request.get(url, headers={"Referer": referer}, timeout=timeout_ms(), max_redirects=10)
        except PlaywrightError as exc:
            logger.info("gemini image fetch failed: %s", _clip(str(exc)))
            return None
        if response.status != 200:
            logger.info("gemini image fetch answered HTTP %s for %s", response.status, _strip_query(url))
            return None
        body = await response.body()
        kind = (response.headers.get("content-type") or "").split(";")[0].strip().lower()
        if kind.startswith("text/"):
            text = body.decode("utf-8", "replace").strip()
            if re.match(r"^https?://\S+$", text):
                url = text
                continue
            return None
        return image_file(body)
    return None


def _strip_query(url: str) -> str:
    # Image tokens are capability URLs; keep logs to the shape.
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path[:60] + "…", "", ""))


def _clip(text: str) -> str:
    return text.splitlines()[0][:200] if text else text
