"""Pixels for the fake's generated images, and the image host's URL size options.

Images are drawn from the prompt so a test can tell which prompt produced which
file: the background colour is derived from the prompt's hash and the prompt text
is written on it. Edits paste thumbnails of the received uploads, so the output
also depends on the attached bytes.
"""

from __future__ import annotations

import hashlib
import io
import re
import textwrap
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

ASPECT_RATIOS = {
    "1:1": (1, 1), "16:9": (16, 9), "9:16": (9, 16), "4:3": (4, 3), "3:4": (3, 4),
    "3:2": (3, 2), "2:3": (2, 3),
}


def full_size(long_side: int, aspect_ratio: str) -> tuple[int, int]:
    w, h = ASPECT_RATIOS.get(aspect_ratio, (1, 1))
    if w >= h:
        return long_side, max(1, round(long_side * h / w))
    return max(1, round(long_side * w / h)), long_side


def prompt_colour(prompt: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    # keep it mid-dark so white text stays readable
    return tuple(40 + b % 150 for b in digest[:3])  # type: ignore[return-value]


def render_generated(prompt: str, size: tuple[int, int], *, label: str = "",
                     sources: list[bytes] | None = None) -> Image.Image:
    width, height = size
    base = prompt_colour(prompt)
    img = Image.new("RGB", size, base)
    draw = ImageDraw.Draw(img)
    # a vertical gradient makes resized copies differ from a flat fill
    for y in range(0, height, 4):
        shade = tuple(min(255, c + (y * 60) // max(1, height)) for c in base)
        draw.rectangle([0, y, width, y + 4], fill=shade)
    margin = width // 16
    font_size = max(12, min(width, height) // 14)
    font = ImageFont.load_default(size=font_size)
    chars_per_line = max(8, int((width - 2 * margin) / (font_size * 0.55)))
    lines = textwrap.wrap(prompt or "(empty prompt)", chars_per_line)[:8]
    draw.multiline_text((margin, margin), "\n".join(lines), font=font, fill=(255, 255, 255),
                        spacing=font_size // 3)
    small = ImageFont.load_default(size=max(10, font_size // 3))
    draw.text((margin, height - margin), f"fake gemini {label}".strip(), font=small,
              fill=(255, 255, 255), anchor="ls")
    if sources:
        thumb_side = min(width, height) // 4
        x = width - margin - thumb_side
        for data in sources[:3]:
            try:
                with Image.open(io.BytesIO(data)) as src:
                    thumb = src.convert("RGB")
                    thumb.thumbnail((thumb_side, thumb_side))
            except Exception:  # undecodable uploads are handled by the caller
                continue
            y = height - margin - thumb.height - font_size
            img.paste(thumb, (x, y))
            draw.rectangle([x - 2, y - 2, x + thumb.width + 2, y + thumb.height + 2],
                           outline=(255, 255, 255), width=2)
            x -= thumb_side + margin // 2
    return img


def is_decodable_image(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
        return True
    except Exception:
        return False


def avatar_png(seed: str, side: int) -> bytes:
    side = max(8, min(side, 512))
    img = Image.new("RGB", (side, side), prompt_colour(seed))
    ImageDraw.Draw(img).ellipse([side // 4, side // 4, 3 * side // 4, 3 * side // 4],
                                fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


class BadOptions(ValueError):
    pass


@dataclass
class SizeOptions:
    """Parsed FIFE-style options after the ``=`` of an image URL (``s1024-rj``, ``s0``, ``d-I``)."""

    raw: str
    size: int | None = None  # s<N>: longest side, 0 = original
    width: int | None = None
    height: int | None = None
    download: bool = False  # d: answer as an attachment
    text_redirects: bool = False  # I: each hop answers with the next URL as text
    fmt: str | None = None  # "JPEG", "PNG", "WEBP" or None (= original PNG)

    def target(self, original: tuple[int, int], default_long_side: int = 512) -> tuple[int, int]:
        ow, oh = original
        if self.download and self.size is None and self.width is None and self.height is None:
            return original
        if self.size == 0:
            return original
        if self.size is None and self.width is None and self.height is None:
            limit = default_long_side
            scale = min(1.0, limit / max(ow, oh))
        elif self.size is not None:
            scale = min(1.0, self.size / max(ow, oh))  # never upscale, like s16383 → original
        else:
            scales = [1.0]
            if self.width:
                scales.append(self.width / ow)
            if self.height:
                scales.append(self.height / oh)
            scale = min(scales)
        return max(1, round(ow * scale)), max(1, round(oh * scale))

    def is_preview(self, preview_long_side: int) -> bool:
        """Preview-sized, non-download requests still work when full-size ones are broken."""
        if self.download:
            return False
        asked = [v for v in (self.size, self.width, self.height) if v is not None]
        if not asked:
            return False
        return 0 not in asked and max(asked) <= preview_long_side


_OPTION_RE = re.compile(r"^([A-Za-z]+)(\d*)$")


def parse_options(raw: str) -> SizeOptions:
    """Options are ``-``-separated tokens; a second ``=`` group (``=mp2=s2048``) is rejected (400)."""
    if "=" in raw:
        raise BadOptions("more than one option group")
    opts = SizeOptions(raw=raw)
    if not raw:
        return opts
    for token in raw.split("-"):
        match = _OPTION_RE.match(token)
        if not match:
            raise BadOptions(f"bad option {token!r}")
        name, digits = match.group(1), match.group(2)
        number = int(digits) if digits else None
        if name == "s" and number is not None:
            opts.size = number
        elif name == "w" and number is not None:
            opts.width = number
        elif name == "h" and number is not None:
            opts.height = number
        elif name == "d" and number is None:
            opts.download = True
        elif name == "I" and number is None:
            opts.text_redirects = True
        elif name == "rj":
            opts.fmt = "JPEG"
        elif name == "rp":
            opts.fmt = "PNG"
        elif name == "rw":
            opts.fmt = "WEBP"
        elif name in ("s", "w", "h"):
            raise BadOptions(f"option {name!r} needs a number")
        # other FIFE flags (c, k, no, nu, p, v1, ...) do not change the fake's output
    return opts


def encode(img: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        img.convert("RGB").save(out, "JPEG", quality=88)
    elif fmt == "WEBP":
        img.save(out, "WEBP", quality=85)
    else:
        img.save(out, "PNG", compress_level=3)
    return out.getvalue()


CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
