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

    fake = FakeGemini(port=FAKE_GEMINI_PORT, delay_seconds=0.3, jump_back_after=0.3, progress_interval=0.1).start()
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


def gemini_account(name: str, *, psid: str | None = None, max_concurrency: int = 1):
    """A Gemini account from a Cookie-Editor style export on .google.com, as a person makes one."""
    import json

    from accounts.cookies import parse_credentials
    from accounts.models import Account

    psid = psid or f"g.a000{uuid.uuid4().hex}"
    export = json.dumps([
        {"domain": ".google.com", "name": "__Secure-1PSID", "value": psid, "path": "/", "secure": True,
         "httpOnly": True, "sameSite": "no_restriction", "expirationDate": 4102444800},
        {"domain": ".google.com", "name": "__Secure-1PSIDTS", "value": "sidts-" + uuid.uuid4().hex, "path": "/",
         "secure": True, "httpOnly": True, "sameSite": "no_restriction", "expirationDate": 4102444800},
    ])
    account = Account(name=name, provider="gemini", max_concurrency=max_concurrency)
    account.set_credentials(parse_credentials(export, provider="gemini", source=f"test:{name}"))
    account.save()
    return account, psid
