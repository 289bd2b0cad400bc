"""Periodic repairs, run as django-q2 schedules: every job ends, every lease comes back,
and old files go."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts import leasing
from generation import jobs
from generation.models import FailureArtifact, GeneratedFile, Generation, JobStatus
from generation.notify import job_finished
from generation.queueing import enqueue

logger = logging.getLogger(__name__)

MAX_DELIVERIES = 2


def reap() -> dict:
    """Leases of dead workers return; overdue jobs fail; orphaned jobs run again while time remains."""
    now = timezone.now()
    counts = {"leases": 0, "timed_out": 0, "requeued": 0, "redelivered": 0}

    for job_id in Generation.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING),
                                            deadline_at__lte=now).values_list("pk", flat=True):
        if jobs.fail(job_id, code="timeout", message="The job did not finish before its deadline.", status=504):
            leasing.release_holder(f"gen:{job_id}")
            job_finished(job_id)
            counts["timed_out"] += 1

    # A running job without a heartbeat lost its worker (SIGKILL, OOM, machine gone).
    stale = now - timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS)
    for job in Generation.objects.filter(status=JobStatus.RUNNING, deadline_at__gt=now).filter(
            Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, started_at__lt=stale)):
        leasing.release_holder(job.holder)
        if job.deliveries < MAX_DELIVERIES and jobs.requeue(job):
            enqueue(job)
            counts["requeued"] += 1
        elif jobs.fail(job.pk, code="worker_lost", message="The worker running this job stopped.", status=502):
            job_finished(job.pk)
            counts["timed_out"] += 1

    # The Redis broker delivers at most once: a queued job nobody picked up is sent again.
    # A duplicate is harmless, the worker's claim lets only one run it.
    lost = now - timedelta(seconds=settings.QUEUED_REDELIVER_SECONDS)
    for job in Generation.objects.filter(status=JobStatus.QUEUED, enqueued_at__lt=lost, deadline_at__gt=now):
        enqueue(job)
        counts["redelivered"] += 1

    from videos import housekeeping as video_housekeeping

    counts.update({f"video_{k}": v for k, v in video_housekeeping.reap().items()})
    counts["leases"] = leasing.reap_expired()
    if any(counts.values()):
        logger.info("reaper: %s", counts)
    return counts


def cleanup(hours: float | None = None, *, dry_run: bool = False) -> dict:
    """Delete result files, artifacts and ended jobs older than `hours` (default CLEANUP_HOURS)."""
    hours = settings.CLEANUP_HOURS if hours is None else hours
    cutoff = timezone.now() - timedelta(hours=hours)
    old_jobs = Generation.objects.filter(created_at__lt=cutoff, status__in=(JobStatus.SUCCEEDED, JobStatus.FAILED))
    files = GeneratedFile.objects.filter(job__in=old_jobs)
    artifacts = FailureArtifact.objects.filter(job__in=old_jobs)
    from videos import housekeeping as video_housekeeping

    counts = {"jobs": old_jobs.count(), "files": files.count() + artifacts.count()}
    counts.update(video_housekeeping.cleanup(cutoff, dry_run=dry_run))
    if dry_run:
        return counts
    old_jobs.delete()  # their files go once the delete commits (generation.files_cleanup)
    _prune_queue_history(cutoff)
    logger.info("cleanup older than %s h: %s", hours, counts)
    return counts


def _prune_queue_history(cutoff) -> None:
    from django_q.models import Task

    Task.objects.filter(stopped__lt=cutoff).delete()
