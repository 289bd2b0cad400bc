"""Settings for the test suite: the production settings module with test-sized numbers.

Values come from the environment so the subprocesses the tests start (uvicorn, qcluster) see the
same configuration as the test process.
"""

import os
import uuid
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
_defaults = {
    # A developer's own .env (their real database, say) must not reach the tests.
    "GATEWAY_ENV_FILE": "off",
    # One directory per test session: parallel sessions must not share a database file or media.
    "GATEWAY_VAR_DIR": str(_ROOT / "var" / "test" / f"run-{os.getpid()}"),
    "IMAGE_JOB_TIMEOUT": "30",
    "VIDEO_JOB_TIMEOUT": "60",
    "LEASE_GRACE_SECONDS": "5",
    "HEARTBEAT_SECONDS": "0.5",
    "HEARTBEAT_STALE_SECONDS": "3",
    "QUEUED_REDELIVER_SECONDS": "5",
    "COOLDOWN_BASE_SECONDS": "60",
    "Q_WORKERS": "2",
    "Q_POLL_SECONDS": "0.05",
    "WAIT_POLL_SECONDS": "0.05",
    # Far above any wait in the suite: with SQLite every job end must arrive as a wake-up.
    "WAIT_SAFETY_POLL_SECONDS": "20",
    # The queue reader's wait also delays a cluster's graceful stop, which the suite does often.
    "Q_SAFETY_POLL_SECONDS": "1",
    "GATEWAY_DRIVERS": '{"sleepy": "tests.support.drivers.SleepyVideoDriver"}',
    "GATEWAY_CATALOGS": '{"sleepy": "tests.support.drivers.MODELS"}',
    # Tasks left in a shared Redis by an earlier run must not reach this run's workers.
    "Q_NAME": f"gwtest-{uuid.uuid4().hex[:8]}",
}
for _name, _value in _defaults.items():
    os.environ.setdefault(_name, _value)

from gateway.settings import *  # noqa: E402,F401,F403

ROOT_URLCONF = "tests.urls"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
