"""Shared fixtures: a live gateway (real uvicorn + real qcluster subprocesses) on the test database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Ports fixed for the session, so the live gateway can be told about them when it starts: the
# SSRF guard lets the workers reach exactly these local servers and nothing else on loopback.
WEBHOOK_RECEIVER_PORT = free_port()
FAKE_JIMENG_PORT = free_port()
FAKE_GEMINI_PORT = free_port()


def pytest_sessionfinish(session, exitstatus):
    """A passing run leaves nothing behind; a failing one keeps its logs and files to read."""
    if exitstatus == 0:
        import shutil

        from generation import wakeups

        shutil.rmtree(settings.VAR_DIR, ignore_errors=True)
        if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # the wake-up sockets' folder
            shutil.rmtree(wakeups.base_for(settings.DATABASES["default"]["TEST"]["NAME"]), ignore_errors=True)


def wait_until(predicate, timeout: float, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


def in_fresh_loop(make_coro):
    """Run a coroutine on a new event loop, then drop that loop's job watcher (it dies with it)."""
    import asyncio

    from generation import waiting

    async def run():
        try:
            return await make_coro()
        finally:
            stale = waiting._watchers.pop(id(asyncio.get_running_loop()), None)
            if stale is not None:
                await stale.aclose()

    return asyncio.run(run())


def database_url_for_children() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    auth = f"{user}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


class LiveGateway:
    """The gateway as users run it: uvicorn for the web, `manage.py qcluster` for the workers."""

    def __init__(self, env_overrides: dict | None = None):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url_for_children(),
            "PUBLIC_BASE_URL": self.base_url,
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "Q_NAME": settings.Q_CLUSTER["name"],
            "SECRET_KEY": settings.SECRET_KEY,
            "COOKIE_ENCRYPTION_KEYS": ",".join(settings.COOKIE_ENCRYPTION_KEYS),
            "SSRF_ALLOWED_HOSTS": ",".join(f"127.0.0.1:{p}" for p in (WEBHOOK_RECEIVER_PORT, FAKE_JIMENG_PORT,
                                                                      FAKE_GEMINI_PORT)),
            "JIMENG_UPSTREAM_URL": f"http://127.0.0.1:{FAKE_JIMENG_PORT}",
            "GEMINI_UPSTREAM_URL": f"http://127.0.0.1:{FAKE_GEMINI_PORT}",
            **(env_overrides or {}),
        }
        self.web: subprocess.Popen | None = None
        self.cluster: subprocess.Popen | None = None
        self.logs = Path(settings.VAR_DIR) / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}-{self.port}.log", "ab")
        return subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def start_web(self):
        self.web = self._spawn("web", [sys.executable, "-m", "uvicorn", "gateway.asgi:application", "--host",
                                       "127.0.0.1", "--port", str(self.port), "--lifespan", "off",
                                       "--no-access-log"])
        wait_until(self._web_up, 30, 0.1, "the web server to answer")

    def _web_up(self) -> bool:
        try:
            return requests.get(self.base_url + "/v1/health", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def start_cluster(self):
        self.cluster = self._spawn("cluster", [sys.executable, "manage.py", "qcluster"])
        wait_until(lambda: len(self.worker_pids()) >= settings.Q_CLUSTER["workers"], 30, 0.1, "the workers")

    def worker_pids(self) -> list[int]:
        """The cluster's processes below its main one (sentinel, workers, pusher, monitor)."""
        if self.cluster is None or self.cluster.poll() is not None:
            return []
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.cluster.pid)], capture_output=True, text=True)
        sentinels = [int(p) for p in out.stdout.split()]
        pids = []
        for sentinel in sentinels:
            out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(sentinel)], capture_output=True, text=True)
            pids.extend(int(p) for p in out.stdout.split())
        return pids

    def stop_cluster(self, sig=signal.SIGTERM, grace: float = 5):
        if self.cluster is not None and self.cluster.poll() is None:
            if sig == signal.SIGKILL:
                os.killpg(self.cluster.pid, signal.SIGKILL)
            else:
                self.cluster.send_signal(sig)
            try:
                # A graceful stop drains prefetched jobs; the suite does not wait for that.
                self.cluster.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.cluster.pid, signal.SIGKILL)
                self.cluster.wait()
        self.cluster = None

    def stop(self):
        self.stop_cluster()
        if self.web is not None and self.web.poll() is None:
            self.web.send_signal(signal.SIGTERM)
            try:
                self.web.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.web.pid, signal.SIGKILL)
        self.web = None


@pytest.fixture(scope="session")
def live_gateway(django_db_setup, django_db_blocker):
    gateway = LiveGateway()
    gateway.start_web()
    gateway.start_cluster()
    yield gateway
    gateway.stop()


@pytest.fixture
def api_key(transactional_db):
    from api.models import ApiKey

    _key, raw = ApiKey.issue("test key")
    return raw


@pytest.fixture
def sdk(live_gateway, api_key):
    from openai import OpenAI

    return OpenAI(api_key=api_key, base_url=live_gateway.base_url + "/v1", max_retries=0, timeout=60)


def make_account(name: str, *, provider: str = "sleepy", max_concurrency: int = 1, region: str = "", **fields):
    """An account with valid-looking credentials, for providers that need no real cookies."""
    from accounts.cookies import Credentials
    from accounts.models import Account

    creds = Credentials(provider="jimeng", region=region or "cn", cookies=(
        {"name": "sessionid", "value": f"sess-{name}-0123456789abcdef", "domain": ".jianying.com", "path": "/",
         "expires": -1, "httpOnly": True, "secure": True, "sameSite": "Lax"},))
    account = Account(name=name, provider=provider, max_concurrency=max_concurrency)
    account.set_credentials(creds)
    account.region = region
    for field, value in fields.items():  # after set_credentials, which resets the state
        setattr(account, field, value)
    account.save()
    return account
