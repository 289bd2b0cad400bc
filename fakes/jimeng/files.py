"""The result CDN: signed image paths and video paths answered with real bytes."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from . import cdn, envelope, inject, media
from . import protocol as p
from .records import video_dims


def is_cdn_path(path: str) -> bool:
    return bool(cdn.IMAGE_PATH_RE.match(path) or cdn.VIDEO_PATH_RE.match(path))


def _inputs(state, uris) -> tuple[bytes, ...]:
    found = []
    for uri in uris or ():
        slot = state.uploads.by_uri.get(uri) if uri else None
        if slot is not None and slot.data is not None:
            found.append(slot.data)
    return tuple(found)


def image_spec(state, job, index: int) -> media.ImageSpec:
    """What result image `index` of `job` shows (call with state.lock held)."""
    inputs = _inputs(state, job.input_uris if job.kind == "blend" else ())
    return media.ImageSpec(job.text, index, job.count, job.history_id, inputs)


def prerender(state, job) -> None:
    """Start rendering the job's first result image, at the size and format its URL will name."""
    with state.lock:
        key = (image_spec(state, job, 0), job.width, job.height, state.config.image_format)
    state.images.prepare(key)


def handle(request: Request, state, now: float) -> Response:
    path = request.path
    image, video = cdn.IMAGE_PATH_RE.match(path), cdn.VIDEO_PATH_RE.match(path)
    match = image or video
    taken = state.failures.take("cdn", None)
    if taken is not None:
        if taken[0].name == "cdn_expired":
            return envelope.html(403, "injected cdn_expired")
        inject.apply(taken[0], taken[1], "cdn", None, state.config.slow_seconds, "cdn")
    refused = state.signer.check(path, request.args, now)
    if refused:
        return envelope.html(403, refused)
    with state.lock:
        found = state.assets.get(match.group("asset"))
        job = state.jobs.get(found[0]) if found else None
        if job is None:
            return envelope.html(404, "unknown CDN object")
        index = found[1]
        if image:
            spec = image_spec(state, job, index)
        else:
            frames = _inputs(state, [job.video.get("first_uri")]), \
                _inputs(state, [job.video.get("end_uri")])
            spec = media.VideoSpec(job.text, job.history_id,
                                   frames[0][0] if frames[0] else None,
                                   frames[1][0] if frames[1] else None)
    if image:
        width, height, ext = int(image.group("w")), int(image.group("h")), image.group("ext")
        if not (0 < width <= p.MAX_IMAGE_SIDE and 0 < height <= p.MAX_IMAGE_SIDE):
            return envelope.html(404, "size out of range")
        body, mimetype = state.images.get((spec, width, height, ext)), media.MIME[ext]
    else:
        width, height = video_dims(job, video.group("variant") == "origin")
        body, mimetype = media.render_mp4(spec, width, height), "video/mp4"
    response = Response(body, mimetype=mimetype)
    response.headers["Cache-Control"] = "max-age=2592000"
    return response.make_conditional(request, accept_ranges=True, complete_length=len(body))
