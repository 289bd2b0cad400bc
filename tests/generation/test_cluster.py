"""A real `qcluster` runs jobs; a worker killed mid-job does not leave the job or its lease behind."""

import os
import signal
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage

from accounts.models import Account, AccountLease
from generation import catalog
from generation.housekeeping import reap
from generation.models import Generation, JobStatus
from generation.service import create_job
from tests.conftest import make_account, wait_until

pytestmark = pytest.mark.slow


def job_status(job_id):
    return Generation.objects.filter(pk=job_id).values_list("status", flat=True).first()


def test_cluster_runs_a_job_end_to_end(live_gateway, transactional_db):
    account = make_account("worker-a")
    job = create_job(api_key=None, spec=catalog.resolve("sleepy-image"), kind="generate",
                     params={"prompt": "a red square sleep:0.2"})
    wait_until(lambda: job_status(job.pk) == JobStatus.SUCCEEDED, 30, message="the job to succeed")

    job.refresh_from_db()
    assert job.account_id == account.pk and job.attempts == 1 and job.deliveries == 1
    image = job.files.get()
    assert image.width == 64 and image.height == 48
    assert default_storage.exists(image.file.name)
    account.refresh_from_db()
    assert account.active_leases == 0 and account.jobs_succeeded == 1
    assert not AccountLease.objects.filter(released_at__isnull=True).exists()


def test_failover_moves_job_to_another_account(live_gateway, transactional_db):
    make_account("bad-signed-out")
    good = make_account("good-one")
    Account.objects.filter(name="good-one").update(last_used_at="2000-01-01T00:00:00Z")
    # The signed-out account is tried first (never used), fails, and the job moves on.
    Account.objects.filter(name="bad-signed-out").update(last_used_at=None)
    job = create_job(api_key=None, spec=catalog.resolve("sleepy-image"), kind="generate",
                     params={"prompt": "fail:expire_first"})
    wait_until(lambda: job_status(job.pk) in (JobStatus.SUCCEEDED, JobStatus.FAILED), 30, message="the job")
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.account_id == good.pk and job.attempts == 2
    assert Account.objects.get(name="bad-signed-out").state == "expired"


def test_sigkilled_worker_job_ends_by_deadline_and_lease_returns(live_gateway, transactional_db):
    account = make_account("victim")
    job = create_job(api_key=None, spec=catalog.resolve("sleepy-image"), kind="generate",
                     params={"prompt": "sleep:60"}, timeout=12)
    wait_until(lambda: job_status(job.pk) == JobStatus.RUNNING, 15, message="the job to start")
    job.refresh_from_db()
    pid = int(job.worker.rsplit(":", 1)[1])
    assert pid in live_gateway.worker_pids()
    os.kill(pid, signal.SIGKILL)

    # The reaper runs as a schedule every minute in production; here it is called as often as
    # a test can afford, which changes when it acts, not what it does.
    def ended():
        reap()
        return job_status(job.pk) in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    wait_until(ended, 30, 0.5, "the job to end")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == "timeout"
    assert job.finished_at <= job.deadline_at + timedelta(seconds=3)
    assert job.deliveries == 2  # the reaper gave it to a live worker once
    assert Account.objects.get(pk=account.pk).active_leases == 0
    assert not AccountLease.objects.filter(released_at__isnull=True).exists()
    # The cluster replaced the worker and still serves jobs.
    after = create_job(api_key=None, spec=catalog.resolve("sleepy-image"), kind="generate",
                       params={"prompt": "quick"})
    wait_until(lambda: job_status(after.pk) == JobStatus.SUCCEEDED, 30, message="the next job")


def test_schedules_exist_after_migrate(transactional_db):
    from django_q.models import Schedule

    names = set(Schedule.objects.values_list("name", flat=True))
    assert {"gateway-reaper", "gateway-cleanup", "gateway-webhooks", "gateway-jimeng-credit-claim"} <= names
