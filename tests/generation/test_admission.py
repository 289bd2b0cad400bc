"""Admission of a burst: requests queued together are prepared first, then admitted in one
transaction, which reads the pool once; the backlog limit must still count every job the batch
admitted before, and an identical request of the same batch joins the first one's job."""

import asyncio
from functools import partial

from django.db import connections

from api.errors import ApiError
from generation import catalog, queueing, service
from generation.models import Generation
from generation.queueing import admitted
from generation.service import plan_job
from tests.conftest import make_account


def _admit_all(starts) -> list:
    """Queue every start before the admission thread's first turn, so they are admitted in
    batches of `queueing.ADMISSION_BATCH`."""
    async def burst():
        return await asyncio.gather(*(admitted(start) for start in starts), return_exceptions=True)

    try:
        return asyncio.run(burst())
    finally:
        queueing._admission_thread.submit(connections.close_all).result()  # its connection persists


def test_a_burst_is_admitted_up_to_capacity_plus_backlog_and_no_further(transactional_db, settings, monkeypatch):
    settings.MAX_QUEUE_BACKLOG = 3
    # Admission only: a live cluster of another test must not pick these jobs up mid-teardown.
    monkeypatch.setattr(service, "enqueue_later", lambda job: (lambda: None))
    make_account("burst", max_concurrency=2)
    spec = catalog.resolve("sleepy-image")
    start = partial(plan_job, api_key=None, spec=spec, kind="generate", params={"prompt": "sleep:5"})
    outcomes = _admit_all([start] * 9)
    admitted_jobs = [o for o in outcomes if isinstance(o, Generation)]
    refused = [o for o in outcomes if isinstance(o, ApiError)]
    assert len(admitted_jobs) == 2 + 3 and len(refused) == 4
    assert all(e.status == 429 for e in refused)
    assert Generation.objects.count() == 5  # a refused request wrote nothing


def test_identical_requests_admitted_in_one_batch_share_one_job(transactional_db, monkeypatch):
    monkeypatch.setattr(service, "enqueue_later", lambda job: (lambda: None))
    make_account("burst", max_concurrency=4)
    spec = catalog.resolve("sleepy-image")
    key = "same-key-in-one-batch"

    def start(prompt):
        # What the view passes: the lookup runs at commit, after the batch's earlier writes.
        def existing():
            return (Generation.objects.filter(idempotency_key=key, request_fingerprint="fp")
                    .order_by("created_at").first())
        return plan_job(api_key=None, spec=spec, kind="generate", params={"prompt": prompt},
                        idempotency_key=key, fingerprint="fp", existing=existing)

    outcomes = _admit_all([partial(start, "first"), partial(start, "second"), partial(start, "third")])
    assert all(isinstance(o, Generation) for o in outcomes), outcomes
    assert len({o.pk for o in outcomes}) == 1
    assert Generation.objects.count() == 1
    assert Generation.objects.get().params == {"prompt": "first"}


def test_planning_a_job_keeps_the_admission_threads_database_connection(transactional_db):
    """The web keeps no connection between requests (CONN_MAX_AGE = 0), but the admission thread
    must keep its own: django-q2 builds a broker per task, and building one closes the calling
    thread's connection, which cost every admission a reconnect."""
    from django.db import connection

    make_account("keeps", max_concurrency=4)
    spec = catalog.resolve("sleepy-image")

    def plan_and_report(prompt):
        planned = plan_job(api_key=None, spec=spec, kind="generate", params={"prompt": prompt})
        planned.abandon()  # nothing is written: only the planning is looked at
        return connection.connection

    def run_on_admission_thread(fn):
        return queueing._admission_thread.submit(fn).result()

    try:
        run_on_admission_thread(lambda: plan_and_report("first"))  # whatever is built once
        run_on_admission_thread(lambda: Generation.objects.exists())
        held = run_on_admission_thread(lambda: connection.connection)
        assert held is not None
        assert run_on_admission_thread(lambda: plan_and_report("second")) is held
        assert run_on_admission_thread(lambda: plan_and_report("third")) is held
    finally:
        run_on_admission_thread(connections.close_all)
