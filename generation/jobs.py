"""Status transitions of a Generation. Every transition is a compare-and-swap UPDATE, so a
duplicate delivery, a reaper and a worker racing for the same job cannot both win."""

from __future__ import annotations

import functools
import os
import socket

from django.utils import timezone

from gateway import prepared
from gateway.redaction import redact
from generation.models import ACTIVE_STATUSES, Generation, JobStatus


def claimable(job_id) -> Generation | None:
    """The job as a worker may take it (queued, before its deadline); None for a duplicate
    delivery or a job that already ended, found without a write."""
    return _claimable().first(job_id=job_id, now=timezone.now())


@functools.lru_cache(maxsize=1)
def _claimable() -> prepared.Loader:
    """Compiled once per process: every job's first read."""
    return prepared.Loader(
        lambda job_id, now: Generation.objects.filter(pk=job_id, status=JobStatus.QUEUED, deadline_at__gt=now),
        {"job_id": Generation._meta.pk, "now": Generation._meta.get_field("deadline_at")})


def claim(job: Generation, *, account_id=None) -> bool:
    """queued → running for exactly one worker, as `claimable` read it; updates `job` in place.

    With `account_id` (a slot leased in the same transaction) the first attempt is recorded in
    the same statement. The CAS includes `deliveries`, so a job claimed and requeued since it was
    read is not taken with stale fields.
    """
    fields = _claim_fields(job, account_id=account_id)
    values = dict(job_id=job.pk, was=job.deliveries, now=fields["started_at"], deliveries=fields["deliveries"],
                  worker=fields["worker"])
    if account_id is not None:
        values.update(account_id=account_id, attempts=fields["attempts"], tried=fields["tried_accounts"])
    won = _claimer(account_id is not None).bind(**values).run()
    if won:
        for name, value in fields.items():
            setattr(job, name, value)
    return bool(won)


@functools.lru_cache(maxsize=2)
def _claimer(with_attempt: bool) -> prepared.Template:
    """The claim statement, compiled once per process: it runs inside the lease's transaction,
    where compiling would keep every other writer waiting (see prepared.Template)."""
    field = Generation._meta.get_field
    fields = {"job_id": Generation._meta.pk, "was": field("deliveries"), "now": field("started_at"),
              "deliveries": field("deliveries"), "worker": field("worker")}
    if with_attempt:
        fields.update(account_id=field("account").target_field, attempts=field("attempts"),
                      tried=field("tried_accounts"))

    def build(job_id, was, now, deliveries, worker, account_id=None, attempts=None, tried=None):
        update = dict(status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, deliveries=deliveries, worker=worker)
        if with_attempt:
            update.update(account_id=account_id, attempts=attempts, tried_accounts=tried)
        return prepared.update(Generation.objects.filter(pk=job_id, status=JobStatus.QUEUED, deadline_at__gt=now,
                                                         deliveries=was), **update)
    return prepared.Template(build, fields)


def _claim_fields(job: Generation, *, account_id=None) -> dict:
    now = timezone.now()
    fields = dict(status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, deliveries=job.deliveries + 1,
                  worker=f"{socket.gethostname()}:{os.getpid()}")
    if account_id is not None:
        fields.update(_attempt_fields(job, account_id))
    return fields


def start_attempt(job: Generation, account_id) -> bool:
    """Record the next attempt (on `account_id`) of a job that is still running; False when it
    ended meanwhile (deadline reaper, client gone past its deadline, row deleted)."""
    return _update_if(Generation.objects.filter(pk=job.pk, status=JobStatus.RUNNING), job,
                      _attempt_fields(job, account_id))


def _update_if(rows, job: Generation, fields: dict) -> bool:
    """The CAS: write `fields` if `rows` still matches, and mirror them on `job` when it did."""
    won = rows.update(**fields)
    if won:
        for name, value in fields.items():
            setattr(job, name, value)
    return bool(won)


def _attempt_fields(job: Generation, account_id) -> dict:
    tried = list(job.tried_accounts) + [account_id]
    return dict(account_id=account_id, attempts=len(tried), tried_accounts=tried)


def beat(job_id) -> None:
    Generation.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(heartbeat_at=timezone.now())


def warm_up() -> None:
    """Compile the claim and success statements of every shape (a new worker does this before
    its first job)."""
    for flag in (False, True):
        _claimer(flag)
        for other in (False, True):
            _success(flag, other)


def succeed_ahead(job_id, *, account_id=None, meta=None) -> prepared.Statement:
    """running → succeeded, ready now to run later (under the write gate): its row count says
    whether this ending won."""
    values = dict(job_id=job_id, now=timezone.now())
    if meta is not None:
        values["meta"] = meta
    if account_id is not None:
        values["account_id"] = account_id
    return _success(meta is not None, account_id is not None).bind(**values)


@functools.lru_cache(maxsize=4)
def _success(with_meta: bool, with_account: bool) -> prepared.Template:
    """The success statement of one shape, compiled once per process (see prepared.Template)."""
    fields = {"job_id": Generation._meta.pk, "now": Generation._meta.get_field("finished_at")}
    if with_meta:
        fields["meta"] = Generation._meta.get_field("result_meta")
    if with_account:
        fields["account_id"] = Generation._meta.get_field("account").target_field

    def build(job_id, now, meta=None, account_id=None):
        update = dict(status=JobStatus.SUCCEEDED, finished_at=now, error_code="", error_message="")
        if with_meta:
            update["result_meta"] = meta
        if with_account:
            update["account_id"] = account_id
        return prepared.update(Generation.objects.filter(pk=job_id, status=JobStatus.RUNNING), **update)
    return prepared.Template(build, fields)


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
