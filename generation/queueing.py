"""Handing a job id to django-q2. Only the id travels: the task payload is pickled in clear."""

from __future__ import annotations

import asyncio
import threading
from contextlib import contextmanager

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_q.tasks import async_task

from generation.models import Generation

RUNNER = "generation.runner.run_generation"

_sqlite_writer = threading.Lock()


@contextmanager
def write_gate():
    """On SQLite, let one thread of this process at a time compete for the database's write lock.

    SQLite's busy handler retries with growing sleeps and no fairness: with a thousand requests
    arriving at once, some would wait past the lock timeout. Queuing them on a process lock
    first keeps every wait short and bounded. PostgreSQL needs no such help.
    """
    if connection.vendor == "sqlite":
        with _sqlite_writer:
            yield
    else:
        yield


_admission_gates: dict[int, "asyncio.Lock"] = {}


def admission_gate() -> "asyncio.Lock":
    """The async side of write_gate(): requests waiting to be admitted queue here, on the event
    loop, holding no thread, instead of each parking a thread on the SQLite lock."""
    import asyncio

    loop = asyncio.get_running_loop()
    gate = _admission_gates.get(id(loop))
    if gate is None:
        gate = _admission_gates[id(loop)] = asyncio.Lock()
    return gate


def dispatch(func: str, object_id: str, *, timeout: int, name: str) -> None:
    """Send a task for a row written in the current transaction.

    The ORM broker's queue row commits with that transaction, so workers see both at once and
    no extra write is needed; Redis is outside the database, so it waits for the commit.
    """
    def send():
        async_task(func, object_id, timeout=timeout, task_name=name)

    if settings.REDIS_URL:
        transaction.on_commit(send)
    else:
        send()


def enqueue(job: Generation, *, new: bool = False) -> None:
    """Queue the job; `new` jobs carry their enqueued_at already (saved in the same transaction)."""
    remaining = max(1, int((job.deadline_at - timezone.now()).total_seconds()))
    # The queue's own timeout is only a backstop behind the driver's deadline handling.
    timeout = remaining + settings.LEASE_GRACE_SECONDS
    if not new:
        Generation.objects.filter(pk=job.pk).update(enqueued_at=timezone.now())
    dispatch(RUNNER, str(job.pk), timeout=timeout, name=f"gen-{job.pk}")
