"""Handing a job id to django-q2. Only the id travels: the task payload is pickled in clear."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from generation.models import Generation

RUNNER = "generation.runner.run_generation"


def _send(job_id: str, timeout: int) -> None:
    async_task(RUNNER, job_id, timeout=timeout, task_name=f"gen-{job_id}")


def enqueue(job: Generation) -> None:
    """Queue the job once the surrounding transaction commits (workers must see the row)."""
    remaining = max(1, int((job.deadline_at - timezone.now()).total_seconds()))
    # The queue's own timeout is only a backstop behind the driver's deadline handling.
    timeout = remaining + settings.LEASE_GRACE_SECONDS
    job_id = str(job.pk)
    Generation.objects.filter(pk=job.pk).update(enqueued_at=timezone.now())
    transaction.on_commit(lambda: _send(job_id, timeout))
