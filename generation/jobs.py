"""Status transitions of a Generation. Every transition is a compare-and-swap UPDATE, so a
duplicate delivery, a reaper and a worker racing for the same job cannot both win."""

from __future__ import annotations

import os
import socket

from django.db.models import F
from django.utils import timezone

from gateway.redaction import redact
from generation.models import ACTIVE_STATUSES, Generation, JobStatus


def claim(job_id) -> Generation | None:
    """queued → running for exactly one worker; None for a duplicate or a finished job."""
    now = timezone.now()
    won = Generation.objects.filter(pk=job_id, status=JobStatus.QUEUED, deadline_at__gt=now).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, deliveries=F("deliveries") + 1,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    if not won:
        return None
    return Generation.objects.get(pk=job_id)


def still_running(job_id) -> bool:
    return Generation.objects.filter(pk=job_id, status=JobStatus.RUNNING).exists()


def beat(job_id) -> None:
    Generation.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(heartbeat_at=timezone.now())


def succeed(job_id, *, account_id=None, meta=None) -> bool:
    fields = dict(status=JobStatus.SUCCEEDED, finished_at=timezone.now(), error_code="", error_message="")
    if meta is not None:
        fields["result_meta"] = meta
    if account_id is not None:
        fields["account_id"] = account_id
    return bool(Generation.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(**fields))


def fail(job_id, *, code: str, message: str, status: int = 502, param: str = "") -> bool:
    """Any active job → failed. False when it had already ended (its first ending stands)."""
    return bool(
        Generation.objects.filter(pk=job_id, status__in=ACTIVE_STATUSES).update(
            status=JobStatus.FAILED, finished_at=timezone.now(), error_code=code,
            error_message=(redact(message) or "")[:4000], error_status=status, error_param=param or "",
        )
    )


def requeue(job: Generation) -> bool:
    """running → queued, for a job whose worker vanished while time remains.

    The account of the interrupted attempt did nothing wrong, so it may be tried again.
    """
    return bool(
        Generation.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.QUEUED, heartbeat_at=None, enqueued_at=timezone.now(),
            tried_accounts=list(job.tried_accounts)[:-1],
        )
    )
