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
    leasing._freer.cache_clear()
    leasing._giver.cache_clear()
    with CaptureQueriesContext(connection) as queries:
        runner.warm_up(settings.GATEWAY_DRIVERS)
    # The release's statements are built too (a success and a failure).
    assert leasing._freer.cache_info().currsize == 1 and leasing._giver.cache_info().currsize == 2
    statements = [q["sql"].lstrip().split()[0].upper() for q in queries.captured_queries]
    assert statements and set(statements) == {"SELECT"}
    assert not Generation.objects.exists() and not AccountLease.objects.exists()
    # A job's first lease then finds its statements built (for its model's regions).
    spec = catalog.resolve("jimeng-4.0")
    hits = leasing._any_free.cache_info().hits
    leasing._any_free(*leasing._shape(spec.provider, spec.regions, (), None))
    assert leasing._any_free.cache_info().hits == hits + 1


def test_the_web_process_loads_its_views_and_freezes_them_at_startup(tmp_path):
    """What the web process loads before its first request is exempt from the cyclic collector
    (a full collection would otherwise walk it again in the middle of a burst of requests), and
    the collector runs less often there than CPython's default (held requests' objects)."""
    import os
    import subprocess
    import sys

    script = ("import gc, sys\n"
              "default = gc.get_threshold()[0]\n"
              "import gateway.asgi\n"
              "print(gc.get_freeze_count(), 'generation.views' in sys.modules, len(gc.get_objects()),\n"
              "      gc.get_threshold()[0], gateway.asgi.WEB_GC_THRESHOLD, default)\n")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "gateway.settings", "GATEWAY_VAR_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    frozen, views_loaded, tracked, threshold, configured, default = out.stdout.split()
    assert views_loaded == "True"
    assert int(threshold) == int(configured) > int(default)
    assert int(frozen) > 50_000 and int(tracked) < int(frozen) // 10
