"""Starting video tasks, shared by the three video surfaces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from accounts import leasing
from api import idempotency
from api.errors import ApiError
from generation import catalog
from generation.queueing import dispatch, write_gate
from generation.service import admit, note_admitted
from videos import tasks as task_states
from videos.models import ACTIVE_STATUSES, VideoTask

RUNNER = "videos.runner.run_video"

# Durations each model family accepts (jimeng-protocol.md §9); the first is the default.
SECONDS_BY_MODEL = {
    "jimeng-video-veo3": (8,),
    "jimeng-video-veo3.1": (8,),
    "jimeng-video-sora2": (4, 8, 12),
    "jimeng-video-3.5-pro": (5, 10, 12),
    "jimeng-video-seedance-2.0": tuple(range(5, 16)) + (4,),
    "jimeng-video-seedance-2.0-fast": tuple(range(5, 16)) + (4,),
}
DEFAULT_SECONDS = (5, 10)
VIDEO_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9")


@dataclass
class VideoRequest:
    prompt: str
    spec: catalog.ModelSpec
    requested_model: str
    seconds: int
    ratio: str
    resolution: str
    size: str = ""
    frames: list[tuple[bytes, str]] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def allowed_seconds(model_id: str) -> tuple[int, ...]:
    return SECONDS_BY_MODEL.get(model_id, DEFAULT_SECONDS)


def resolve_video_model(requested: str | None, api_key) -> catalog.ModelSpec:
    name = requested or settings.DEFAULT_VIDEO_MODEL
    spec = catalog.resolve(name, default=settings.DEFAULT_VIDEO_MODEL)
    if spec is None:
        # OpenAI's own video model names ask for "a video"; serve them with the default model.
        if name.startswith("sora"):
            spec = catalog.resolve(settings.DEFAULT_VIDEO_MODEL)
        if spec is None:
            raise ApiError(404, catalog.not_found_message(name), code="model_not_found", param="model")
    if not spec.can(catalog.VIDEO_GENERATE):
        raise ApiError.invalid(f"The model '{spec.id}' does not generate videos.", param="model",
                               code="unsupported_model")
    if api_key is not None and not api_key.may_use(spec.id):
        raise ApiError.forbidden(f"This API key may not use the model '{spec.id}'.", code="model_not_allowed",
                                 param="model")
    return spec


def check_seconds(spec: catalog.ModelSpec, seconds: int | None, param: str = "seconds", *,
                  nearest: bool = False) -> int:
    """The duration to make; `nearest` takes the closest the model makes instead of refusing
    (for OpenAI's own model names, whose SDK only allows 4, 8 or 12)."""
    allowed = allowed_seconds(spec.id)
    if seconds is None:
        return allowed[0]
    if seconds not in allowed and nearest:
        return min(allowed, key=lambda s: (abs(s - seconds), s))
    if seconds not in allowed:
        raise ApiError.invalid(f"{param}: {spec.id} makes videos of {', '.join(map(str, sorted(allowed)))} seconds.",
                               param=param)
    return seconds


def fingerprint_of(api_key, path: str, req: VideoRequest) -> str:
    fields = {"model": req.spec.id, "prompt": req.prompt, "seconds": req.seconds, "ratio": req.ratio,
              "resolution": req.resolution, **req.extra}
    return idempotency.fingerprint(api_key, path, fields, [data for data, _ext in req.frames])


def start(request, req: VideoRequest, *, remixed_from: VideoTask | None = None) -> VideoTask:
    """Join an identical earlier request (idempotency) or create and queue a new task."""
    api_key = request.user
    fp = fingerprint_of(api_key, request.path, req)
    existing = idempotency.find_existing(VideoTask, request, api_key, fp)
    if existing is not None:
        return existing
    return create_task(api_key, req, idempotency_key=idempotency.idempotency_key(request), fingerprint=fp,
                       remixed_from=remixed_from)


def create_task(api_key, req: VideoRequest, *, idempotency_key: str = "", fingerprint: str = "",
                remixed_from: VideoTask | None = None, timeout: float | None = None) -> VideoTask:
    admit(req.spec)
    now = timezone.now()
    task = VideoTask(
        api_key=api_key, provider=req.spec.provider, model=req.spec.id, requested_model=req.requested_model,
        prompt=req.prompt, seconds=str(req.seconds), size=req.size, remixed_from=remixed_from,
        params={"seconds": req.seconds, "ratio": req.ratio, "resolution": req.resolution, **req.extra},
        created_at=now, deadline_at=now + timedelta(seconds=timeout or settings.VIDEO_JOB_TIMEOUT),
        idempotency_key=idempotency_key, request_fingerprint=fingerprint,
    )
    saved: list[str] = []
    try:
        for index, (data, ext) in enumerate(req.frames):
            saved.append(default_storage.save(f"inputs/{task.id}/frame_{index}.{ext}", ContentFile(data)))
        task.inputs = saved
        task.enqueued_at = timezone.now()
        with write_gate(), transaction.atomic():
            leasing.lock_provider(req.spec.provider)
            admit(req.spec)
            task.save(force_insert=True)
            enqueue(task, new=True)
        note_admitted(req.spec)
    except BaseException:
        for name in saved:
            default_storage.delete(name)
        raise
    return task


def enqueue(task: VideoTask, *, new: bool = False) -> None:
    remaining = max(1, int((task.deadline_at - timezone.now()).total_seconds()))
    if not new:
        VideoTask.objects.filter(pk=task.pk).update(enqueued_at=timezone.now())
    dispatch(RUNNER, str(task.pk), timeout=remaining + settings.LEASE_GRACE_SECONDS, name=f"video-{task.pk}")


def expire_overdue(task_id) -> bool:
    overdue = VideoTask.objects.filter(pk=task_id, status__in=ACTIVE_STATUSES, deadline_at__lte=timezone.now())
    if not overdue.exists():
        return False
    if task_states.fail(task_id, code="timeout", message="The video did not finish before its deadline.",
                        status=504):
        leasing.release_holder(f"vid:{task_id}")
        return True
    return False
