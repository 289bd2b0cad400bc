"""Re-encoding a result into the requested `output_format` (generation.formats)."""

import io

from PIL import Image

from generation import formats


def encoded(mode="RGBA", fmt="PNG", color=(255, 0, 0, 0)):
    buf = io.BytesIO()
    Image.new(mode, (40, 30), color if mode == "RGBA" else color[:3]).save(buf, fmt)
    return buf.getvalue()


def test_transparent_pixels_become_white_in_jpeg():
    data, mime = formats.convert(encoded(), "jpeg", None)
    assert mime == "image/jpeg"
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG" and img.size == (40, 30)
        assert all(channel > 245 for channel in img.getpixel((5, 5)))


def test_webp_to_png_keeps_alpha():
    data, mime = formats.convert(encoded(fmt="WEBP", color=(0, 0, 255, 40)), "png", None)
    with Image.open(io.BytesIO(data)) as img:
        assert mime == "image/png" and img.format == "PNG" and img.mode == "RGBA"
        assert img.getpixel((1, 1))[3] < 80


def test_conversion_only_when_it_changes_something():
    assert not formats.needs_conversion("image/png", None, 50)
    assert not formats.needs_conversion("image/png", "png", 50)  # lossless: compression means nothing
    assert formats.needs_conversion("image/webp", "png", None)
    assert formats.needs_conversion("image/jpeg", "jpeg", 40)
    assert not formats.needs_conversion("image/jpeg", "jpeg", None)
    assert formats.wanted({"output_format": "gif"}) == (None, None)
