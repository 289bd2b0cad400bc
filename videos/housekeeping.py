"""Video tasks' share of the reaper and cleanup."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts import leasing
from videos import service, tasks
from videos.models import JobStatus, VideoTask, WebhookDelivery

logger = logging.getLogger(__name__)

# Resuming a video only polls what was already paid for, so it may happen a few times.
MAX_DELIVERIES = 5


def reap() -> dict:
    now = timezone.now()
    counts = {"timed_out": 0, "resumed": 0, "redelivered": 0}
    for task_id in VideoTask.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING),
                                            deadline_at__lte=now).values_list("pk", flat=True):
        if tasks.fail(task_id, code="timeout", message="The video did not finish before its deadline.", status=504):
            leasing.release_holder(f"vid:{task_id}")
            counts["timed_out"] += 1

    stale = now - timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS)
    for task in VideoTask.objects.filter(status=JobStatus.RUNNING, deadline_at__gt=now).filter(
            Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, started_at__lt=stale)):
        leasing.release_holder(task.holder)
        if task.deliveries < MAX_DELIVERIES and tasks.requeue(task):
            service.enqueue(task)
            counts["resumed"] += 1
        elif tasks.fail(task.pk, code="worker_lost", message="The worker running this video stopped.", status=502):
            counts["timed_out"] += 1

    lost = now - timedelta(seconds=settings.QUEUED_REDELIVER_SECONDS)
    for task in VideoTask.objects.filter(status=JobStatus.QUEUED, enqueued_at__lt=lost, deadline_at__gt=now):
        service.enqueue(task)
        counts["redelivered"] += 1
    if any(counts.values()):
        logger.info("video reaper: %s", counts)
    return counts


def cleanup(cutoff, *, dry_run: bool = False) -> dict:
    old = VideoTask.objects.filter(created_at__lt=cutoff, status__in=(JobStatus.SUCCEEDED, JobStatus.FAILED))
    counts = {"videos": old.count()}
    if dry_run:
        return counts
    old.delete()  # their files go once the delete commits (generation.files_cleanup)
    WebhookDelivery.objects.filter(created_at__lt=cutoff).exclude(status=WebhookDelivery.Status.PENDING).delete()
    return counts
