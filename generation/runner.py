"""What a django-q2 worker runs for an image job: claim it, lease an account, call the driver,
record the outcome, and move to another account when the failure was the account's.

The task never raises for a domain failure: the outcome lives on the Generation row. The one
exception is django-q2's own timeout (a SystemExit), which is recorded and then re-raised so the
cluster recycles the worker as it expects.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import close_old_connections, transaction

from accounts import leasing
from accounts.models import Account
from generation import catalog, jobs, outcomes
from generation.drivers import get_driver
from generation.drivers.base import DeadlineExceeded, DriverError, DriverTask, UpstreamFailure, account_secrets
from generation.heartbeats import Heartbeat
from generation.models import Generation
from generation.notify import job_finished
from generation.queueing import write_gate
from generation.storage import store_artifact, write_output
from gateway import prepared
from gateway.redaction import redact, redact_obj

logger = logging.getLogger(__name__)


def run_generation(job_id: str) -> str:
    close_old_connections()
    job, spec, lease = _claim(job_id)
    if job is None:
        return "skipped"  # duplicate delivery, or the job already ended
    try:
        with Heartbeat(job.pk):
            outcome = _run(job, spec, lease)
    except BaseException as exc:  # django-q2's TimeoutException is a SystemExit
        _end(job, DeadlineExceeded(f"The job was stopped by the worker ({type(exc).__name__})."))
        leasing.release_holder(job.holder)
        raise
    return outcome


def warm_up(providers) -> None:
    """Build a job's claim and success statements once, running nothing that writes (the ids
    match no row). A process's first build of a query shape fills Django's caches and costs
    ~10–20 ms, which a new worker pays here rather than on its first job's time."""
    nil = uuid.UUID(int=0)
    jobs.claimable(nil)
    _account_loader().first(account_id=0)
    jobs.warm_up()
    for provider, regions in {(spec.provider, spec.regions) for spec in catalog.all_models().values()}:
        if provider in providers:
            leasing.warm_up(provider, regions)  # a job's first lease, for each of its model's regions


def _claim(job_id):
    """Claim the job and, in the same transaction, lease its first account when one is free:
    (job, spec, lease or None), or (None, None, None) when this delivery is not the one to run it."""
    job = jobs.claimable(job_id)
    if job is None:
        return None, None, None
    spec = catalog.resolve(job.model)
    deadline = job.deadline_at.timestamp()

    def claim_with(account_id):
        if not jobs.claim(job, account_id=account_id):
            raise _Lost  # undoes the slot with the lost claim

    lease = None
    try:
        reserved = leasing.reserved(job.pk, job.holder, gate=write_gate)
        if reserved is not None:
            # Leased at admission: the claim records the attempt, a single write.
            with write_gate():
                claim_with(reserved.account_id)
            lease = reserved
        elif spec is not None and len(job.tried_accounts) < settings.JOB_MAX_ATTEMPTS and time.time() < deadline:
            lease = leasing.acquire(job.provider, job.holder,
                                    leasing.lease_ttl(deadline, settings.LEASE_GRACE_SECONDS),
                                    regions=spec.regions, exclude_ids=job.tried_accounts, bind=claim_with,
                                    gate=write_gate)
        if lease is None:
            with write_gate():
                claim_with(None)  # no free account now: the job waits for one, claimed
    except _Lost:
        return None, None, None
    return job, spec, lease


def _account(account_id) -> Account:
    account = _account_loader().first(account_id=account_id)
    if account is None:
        raise Account.DoesNotExist(f"Account {account_id} was deleted while its slot was held.")
    return account


@functools.lru_cache(maxsize=1)
def _account_loader() -> prepared.Loader:
    """Compiled once per process: every attempt reads its account."""
    return prepared.Loader(lambda account_id: Account.objects.filter(pk=account_id),
                           {"account_id": Account._meta.pk})


class _Lost(Exception):
    """Another delivery claimed the job first."""


class _Ended(Exception):
    """The job ended while its worker waited for an account."""


def _run(job: Generation, spec, lease) -> str:
    if spec is None:
        _end(job, DriverError(f"Model {job.model!r} is no longer configured.", code="model_not_found", status=400))
        if lease is not None:  # reserved at admission
            _release(lease)
        return "failed"
    driver = get_driver(job.provider)
    deadline = job.deadline_at.timestamp()
    failures: list[DriverError] = []  # every attempt's: together they tell the client why the pool failed

    def start_attempt(account_id):
        # Inside the lease's transaction: an ended job takes no slot (spending an account on it
        # would be paying for nothing).
        if not jobs.start_attempt(job, account_id):
            raise _Ended

    while True:
        if lease is None:
            if len(job.tried_accounts) >= settings.JOB_MAX_ATTEMPTS:
                break
            try:
                lease = leasing.wait_for_lease(job.provider, job.holder, deadline, settings.LEASE_GRACE_SECONDS,
                                               regions=spec.regions, exclude_ids=job.tried_accounts,
                                               bind=start_attempt, gate=write_gate)
            except _Ended:
                return "abandoned"
            if lease is None:
                break
        error = _attempt(job, spec, driver, lease, deadline=deadline)
        lease = None
        if error is None:
            return "succeeded"
        failures.append(error)
        if not error.failover or time.time() >= deadline:
            break

    if failures:
        ended = outcomes.job_failure(job.provider, failures)
    elif time.time() >= deadline:
        ended = DeadlineExceeded("No account became free before the job's deadline.")
    else:
        ended = outcomes.no_account_failure(job.provider, job.model, spec.regions)
    _end(job, ended)
    return "failed"


def _attempt(job: Generation, spec, driver, lease, *, deadline: float) -> DriverError | None:
    """One attempt on the leased account (already recorded on the job); the lease is released
    before this returns."""
    released = False
    try:
        account = _account(lease.account_id)
        attempt = len(job.tried_accounts)
        try:
            credentials, proxy = account_secrets(account)
            task = DriverTask(
                job_id=str(job.pk), kind=job.kind, model=job.model, upstream_model=spec.upstream,
                params=dict(job.params), inputs=[Path(default_storage.path(name)) for name in job.inputs],
                credentials=credentials, proxy=proxy, region=account.region,
                deadline=deadline, account_name=account.name,
            )
            result = driver.run(task)
        except DriverError as err:
            _after_failure(job, account, err, attempt)
            return err
        except Exception as exc:  # a driver bug must not take the worker down, nor leak secrets
            logger.exception("driver %s crashed on job %s", job.provider, job.pk)
            err = UpstreamFailure(f"The {job.provider} driver failed: {redact(str(exc))}")
            _after_failure(job, account, err, attempt)
            return err
        _after_success(job, account, result, lease)
        released = True
        return None
    finally:
        if not released:
            _release(lease)


def _release(lease) -> None:
    """Give the slot back (compiled before the write gate, run under it)."""
    release = leasing.release_ahead(lease.token, lease.account_id)
    with write_gate(), transaction.atomic():
        release()


def _after_failure(job: Generation, account: Account, err: DriverError, attempt: int) -> None:
    outcomes.apply_failure(account, err, job.public_id)
    for artifact in err.artifacts:
        store_artifact(job, artifact, attempt=attempt, account_name=account.name)
    if err.upstream_log:
        job.upstream_log = list(job.upstream_log) + [outcomes.log_entry(account, err, attempt)]
        Generation.objects.filter(pk=job.pk).update(upstream_log=job.upstream_log)


def _after_success(job: Generation, account: Account, result, lease) -> None:
    """Files, the job's end, the account's success and the freed slot: one transaction, so a
    watcher never sees the job ended without its files."""
    if result.credentials is not None:
        outcomes.save_credentials(account, result.credentials)
    records = [write_output(job, output, index) for index, output in enumerate(result.files)]
    try:
        # Compiled before the write gate, run inside it: the other writers wait for the writes only.
        end = jobs.succeed_ahead(job.pk, account_id=account.pk, meta=redact_obj(result.meta))
        add_files = prepared.insert(records)
        release_won = leasing.release_ahead(lease.token, lease.account_id, succeeded=True)
        with write_gate(), transaction.atomic():
            won = bool(end.run())
            if won:
                for statement in add_files:
                    statement.run()
                release_won()
            else:
                leasing.release(lease.token, account_id=lease.account_id)
    except BaseException:
        _delete_files(records)
        raise
    if won:
        job_finished(job.pk)
    else:
        _delete_files(records)  # the job was ended meanwhile (deadline reaper): no lingering files


def _delete_files(records) -> None:
    for record in records:
        record.file.delete(save=False)


def _end(job: Generation, err: DriverError) -> None:
    if jobs.fail(job.pk, code=err.code, message=err.message, status=err.status, param=err.param or ""):
        job_finished(job.pk)
