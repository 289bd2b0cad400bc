"""Reading the fields every video request shares, whichever surface (or chat turn) it came by."""

from __future__ import annotations

from api.errors import ApiError
from generation.sizing import nearest_ratio, parse_size
from videos.service import VIDEO_RATIOS

SIZES_720P = {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (720, 720), "4:3": (960, 720), "3:4": (720, 960),
              "21:9": (1680, 720)}
MAX_FRAMES = 2  # a first and a last frame


def text_field(data, name: str) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, (str, int, float)):
        raise ApiError.invalid(f"{name}: expected a string.", param=name)
    return str(value)


def int_field(data, name: str) -> int | None:
    value = text_field(data, name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise ApiError.invalid(f"{name}: expected a whole number of seconds.", param=name) from None
    if number != int(number):
        raise ApiError.invalid(f"{name}: expected a whole number of seconds.", param=name)
    return int(number)


def _pixels(data, name: str) -> int | None:
    value = text_field(data, name)
    if value is None:
        return None
    try:
        number = int(float(value))
    except ValueError:
        number = 0
    if number <= 0:
        raise ApiError.invalid(f"{name}: expected a number of pixels.", param=name)
    return number


def ratio_resolution(data) -> tuple[str, str, str]:
    """(ratio, resolution, size string) from `size` (OpenAI), `width` and `height` (seed 001's
    synchronous call) or `ratio`/`resolution` (seeds)."""
    ratio = text_field(data, "ratio")
    resolution = text_field(data, "resolution")
    size_text = text_field(data, "size")
    width, height = _pixels(data, "width"), _pixels(data, "height")
    if not size_text and width and height:
        size_text = f"{width}x{height}"
    if ratio is not None and ratio not in VIDEO_RATIOS:
        raise ApiError.invalid(f"ratio: one of {', '.join(VIDEO_RATIOS)}.", param="ratio")
    if resolution is not None and resolution not in ("720p", "1080p"):
        raise ApiError.invalid("resolution: 720p or 1080p.", param="resolution")
    width = height = None
    if size_text:
        try:
            parsed = parse_size(size_text)
        except ValueError as exc:
            raise ApiError.invalid(f"size: {exc}", param="size") from None
        if parsed:
            width, height = parsed
            ratio = ratio or nearest_ratio(width, height, VIDEO_RATIOS)
            resolution = resolution or ("1080p" if min(width, height) >= 1080 else "720p")
    ratio = ratio or "16:9"
    resolution = resolution or "720p"
    if width is None:
        w, h = SIZES_720P[ratio]
        scale = 1.5 if resolution == "1080p" else 1
        width, height = int(w * scale), int(h * scale)
    return ratio, resolution, f"{width}x{height}"
