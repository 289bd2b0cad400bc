"""Admission of a burst: requests queued together are admitted in one transaction, which reads
the pool once; the backlog limit must still count every job the batch admitted before."""

import asyncio
from functools import partial

from django.db import connections

from api.errors import ApiError
from generation import catalog, queueing, service
from generation.models import Generation
from generation.queueing import admitted
from generation.service import create_job
from tests.conftest import make_account


def test_a_burst_is_admitted_up_to_capacity_plus_backlog_and_no_further(transactional_db, settings, monkeypatch):
    settings.MAX_QUEUE_BACKLOG = 3
    # Admission only: a live cluster of another test must not pick these jobs up mid-teardown.
    monkeypatch.setattr(service, "enqueue", lambda job, new=False: None)
    make_account("burst", max_concurrency=2)
    spec = catalog.resolve("sleepy-image")

    async def burst():
        start = partial(create_job, api_key=None, spec=spec, kind="generate", params={"prompt": "sleep:5"})
        # All queued before the admission thread's first turn: the first alone, the rest in batches.
        return await asyncio.gather(*(admitted(start) for _ in range(9)), return_exceptions=True)

    try:
        outcomes = asyncio.run(burst())
    finally:
        queueing._admission_thread.submit(connections.close_all).result()  # its connection persists
    admitted_jobs = [o for o in outcomes if isinstance(o, Generation)]
    refused = [o for o in outcomes if isinstance(o, ApiError)]
    assert len(admitted_jobs) == 2 + 3 and len(refused) == 4
    assert all(e.status == 429 for e in refused)
    assert Generation.objects.count() == 5  # a refused request wrote nothing
