"""Real image and MP4 bytes for the fake CDN, and probes for uploaded files.

Pictures are deterministic in their spec: the background colour comes from the
prompt hash and the prompt text is drawn on them, so tests can tell results apart.
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
import io
import textwrap
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from . import protocol

FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}
MIME = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "webp": "image/webp"}


@dataclass(frozen=True)
class ImageSpec:
    prompt: str
    index: int = 0
    count: int = 1
    label: str = ""
    inputs: tuple[bytes, ...] = ()  # blend sources, shown as thumbnails


@dataclass(frozen=True)
class VideoSpec:
    prompt: str
    label: str = ""
    first_frame: bytes | None = None
    end_frame: bytes | None = None


def prompt_colour(prompt: str, index: int = 0) -> tuple[int, int, int]:
    digest = hashlib.sha256(prompt.encode()).digest()
    hue = (digest[0] / 255 + index * 0.07) % 1.0
    sat = 0.55 + digest[1] / 255 * 0.35
    val = 0.45 + digest[2] / 255 * 0.35
    return tuple(round(c * 255) for c in colorsys.hsv_to_rgb(hue, sat, val))


@functools.lru_cache(maxsize=32)
def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: fixed bitmap font
        return ImageFont.load_default()


def _open(data: bytes) -> Image.Image | None:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        return image.convert("RGB")
    except Exception:
        return None


def _cover(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale and centre-crop to exactly width x height."""
    scale = max(width / image.width, height / image.height)
    resized = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    left, top = (resized.width - width) // 2, (resized.height - height) // 2
    return resized.crop((left, top, left + width, top + height))


def _card(prompt: str, width: int, height: int, index: int, footer: str) -> Image.Image:
    image = Image.new("RGB", (width, height), prompt_colour(prompt, index))
    draw = ImageDraw.Draw(image)
    size = max(10, min(width, height) // 14)
    font = _font(size)
    chars = max(8, int(width / (size * 0.55)) - 2)
    lines = textwrap.wrap(prompt or "(empty prompt)", chars)[: max(1, height // (size * 2))]
    y = max(4, height // 8)
    for line in lines:
        draw.text((max(4, width // 20), y), line, fill=(255, 255, 255), font=font)
        y += int(size * 1.25)
    small = _font(max(8, size // 2))
    draw.text((max(4, width // 20), height - max(12, size)), footer, fill=(235, 235, 235),
              font=small)
    return image


def render_image(spec: ImageSpec, width: int, height: int, fmt: str = "png") -> bytes:
    footer = f"{spec.index + 1}/{spec.count} {width}x{height} {spec.label}"
    image = _card(spec.prompt, width, height, spec.index, footer)
    if spec.inputs:
        thumb = max(8, min(width // (len(spec.inputs) + 1), height // 4))
        for i, data in enumerate(spec.inputs):
            source = _open(data)
            if source is not None:
                x = max(2, width // 20) + i * (thumb + 4)
                if x + thumb <= width:
                    image.paste(_cover(source, thumb, thumb), (x, height // 2))
    out = io.BytesIO()
    fmt = fmt.lower()
    if fmt == "png":
        info = PngImagePlugin.PngInfo()
        info.add_text("prompt", spec.prompt)
        info.add_text("label", spec.label)
        info.add_text("index", str(spec.index))
        image.save(out, "PNG", pnginfo=info, compress_level=1)
    elif fmt == "webp":
        image.save(out, "WEBP", quality=80, method=0)
    else:
        image.save(out, "JPEG", quality=85)
    return out.getvalue()


@functools.lru_cache(maxsize=16)
def render_mp4(spec: VideoSpec, width: int, height: int) -> bytes:
    import av  # only the video paths need PyAV

    card = _card(spec.prompt, width, height, 0, spec.label)
    first = _open(spec.first_frame) if spec.first_frame else None
    end = _open(spec.end_frame) if spec.end_frame else None
    start_image = _cover(first, width, height) if first else card
    end_image = _cover(end, width, height) if end else card

    out = io.BytesIO()
    container = av.open(out, mode="w", format="mp4")
    stream = container.add_stream("h264", rate=protocol.VIDEO_FPS)
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p"
    stream.options = {"preset": "ultrafast"}
    frames = protocol.VIDEO_FRAMES
    for i in range(frames):
        t = i / (frames - 1)
        frame = Image.blend(start_image, end_image, t) if (first or end) else card.copy()
        draw = ImageDraw.Draw(frame)
        bar = max(4, width // 10)
        x = round(t * (width - bar))
        draw.rectangle((x, height - bar // 2, x + bar, height - 1), fill=(255, 255, 255))
        for packet in stream.encode(av.VideoFrame.from_image(frame)):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return out.getvalue()


def probe_image(data: bytes) -> dict | None:
    try:
        image = Image.open(io.BytesIO(data))
        image.verify()
    except Exception:
        return None
    frames = getattr(image, "n_frames", 1)
    return {"width": image.width, "height": image.height,
            "format": (image.format or "").lower(), "frames": frames}


def probe_video(data: bytes) -> dict | None:
    try:
        import av

        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            duration = (container.duration or 0) / 1_000_000
            if not duration and stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            return {"width": stream.width, "height": stream.height,
                    "duration": round(duration, 3), "codec": stream.codec_context.name,
                    "format": "mp4", "bitrate": container.bit_rate or 0}
    except Exception:
        return None
