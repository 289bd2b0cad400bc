"""Writing result files and failure artifacts into the gateway's own storage."""

from __future__ import annotations

import hashlib
import io

from django.core.files.base import ContentFile
from PIL import Image

from generation import formats
from generation.drivers.base import Artifact, OutputFile
from generation.models import FailureArtifact, GeneratedFile, Generation

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif",
              "video/mp4": "mp4"}


def _image_size(data: bytes) -> tuple[int | None, int | None]:
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except Exception:
        return None, None


def write_output(job: Generation, output: OutputFile, index: int) -> GeneratedFile:
    """The file written to storage, its row not yet saved: the runner inserts the rows in the
    transaction that ends the job, so a job is never seen ended without its files. An image is
    first re-encoded in the format the job asked for, if it came in another."""
    fmt, compression = formats.wanted(job.params)
    if output.kind == "image" and formats.needs_conversion(output.mime, fmt, compression):
        data, mime = formats.convert(output.data, fmt, compression)
        output = OutputFile(data=data, mime=mime, width=output.width, height=output.height, kind=output.kind)
    width, height = output.width, output.height
    if output.kind in ("image", "thumbnail") and (width is None or height is None):
        width, height = _image_size(output.data)
    ext = EXTENSIONS.get(output.mime, "bin")
    record = GeneratedFile(job=job, kind=output.kind, index=index, mime=output.mime, width=width, height=height,
                           size_bytes=len(output.data), sha256=hashlib.sha256(output.data).hexdigest())
    record.file.save(f"{output.kind}_{index}.{ext}", ContentFile(output.data), save=False)
    return record


def store_artifact(job: Generation, artifact: Artifact, *, attempt: int, account_name: str) -> FailureArtifact:
    record = FailureArtifact(job=job, kind=artifact.kind, attempt=attempt, account_name=account_name)
    record.file.save(f"attempt{attempt}_{artifact.name}", ContentFile(artifact.data), save=False)
    record.save()
    return record
