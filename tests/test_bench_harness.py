"""The benchmarks' direct baselines call the fake of the benchmark that is running, even after an
earlier benchmark in the same process configured Django (`bench.run_all` runs them all in one
process, and `bench.images_jimeng` starts a new stack, on new ports, for each of its parts)."""

from __future__ import annotations

import time
import uuid

from django.conf import settings

from accounts.cookies import parse_credentials
from bench.stack import use_django
from fakes.jimeng.server import FakeJimeng
from generation.drivers.base import DriverTask
from generation.drivers.jimeng.driver import JimengDriver


def _generate(prompt: str) -> None:
    creds = parse_credentials(uuid.uuid4().hex + uuid.uuid4().hex[:8], provider="jimeng")
    JimengDriver().run(DriverTask(
        job_id=str(uuid.uuid4()), kind="generate", model="jimeng-4.0", upstream_model="",
        params={"prompt": prompt, "n": 1, "ratio": "1:1", "resolution": "1k"}, inputs=[],
        credentials=creds, proxy="", region="cn", deadline=time.time() + 60))


def test_a_later_benchmark_in_the_same_process_reaches_its_own_fake(monkeypatch):
    # Both are written by use_django; registered here so the test leaves them as they were.
    monkeypatch.setattr(settings, "JIMENG_UPSTREAM_URL", settings.JIMENG_UPSTREAM_URL)
    monkeypatch.setenv("JIMENG_UPSTREAM_URL", "")
    with FakeJimeng(delay_seconds=0.0) as first, FakeJimeng(delay_seconds=0.0) as second:
        use_django({"JIMENG_UPSTREAM_URL": first.url}, "JIMENG_UPSTREAM_URL")
        _generate("first benchmark")
        use_django({"JIMENG_UPSTREAM_URL": second.url}, "JIMENG_UPSTREAM_URL")
        _generate("second benchmark")

        assert first.submissions() == 1
        assert second.submissions() == 1
        assert second.submissions(prompt="second benchmark") == 1


def test_steal_is_the_share_of_the_machines_time_other_guests_took():
    from bench.stack import host_cpu, steal_pct

    before = [100, 0, 50, 800, 0, 0, 0, 50]
    after = [200, 0, 100, 1550, 0, 0, 0, 150]   # 1,000 ticks pass, 100 of them stolen
    assert steal_pct(before, after) == 10.0
    assert steal_pct(after, after) == 0.0
    reading = host_cpu()
    assert len(reading) == 8 and all(v >= 0 for v in reading)
