"""Mapping an OpenAI `size` onto the ratio × resolution grid the upstreams work in."""

from __future__ import annotations

import math
import re

RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3", "21:9")
RESOLUTIONS = ("1k", "2k", "4k")
DEFAULT_RATIO = "1:1"
DEFAULT_RESOLUTION = "2k"

SIZE_RE = re.compile(r"^\s*(\d{1,6})\s*[xX×]\s*(\d{1,6})\s*$")


def _ratio_value(ratio: str) -> float:
    w, h = ratio.split(":")
    return int(w) / int(h)


def parse_size(size: str) -> tuple[int, int] | None:
    """(width, height) for 'WxH'; None for 'auto'. Raises ValueError otherwise."""
    if size.strip().lower() == "auto":
        return None
    match = SIZE_RE.match(size)
    if not match:
        raise ValueError("must be 'WIDTHxHEIGHT' (for example 1024x1024) or 'auto'")
    width, height = int(match.group(1)), int(match.group(2))
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise ValueError(f"{width}x{height} is out of range: each side must be 16 to 8192 pixels")
    return width, height


def nearest_ratio(width: int, height: int, ratios=RATIOS) -> str:
    target = math.log(width / height)
    return min(ratios, key=lambda r: abs(math.log(_ratio_value(r)) - target))


def nearest_resolution(width: int, height: int) -> str:
    longest = max(width, height)
    if longest <= 1700:
        return "1k"
    if longest <= 3500:
        return "2k"
    return "4k"
