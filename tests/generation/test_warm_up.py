"""A new worker's warm-up builds the claim and success statements without writing anything."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import leasing
from accounts.models import AccountLease
from generation import catalog, runner
from generation.models import Generation


@pytest.mark.django_db
def test_warm_up_only_reads(settings):
    leasing._any_free.cache_clear()
    with CaptureQueriesContext(connection) as queries:
        runner.warm_up(settings.GATEWAY_DRIVERS)
    statements = [q["sql"].lstrip().split()[0].upper() for q in queries.captured_queries]
    assert statements and set(statements) == {"SELECT"}
    assert not Generation.objects.exists() and not AccountLease.objects.exists()
    # A job's first lease then finds its statements built (for its model's regions).
    spec = catalog.resolve("jimeng-4.0")
    hits = leasing._any_free.cache_info().hits
    leasing._any_free(*leasing._shape(spec.provider, spec.regions, (), None))
    assert leasing._any_free.cache_info().hits == hits + 1
