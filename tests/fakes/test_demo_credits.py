"""`make demo` starts its fake Jimeng/Dreamina with accounts rich enough for a long session: the
fake's default (100 credits and a 60-credit daily claim) runs dry after ~30 jobs and parks every
demo account until Shanghai midnight."""

from __future__ import annotations

import uuid

from fakes.jimeng.server import FakeJimeng
from fakes.management.commands import demo, fake_jimeng


def test_the_demo_starts_the_fake_with_a_large_balance():
    argv = demo.fake_jimeng_command("manage.py", 8123, 3.0)
    assert argv[1:3] == ["manage.py", "fake_jimeng"]
    options = vars(fake_jimeng.Command().create_parser("manage.py", "fake_jimeng").parse_args(argv[3:]))
    assert options["initial_credits"] == demo.DEMO_JIMENG_CREDITS >= 100_000
    assert (options["port"], options["delay_seconds"]) == (8123, 3.0)

    # What a demo account then holds, and how many jobs that pays for at the fake's prices.
    fake = FakeJimeng(initial_credits=options["initial_credits"])
    balance = fake.credits(uuid.uuid4().hex)["total"]
    assert balance == demo.DEMO_JIMENG_CREDITS
    assert balance // fake.config.image_cost >= 25_000
    assert balance // (fake.config.video_cost_per_second * 10) >= 5_000
