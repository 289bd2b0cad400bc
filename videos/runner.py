"""What a django-q2 worker runs for a video task: submit once, poll, download, thumbnail.

The upstream id is written the moment the upstream answers, and our own submit id before we
ask, so a task whose worker (or whole cluster) died is picked up again by the reaper and resumes
polling the same upstream job on the same account: it never pays twice.
"""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import close_old_connections, connections
from django.db.models import F

from accounts import leasing, standing
from accounts.models import Account
from generation import catalog, outcomes
from generation.drivers import get_driver
from generation.drivers.base import DeadlineExceeded, DriverError, DriverTask, UpstreamFailure, account_secrets
from generation.heartbeats import Heartbeat
from gateway.redaction import redact, redact_obj
from videos import tasks as task_states
from videos.models import VideoTask
from videos.storage import store_video

logger = logging.getLogger(__name__)

MAX_POLL_ERRORS = 5          # consecutive transient poll failures tolerated


MIN_POLL_SECONDS = 0.2
MAX_POLL_SECONDS = 30.0


class TaskEnded(Exception):
    """The task was ended from outside (deadline reaper, deleted) while this worker polled it."""


def run_video(task_id: str) -> str:
    close_old_connections()
    task = task_states.claim(task_id)
    if task is None:
        return "skipped"
    try:
        with Heartbeat(task.pk, beat=task_states.beat):
            return _run(task)
    except BaseException as exc:  # django-q2's TimeoutException is a SystemExit
        task_states.end(task, DeadlineExceeded(f"The video task was stopped by the worker ({type(exc).__name__})."))
        leasing.release_holder(task.holder)
        raise
    finally:
        connections.close_all()


def _run(task: VideoTask) -> str:
    spec = catalog.resolve(task.model)
    if spec is None:
        task_states.end(task, DriverError(f"Model {task.model!r} is no longer configured.", code="model_not_found",
                                          status=400))
        return "failed"
    driver = get_driver(task.provider)
    deadline = task.deadline_at.timestamp()
    tried = list(task.tried_accounts)
    failures: list[DriverError] = []  # every attempt's: together they tell the client why the pool failed

    while True:
        pinned = [task.account_id] if task.upstream_id or task.submit_id else None
        if pinned is None and len(tried) >= settings.JOB_MAX_ATTEMPTS:
            break
        lease = leasing.wait_for_lease(task.provider, task.holder, deadline, settings.LEASE_GRACE_SECONDS,
                                       regions=spec.regions, exclude_ids=[] if pinned else tried, only_ids=pinned)
        if lease is None:
            break
        if pinned is None:
            tried.append(lease.account_id)
        try:
            error = _attempt(task, spec, driver, lease, deadline, attempt=len(tried))
        finally:
            leasing.release(lease.token)
        if error is None:
            return "succeeded"
        failures.append(error)
        if not error.failover or time.time() >= deadline:
            break
        # The upstream job failed or was refused on this account: the next account starts afresh.
        VideoTask.objects.filter(pk=task.pk).update(submit_id="", upstream_id="", progress=0)
        task.submit_id = task.upstream_id = ""

    if failures:
        ended = outcomes.job_failure(task.provider, failures)
    elif time.time() >= deadline:
        ended = DeadlineExceeded("The video did not finish before its deadline.")
    elif task.upstream_id:
        ended = DriverError("The account that started this video can no longer be used to finish it.",
                            code="account_unavailable", status=502)
    else:
        ended = outcomes.no_account_failure(task.provider, task.model, spec.regions)
    task_states.end(task, ended)
    return "failed"


def _driver_task(task: VideoTask, spec, account: Account, deadline: float) -> DriverTask:
    credentials, proxy = account_secrets(account)
    return DriverTask(
        job_id=str(task.pk), kind="video", model=task.model, upstream_model=spec.upstream,
        params={**task.params, "prompt": task.prompt}, inputs=[Path(default_storage.path(n)) for n in task.inputs],
        credentials=credentials, proxy=proxy, region=account.region, deadline=deadline,
        account_name=account.name,
    )


def _attempt(task: VideoTask, spec, driver, lease, deadline: float, *, attempt: int) -> DriverError | None:
    account = Account.objects.get(pk=lease.account_id)
    try:
        dtask = _driver_task(task, spec, account, deadline)
        upstream_id = _ensure_submitted(task, driver, dtask, account, attempt)
        _poll_until_done(task, driver, dtask, upstream_id, deadline)
        video = driver.download_video(dtask, upstream_id)
    except TaskEnded:
        ended = DriverError("The video task was ended while it ran.", code="task_ended", status=504)
        ended.failover = False  # nothing left to do for this task, on any account
        return ended
    except DriverError as err:
        outcomes.apply_failure(account, err, task.openai_id)
        if err.upstream_log:
            task.upstream_log = list(task.upstream_log) + [outcomes.log_entry(account, err, attempt)]
            VideoTask.objects.filter(pk=task.pk).update(upstream_log=task.upstream_log)
        return err
    except Exception as exc:
        logger.exception("video driver %s crashed on task %s", task.provider, task.pk)
        err = UpstreamFailure(f"The {task.provider} driver failed: {redact(str(exc))}")
        standing.record_failure(account.pk, outcomes.plain(err.message))
        return err
    store_video(task, video)
    if task_states.succeed(task):
        standing.record_success(account.pk)
    return None


def _ensure_submitted(task: VideoTask, driver, dtask: DriverTask, account: Account, attempt: int) -> str:
    if task.upstream_id:
        return task.upstream_id
    if task.submit_id:
        # A worker died between asking the upstream and hearing back: ask before paying again.
        found = driver.find_video(dtask, task.submit_id)
        if found:
            _record_upstream_id(task, found, submitted=False)
            return found
    submit_id = task.submit_id or uuid.uuid4().hex
    if not task.submit_id:
        VideoTask.objects.filter(pk=task.pk).update(submit_id=submit_id, account=account, attempts=attempt,
                                                    tried_accounts=list(task.tried_accounts) + [account.pk])
        task.submit_id, task.account_id = submit_id, account.pk
        task.tried_accounts = list(task.tried_accounts) + [account.pk]
    try:
        upstream_id = driver.submit_video(dtask, submit_id)
    except UpstreamFailure:
        # The submission may have arrived even though its answer did not: ask before anyone
        # (this account or the next) pays for it again.
        found = driver.find_video(dtask, submit_id)
        if not found:
            raise
        _record_upstream_id(task, found, submitted=True)
        return found
    _record_upstream_id(task, upstream_id, submitted=True)
    return upstream_id


def _record_upstream_id(task: VideoTask, upstream_id: str, *, submitted: bool) -> None:
    fields = {"upstream_id": upstream_id}
    if submitted:
        fields["upstream_submissions"] = F("upstream_submissions") + 1
    VideoTask.objects.filter(pk=task.pk).update(**fields)
    task.upstream_id = upstream_id


def _poll_until_done(task: VideoTask, driver, dtask: DriverTask, upstream_id: str, deadline: float) -> None:
    errors = 0
    while True:
        if time.time() >= deadline:
            raise DeadlineExceeded("The video did not finish before its deadline.")
        try:
            poll = driver.poll_video(dtask, upstream_id)
            errors = 0
        except UpstreamFailure:
            # A poll is a read: a passing network or upstream hiccup must not end a paid-for job.
            errors += 1
            if errors >= MAX_POLL_ERRORS:
                raise
            time.sleep(min(2.0 ** errors, max(0.0, deadline - time.time())))
            continue
        if poll.state == "succeeded":
            if not task_states.progress(task, 100, meta=redact_obj(poll.meta)):
                raise TaskEnded()
            return
        if poll.state == "failed":
            raise poll.error or UpstreamFailure("The upstream reported the video as failed.")
        if not task_states.progress(task, poll.progress):
            raise TaskEnded()
        wait = min(max(poll.poll_after, MIN_POLL_SECONDS), MAX_POLL_SECONDS, max(0.0, deadline - time.time()))
        time.sleep(wait)
