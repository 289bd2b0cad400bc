"""Starting image jobs and waiting for them: what the views call.

Admission control happens before anything is written, so a refused request leaves nothing
behind; the job row and its input files are written together.
"""

from __future__ import annotations

import functools
import logging
import time
from datetime import timedelta
from typing import Callable

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from accounts import leasing
from accounts.models import AccountState
from api.errors import ApiError
from api.threads import run_sync
from gateway import prepared
from generation import jobs, outcomes
from generation.catalog import ModelSpec
from generation.models import ACTIVE_STATUSES, Generation, JobStatus
from generation.notify import job_finished
from generation.queueing import Pending, batch_memo, enqueue_later, write_gate
from generation.waiting import JobSnapshot, watcher

logger = logging.getLogger(__name__)

# Answer this long before the client's own read timeout, so it gets our error, not a timeout.
CLIENT_TIMEOUT_MARGIN = 2.0
OVERLOAD_RETRY_SECONDS = 2.0


def admit(spec: ModelSpec) -> bool:
    """Refuse at once when the pool cannot take the job: 429 with a hint, or 503 if it never can.
    True when the pool has a slot for every job in flight and one more (no job waits for one)."""
    capacity, inflight = _pool_load(spec)
    if inflight >= capacity + settings.MAX_QUEUE_BACKLOG:
        raise ApiError.rate_limited(
            f"The {spec.provider} pool is saturated ({inflight} jobs for {capacity} slots); retry shortly.",
            OVERLOAD_RETRY_SECONDS)
    return inflight < capacity


def _pool_load(spec: ModelSpec) -> tuple[int, int]:
    """(slots, jobs in flight) of the model's pool; read once per admission batch."""
    memo = batch_memo()
    key = _pool_key(spec)
    if memo is not None and key in memo:
        return memo[key]
    capacity, _used = leasing.pool_capacity(spec.provider, regions=spec.regions)
    if capacity == 0:
        wait = outcomes.recovery_seconds(spec.provider, spec.regions)
        if wait is not None:
            states = outcomes.recovering_states(spec.provider, regions=spec.regions)
            if states == {AccountState.EXHAUSTED}:
                why = "is out of credits"
            elif AccountState.EXHAUSTED in states:
                why = "is cooling down or out of credits"
            else:
                why = "is cooling down"
            raise ApiError.rate_limited(
                f"Every {spec.provider} account that can serve {spec.id} {why}; "
                f"the first is back in {int(wait)} s.", wait)
        raise ApiError.server_error(
            f"No usable {spec.provider} account can serve model {spec.id}. Add or re-import an account.",
            status=503, code="no_available_account")
    inflight = _inflight_counter(spec.provider).run_returning()
    if memo is not None:
        memo[key] = (capacity, inflight)
    return capacity, inflight


@functools.lru_cache(maxsize=32)
def _inflight_counter(provider: str) -> prepared.Statement:
    """Counts the provider's unfinished images and videos (they share its account slots); compiled
    once, as admissions run it while holding the write lock."""
    from videos.models import VideoTask

    return prepared.count(*(model.objects.filter(provider=provider, status__in=ACTIVE_STATUSES)
                            for model in (Generation, VideoTask)))


def _pool_key(spec: ModelSpec) -> tuple:
    """Models served by the same accounts share one entry of the batch memo."""
    return spec.provider, tuple(spec.regions or ())


def note_admitted(spec: ModelSpec) -> None:
    """One more job in flight for the rest of the batch (after its own savepoint committed)."""
    memo = batch_memo()
    key = _pool_key(spec)
    if memo is not None and key in memo:
        capacity, inflight = memo[key]
        memo[key] = (capacity, inflight + 1)


def create_job(**kwargs) -> Generation:
    """Admit, store the inputs and the job, and queue it once committed (see `plan_job`)."""
    return plan_job(**kwargs).commit()


def plan_job(*, api_key, spec: ModelSpec, kind: str, params: dict, inputs: list[tuple[bytes, str]] = (),
             timeout: float | None = None, idempotency_key: str = "", fingerprint: str = "",
             existing: Callable[[], Generation | None] | None = None) -> "PlannedJob":
    """A new job, its inputs stored, ready for `commit()` to admit and queue it. `existing`,
    when given, finds a job the request should join instead; it runs under the write lock, so
    of two identical requests admitted together the second joins the first."""
    if inputs:
        admit(spec)  # refuse before storing the inputs; without any, the check under the lock suffices
    now = timezone.now()
    job = Generation(api_key=api_key, provider=spec.provider, model=spec.id, kind=kind, params=params,
                     created_at=now, deadline_at=now + timedelta(seconds=timeout or settings.IMAGE_JOB_TIMEOUT),
                     idempotency_key=idempotency_key, request_fingerprint=fingerprint)
    saved: list[str] = []
    try:
        for index, (data, ext) in enumerate(inputs):
            saved.append(default_storage.save(f"inputs/{job.id}/input_{index}.{ext}", ContentFile(data)))
        job.inputs = saved
        job.enqueued_at = timezone.now()
        return PlannedJob(job, spec, existing, saved)
    except BaseException:
        _delete(saved)
        raise


class PlannedJob(Pending):
    """A job whose writes are compiled, waiting for its turn at the write lock."""

    def __init__(self, job: Generation, spec: ModelSpec, existing, saved: list[str]):
        self.job, self.spec, self.existing, self.saved = job, spec, existing, saved
        self._insert = prepared.insert([job])
        self._send = enqueue_later(job)

    def commit(self) -> Generation:
        try:
            with write_gate(), transaction.atomic():
                found = self.existing() if self.existing is not None else None
                if found is None:
                    leasing.lock_provider(self.spec.provider)
                    # Again, under the lock: a burst of requests must not all slip through.
                    room = admit(self.spec)
                    for statement in self._insert:
                        statement.run()
                    self._send()
                    if room:
                        self._reserve()
        except BaseException:
            self.abandon()
            raise
        if found is not None:
            self.abandon()
            return found
        note_admitted(self.spec)
        self.job._state.adding, self.job._state.db = False, self._insert[0].using  # as save() leaves it
        return self.job

    def _reserve(self) -> None:
        """The job's first account slot: its worker starts at once (see `leasing.reserve`).
        Only while no job waits for a slot (`admit`): a slot freed while older jobs wait is
        theirs, and with as many workers as slots, new jobs holding every slot while queued
        behind old ones whose workers wait for a slot would stall them all until their deadlines.
        Inside the admission's transaction, so a refused job holds none."""
        job = self.job
        ttl = leasing.lease_ttl(job.deadline_at.timestamp(), settings.LEASE_GRACE_SECONDS)
        leasing.reserve(job.provider, job.holder, ttl, token=job.pk, regions=self.spec.regions)

    def abandon(self) -> None:
        _delete(self.saved)


def _delete(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)


def expire_overdue(job_id) -> bool:
    """End a job whose deadline passed (its worker may be gone); frees its leases."""
    ended = Generation.objects.filter(pk=job_id, status__in=ACTIVE_STATUSES, deadline_at__lte=timezone.now()).exists()
    if not ended:
        return False
    if jobs.fail(job_id, code="timeout", message="The job did not finish before its deadline.", status=504):
        leasing.release_holder(f"gen:{job_id}")
        job_finished(job_id)
        return True
    return False


def client_wait_budget(request) -> float | None:
    raw = request.META.get("HTTP_X_STAINLESS_READ_TIMEOUT")
    try:
        return float(raw) - CLIENT_TIMEOUT_MARGIN if raw else None
    except ValueError:
        return None


async def wait_for(job, request, *, expire=None, since: int | None = None) -> JobSnapshot:
    """Hold the request until the job (a Generation or a VideoTask) ends; raise the envelope for
    failures and timeouts, carrying `x-gateway-job-id` as a success does, so an operator can find
    the failed job from a client's log. `since`: the watcher's `mark()` from before the job was
    admitted."""
    try:
        return await _wait_for(job, request, expire=expire, since=since)
    except ApiError as error:
        error.headers.setdefault("x-gateway-job-id", getattr(job, "public_id", None) or job.openai_id)
        raise


async def _wait_for(job, request, *, expire, since) -> JobSnapshot:
    expire = expire or expire_overdue
    budget = (job.deadline_at - timezone.now()).total_seconds()
    client_budget = client_wait_budget(request)
    if client_budget is not None:
        budget = min(budget, client_budget)
    started = time.monotonic()
    active = job.status in ACTIVE_STATUSES  # as admitted or joined; an ended job is read at once
    snap = await watcher().wait(job.holder, budget, since=since if active else None)
    if snap is None:
        if await run_sync(expire, job.pk):
            raise ApiError(504, "The generation did not finish before its deadline.", code="timeout",
                           type="server_error")
        # Ended in the last instant, or the client's timeout is shorter than the job's.
        snap = await watcher().wait(job.holder, 0.5)
        if snap is None:
            waited = int(time.monotonic() - started)
            raise ApiError(504, f"The generation is still running after {waited} s; it continues in the "
                                "background and a retry of the same request joins it.",
                           code="timeout", type="server_error")
    if snap.status == JobStatus.FAILED:
        # A pool that was rate-limited or out of credits: a 429 whose retry hint is read from the
        # accounts (off the event loop); anything else straight from the stored error.
        if outcomes.needs_recovery_time(snap.error_code):
            raise await run_sync(outcomes.snapshot_error, snap)
        raise outcomes.snapshot_error(snap, lookup=False)
    return snap
