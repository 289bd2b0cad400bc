"""End-to-end fixtures: the fake upstreams on the ports the live gateway was told about, and the
openai 2.x SDK beside the venv's 3.x."""

import os
import re
import shutil
import subprocess
import sys
import uuid

import pytest

from tests.conftest import FAKE_GEMINI_PORT, FAKE_JIMENG_PORT, ROOT

SDK2_DIR = ROOT / "var" / "sdk-openai2"
SDK2_REQUIREMENTS = ROOT / "requirements-sdk2.txt"


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


def _pinned_sdk2_version() -> str:
    for line in SDK2_REQUIREMENTS.read_text().splitlines():
        match = re.match(r"\s*openai==([\w.]+)", line)
        if match:
            return match.group(1)
    raise AssertionError(f"{SDK2_REQUIREMENTS.name} pins no openai version")


def _sdk2_installed(version: str) -> bool:
    version_file = SDK2_DIR / "openai" / "_version.py"
    return version_file.exists() and f'"{version}"' in version_file.read_text()


@pytest.fixture(scope="session")
def sdk2_path():
    """openai 2.x in var/sdk-openai2 (`make install-dev` puts it there; installed here if missing)."""
    version = _pinned_sdk2_version()
    if not _sdk2_installed(version):
        staging = SDK2_DIR.with_name(f"{SDK2_DIR.name}.tmp-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--no-input", "--target", str(staging), "-r", str(SDK2_REQUIREMENTS)],
                       check=True, timeout=600)
        shutil.rmtree(SDK2_DIR, ignore_errors=True)
        try:
            staging.rename(SDK2_DIR)
        except OSError:  # a parallel session got there first
            shutil.rmtree(staging, ignore_errors=True)
        (SDK2_DIR / ".installed").touch()
    assert _sdk2_installed(version)
    return SDK2_DIR


def run_sdk_script(script, major: str, sdk2_dir, *args) -> subprocess.CompletedProcess:
    """Run a check script under the venv's openai (3.x) or, for major 2, with openai 2.x first on the path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if major == "2":
        env["PYTHONPATH"] = str(sdk2_dir)
    return subprocess.run([sys.executable, str(script), *args, major], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=180)
