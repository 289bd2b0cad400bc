"""The fake Jimeng for driver tests: one server per test module, and each test pointing the
driver at it with fast protocol timings and no failures left over from another test."""

from __future__ import annotations

from fakes.jimeng.server import FakeJimeng

# Poll and retry timings a test does not want to wait for (generation/drivers/jimeng/constants.py).
FAST_POLLING = {
    "POLL_FIRST_DELAY": 0.02,
    "POLL_MIN_INTERVAL": 0.02,
    "POLL_BASE_INTERVAL": 0.05,
    "POLL_MAX_INTERVAL": 0.2,
    "POLL_DEADLINE_RESERVE": 0.2,
    "HTTP_RETRY_DELAY": 0.02,
}


def serve(delay_seconds: float):
    """A module fixture's body: the running fake, stopped after the module."""
    server = FakeJimeng(delay_seconds=delay_seconds).start()
    yield server
    server.stop()


def point_driver_at(fake, settings, overrides: dict):
    """An autouse fixture's body: the driver talks to `fake` with `overrides`; queued failures
    are cleared before and after the test."""
    settings.JIMENG_UPSTREAM_URL = fake.url
    settings.JIMENG_OVERRIDES = dict(overrides)
    fake.clear_failures()
    yield fake
    fake.clear_failures()
