"""A job admitted while an account has a free slot gets that slot at admission, under its own
id; its worker claims the job on that slot without leasing again, and every way a job can end
gives the slot back."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Account, AccountLease, AccountState
from generation import catalog, service
from generation.housekeeping import reap
from generation.models import Generation, JobStatus
from generation.runner import run_generation
from generation.service import create_job
from tests.conftest import make_account


@pytest.fixture(autouse=True)
def _not_queued(monkeypatch):
    """The jobs are run here, by calling the worker's task: a live cluster of another test must
    not pick them up."""
    monkeypatch.setattr(service, "enqueue_later", lambda job: (lambda: None))


def _admit(prompt: str = "a red square") -> Generation:
    return create_job(api_key=None, spec=catalog.resolve("sleepy-image"), kind="generate", params={"prompt": prompt})


def _live_leases():
    return list(AccountLease.objects.filter(released_at__isnull=True).values_list("token", "account__name"))


def test_admission_takes_a_free_slot_under_the_jobs_id_and_none_when_the_pool_is_full(transactional_db):
    make_account("only", max_concurrency=1)
    first = _admit()
    assert _live_leases() == [(first.pk, "only")]
    assert Account.objects.get(name="only").active_leases == 1
    # The job itself is still queued, with no attempt: the worker's claim records it.
    first.refresh_from_db()
    assert (first.status, first.account_id, first.attempts) == (JobStatus.QUEUED, None, 0)

    second = _admit()  # admitted into the backlog, without a slot
    assert Generation.objects.get(pk=second.pk).status == JobStatus.QUEUED
    assert _live_leases() == [(first.pk, "only")]


def test_the_worker_runs_a_reserved_job_on_its_slot_without_leasing_again(transactional_db):
    account = make_account("reserved")
    make_account("idle")  # less recently used would not matter: the slot was taken at admission
    job = _admit()
    assert run_generation(str(job.pk)) == "succeeded"

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert (job.account_id, job.attempts, job.tried_accounts, job.deliveries) == (account.pk, 1, [account.pk], 1)
    assert list(AccountLease.objects.values_list("token", flat=True)) == [job.pk]  # one lease in all
    assert _live_leases() == []
    account.refresh_from_db()
    assert account.active_leases == 0 and account.jobs_succeeded == 1


def test_a_duplicate_delivery_of_a_reserved_job_runs_nothing(transactional_db):
    make_account("reserved")
    job = _admit()
    assert run_generation(str(job.pk)) == "succeeded"
    assert run_generation(str(job.pk)) == "skipped"
    assert Generation.objects.get(pk=job.pk).deliveries == 1
    assert Account.objects.get(name="reserved").active_leases == 0


def test_a_reserved_slot_on_an_account_that_expired_meanwhile_is_given_back(transactional_db):
    stale = make_account("signed-out-since")
    job = _admit()
    Account.objects.filter(pk=stale.pk).update(state=AccountState.EXPIRED)
    healthy = make_account("healthy")

    assert run_generation(str(job.pk)) == "succeeded"
    job.refresh_from_db()
    assert (job.account_id, job.attempts, job.tried_accounts) == (healthy.pk, 1, [healthy.pk])
    assert Account.objects.get(pk=stale.pk).active_leases == 0
    assert _live_leases() == []


def test_a_reserved_job_whose_model_is_gone_fails_and_frees_its_slot(transactional_db):
    make_account("reserved")
    job = _admit()
    Generation.objects.filter(pk=job.pk).update(model="withdrawn-model")

    assert run_generation(str(job.pk)) == "failed"
    job.refresh_from_db()
    assert (job.status, job.error_code) == (JobStatus.FAILED, "model_not_found")
    assert Account.objects.get(name="reserved").active_leases == 0
    assert _live_leases() == []


def test_a_reserved_job_that_is_never_picked_up_frees_its_slot_at_its_deadline(transactional_db):
    make_account("reserved")
    job = _admit()
    Generation.objects.filter(pk=job.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))

    assert reap()["timed_out"] == 1
    assert Generation.objects.get(pk=job.pk).status == JobStatus.FAILED
    assert Account.objects.get(name="reserved").active_leases == 0
    assert _live_leases() == []


def test_a_slot_freed_while_an_older_job_waits_is_left_to_that_job(transactional_db):
    """With as many workers as slots, new jobs taking the slots that free up while older jobs
    wait (their workers waiting for a slot) would leave every worker waiting and every slot
    reserved by a job no worker can reach."""
    make_account("only", max_concurrency=1)
    first = _admit()
    waiting = _admit()  # no slot: it waits for one
    assert run_generation(str(first.pk)) == "succeeded"  # the slot is free again
    later = _admit()
    assert _live_leases() == []  # `later` did not take the slot `waiting` is owed

    assert run_generation(str(waiting.pk)) == "succeeded"
    assert Generation.objects.get(pk=waiting.pk).account.name == "only"
    assert Generation.objects.get(pk=later.pk).status == JobStatus.QUEUED
