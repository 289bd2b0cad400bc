"""Storing a finished video and the thumbnail made from its first frame."""

from __future__ import annotations

import io
import logging

import av
from django.core.files.base import ContentFile
from PIL import Image

from generation.drivers.base import OutputFile
from videos.models import VideoAsset, VideoTask

logger = logging.getLogger(__name__)

THUMBNAIL_MAX = 640


def thumbnail(mp4: bytes) -> tuple[bytes, int, int, int, int] | None:
    """(jpeg, thumb width, thumb height, video width, video height) from the first frame."""
    try:
        with av.open(io.BytesIO(mp4)) as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                image = frame.to_image()
                break
            else:
                return None
    except (av.error.FFmpegError, IndexError, ValueError):
        logger.warning("could not decode a frame for the thumbnail", exc_info=True)
        return None
    width, height = image.size
    image.thumbnail((THUMBNAIL_MAX, THUMBNAIL_MAX), Image.LANCZOS)
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue(), image.width, image.height, width, height


def store_video(task: VideoTask, video: OutputFile) -> None:
    thumb = thumbnail(video.data)
    width, height = video.width, video.height
    if thumb is not None:
        data, tw, th, width, height = thumb
        VideoAsset.objects.filter(task=task, kind=VideoAsset.Kind.THUMBNAIL).delete()
        asset = VideoAsset(task=task, kind=VideoAsset.Kind.THUMBNAIL, mime="image/jpeg", width=tw, height=th,
                           size_bytes=len(data))
        asset.file.save("thumbnail.jpg", ContentFile(data), save=False)
        asset.save()
    VideoAsset.objects.filter(task=task, kind=VideoAsset.Kind.VIDEO).delete()
    asset = VideoAsset(task=task, kind=VideoAsset.Kind.VIDEO, mime=video.mime or "video/mp4", width=width,
                       height=height, size_bytes=len(video.data))
    asset.file.save("video.mp4", ContentFile(video.data), save=False)
    asset.save()
    if width and height and not task.size:
        VideoTask.objects.filter(pk=task.pk).update(size=f"{width}x{height}")
        task.size = f"{width}x{height}"


