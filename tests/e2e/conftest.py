"""End-to-end fixtures: the fake upstreams on the ports the live gateway was told about."""

import uuid

import pytest

from tests.conftest import FAKE_GEMINI_PORT, FAKE_JIMENG_PORT


@pytest.fixture(scope="session")
def fake_jimeng_server():
    from fakes.jimeng.server import FakeJimeng

    fake = FakeJimeng(port=FAKE_JIMENG_PORT, delay_seconds=0.3).start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_jimeng(fake_jimeng_server):
    fake_jimeng_server.reset()
    fake_jimeng_server.set_delay(0.3)
    yield fake_jimeng_server
    fake_jimeng_server.clear_failures()


@pytest.fixture(scope="session")
def fake_gemini_server():
    from fakes.gemini.server import FakeGemini

    fake = FakeGemini(port=FAKE_GEMINI_PORT, delay_seconds=0.3).start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_gemini(fake_gemini_server):
    fake_gemini_server.reset()
    fake_gemini_server.set_delay(0.3)
    return fake_gemini_server


def jimeng_account(name: str, *, region: str = "cn", max_concurrency: int = 1, session: str | None = None):
    """A Jimeng/Dreamina account with a fresh sessionid (the fake binds a session to one site)."""
    from accounts.cookies import parse_credentials
    from accounts.models import Account

    session = session or uuid.uuid4().hex + uuid.uuid4().hex[:8]
    token = session if region == "cn" else f"{region}-{session}"
    account = Account(name=name, provider="jimeng", max_concurrency=max_concurrency)
    account.set_credentials(parse_credentials(token, provider="jimeng", source=f"test:{name}"))
    account.save()
    return account, session
