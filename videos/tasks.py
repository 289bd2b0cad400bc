"""Status transitions of a VideoTask (compare-and-swap, like generation.jobs for images)."""

from __future__ import annotations

import os
import socket

from django.db.models import F
from django.utils import timezone

from gateway.redaction import redact
from generation.drivers.base import DriverError
from generation.notify import job_finished
from videos.models import ACTIVE_STATUSES, JobStatus, VideoTask


def claim(task_id) -> VideoTask | None:
    now = timezone.now()
    won = VideoTask.objects.filter(pk=task_id, status=JobStatus.QUEUED, deadline_at__gt=now).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, deliveries=F("deliveries") + 1,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    return VideoTask.objects.get(pk=task_id) if won else None


def beat(task_id) -> None:
    VideoTask.objects.filter(pk=task_id, status=JobStatus.RUNNING).update(heartbeat_at=timezone.now())


def progress(task: VideoTask, value: int, meta: dict | None = None) -> bool:
    """Record progress; False when the task is no longer running (ended by the reaper, deleted)."""
    value = max(0, min(100, int(value)))
    fields = {"progress": value, "heartbeat_at": timezone.now()}
    if meta is not None:
        fields["result_meta"] = meta
    task.progress = value
    return bool(VideoTask.objects.filter(pk=task.pk, status=JobStatus.RUNNING).update(**fields))


def succeed(task: VideoTask) -> bool:
    won = bool(VideoTask.objects.filter(pk=task.pk, status=JobStatus.RUNNING).update(
        status=JobStatus.SUCCEEDED, progress=100, completed_at=timezone.now(), error_code="", error_message=""))
    if won:
        _ended(task.pk, "video.completed")
    return won


def fail(task_id, *, code: str, message: str, status: int = 502) -> bool:
    won = bool(VideoTask.objects.filter(pk=task_id, status__in=ACTIVE_STATUSES).update(
        status=JobStatus.FAILED, completed_at=timezone.now(), error_code=code,
        error_message=(redact(message) or "")[:4000], error_status=status))
    if won:
        _ended(task_id, "video.failed")
    return won


def end(task: VideoTask, err: DriverError) -> bool:
    return fail(task.pk, code=err.code, message=err.message, status=err.status)


def requeue(task: VideoTask) -> bool:
    """running → queued after its worker vanished; upstream id and account are kept."""
    return bool(VideoTask.objects.filter(pk=task.pk, status=JobStatus.RUNNING).update(
        status=JobStatus.QUEUED, heartbeat_at=None, enqueued_at=timezone.now()))


def _ended(task_id, event_type: str) -> None:
    from videos.webhooks import queue_event

    job_finished(task_id)
    queue_event(task_id, event_type)
