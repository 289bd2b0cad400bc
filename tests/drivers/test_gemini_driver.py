"""The real Gemini driver in real Chromium against the real in-process fake (no mocks).

Every test uses its own __Secure-1PSID, so the fake's per-account memory (jump-back counts,
invalidated sessions, rotated cookies) never leaks between tests. Cookies are built the way a
person exports them (on .google.com); the driver re-homes them onto the fake's host.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest
from PIL import Image

from accounts.cookies import parse_credentials
from fakes.gemini.server import FakeGemini
from generation.drivers.base import (
    ContentPolicy,
    CredentialsRejected,
    DeadlineExceeded,
    DriverTask,
    GenerationBlocked,
    QuotaExhausted,
    RateLimited,
    UpstreamFailure,
)
from generation.drivers.gemini import client as browser_service
from generation.drivers.gemini.driver import GeminiDriver
from tests.support.processes import descendants, running

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's Chromium is not installed"),
]


@pytest.fixture(scope="module")
def fake():
    server = FakeGemini(delay_seconds=0.3, jump_back_after=0.3, progress_interval=0.1).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def upstream(settings, fake):
    settings.GEMINI_UPSTREAM_URL = fake.url
    settings.CHROMIUM_PATH = CHROMIUM
    settings.GEMINI_OVERRIDES = {}


@pytest.fixture
def driver():
    return GeminiDriver()


def new_psid(prefix: str = "") -> str:
    return f"{prefix}g.a000{uuid.uuid4().hex}"


def exported_cookies(psid: str, psidts: str = "sidts-initial-0123456789") -> str:
    """A Cookie-Editor style export, as a person would paste it."""
    year = time.time() + 365 * 86400
    return json.dumps([
        {"name": "__Secure-1PSID", "value": psid, "domain": ".google.com", "path": "/", "secure": True,
         "httpOnly": True, "sameSite": "no_restriction", "expirationDate": year, "hostOnly": False},
        {"name": "__Secure-1PSIDTS", "value": psidts, "domain": ".google.com", "path": "/", "secure": True,
         "httpOnly": True, "sameSite": "no_restriction", "expirationDate": year, "hostOnly": False},
        {"name": "NID", "value": "nid-value-0123456789", "domain": ".google.com", "path": "/", "secure": True,
         "httpOnly": True, "sameSite": "unspecified", "expirationDate": year, "hostOnly": False},
        {"name": "__Host-GAPS", "value": "gaps-value-0123456789", "domain": "accounts.google.com", "path": "/",
         "secure": True, "httpOnly": True, "sameSite": "lax", "expirationDate": year, "hostOnly": True},
    ])


def make_task(prompt: str, *, psid: str | None = None, inputs=(), n: int = 1, seconds: float = 30.0) -> DriverTask:
    psid = psid or new_psid()
    return DriverTask(
        job_id=uuid.uuid4().hex, kind="edit" if inputs else "generate", model="gemini-image",
        upstream_model="gemini-web", params={"prompt": prompt, "n": n}, inputs=[Path(p) for p in inputs],
        credentials=parse_credentials(exported_cookies(psid), provider="gemini"), proxy="", region="",
        deadline=time.time() + seconds, account_name="test",
    )


def psid_of(task: DriverTask) -> str:
    return next(c["value"] for c in task.credentials.cookies if c["name"] == "__Secure-1PSID")


def submissions(fake, task: DriverTask) -> list[dict]:
    return [s for s in fake.state()["submissions"] if s["psid"] == psid_of(task)]


def pil_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        return img.size


# --- success paths -----------------------------------------------------------------------------


def test_generate_returns_full_size_png(fake, driver):
    task = make_task("Generate an image of a lighthouse at dusk")
    result = driver.run(task)

    assert len(result.files) == 1
    out = result.files[0]
    assert out.mime == "image/png" and out.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert pil_size(out.data) == (out.width, out.height) == (2048, 2048)  # full size, not the 1024 preview
    subs = submissions(fake, task)
    assert [s["prompt"] for s in subs] == ["Generate an image of a lighthouse at dusk"]
    assert subs[0]["image_tool"] is True
    assert result.meta["download"] == ["button"]
    downloads = [d for d in fake.state()["downloads"] if d["sha256"] == hashlib.sha256(out.data).hexdigest()]
    assert downloads and downloads[0]["attachment"] is True


def test_edit_attaches_the_reference_image(fake, driver, tmp_path):
    ref = tmp_path / "input_0"  # stored inputs have neutral names; the driver names them by format
    Image.new("RGB", (320, 240), (20, 160, 220)).save(ref, format="PNG")
    task = make_task("Edit this image: add a red hat", inputs=[ref])
    result = driver.run(task)

    assert result.files and pil_size(result.files[0].data) == (2048, 2048)
    wanted = hashlib.sha256(ref.read_bytes()).hexdigest()
    sub = submissions(fake, task)[-1]
    assert [a["sha256"] for a in sub["attachments"]] == [wanted]
    upload = next(u for u in fake.state()["uploads"] if u["sha256"] == wanted)
    assert upload["mime"] == "image/png" and upload["filename"].endswith(".png")


def test_jump_back_is_resubmitted_and_succeeds(fake, driver):
    # The real page jumps back after seconds. At the module's 0.3 s a slow machine's probe can miss
    # the whole busy spell after a click, and the driver then takes the jump-back for a Send that
    # had no effect (pressing Enter once SUBMIT_CONFIRM_TIMEOUT passes): seen once under CI load.
    fake.configure(delay_seconds=1.5, jump_back_after=1.5)
    try:
        task = make_task("Generate an image of a bicycle [fail:jump_back:2]")
        result = driver.run(task)
    finally:
        fake.configure(delay_seconds=0.3, jump_back_after=0.3)

    assert result.files and result.meta["resubmits"] == 2
    assert len(submissions(fake, task)) == 3


def test_missing_download_button_falls_back_to_the_full_size_url(fake, driver):
    task = make_task("Generate an image of a teapot [fail:no_download]")
    result = driver.run(task)

    out = result.files[0]
    assert result.meta["download"] == ["url"]
    assert pil_size(out.data) == (2048, 2048)
    served = [d for d in fake.state()["downloads"] if d["sha256"] == hashlib.sha256(out.data).hexdigest()]
    assert served and served[0]["options"] == "s0"


def test_rotated_cookie_is_returned_on_the_exported_domain(fake, driver):
    task = make_task("Generate an image of a kite")
    result = driver.run(task)

    creds = result.credentials
    assert creds is not None and creds.provider == "gemini"
    by_name = {c["name"]: c for c in creds.cookies}
    rotated = fake.state()["current_psidts"][psid_of(task)]
    assert by_name["__Secure-1PSIDTS"]["value"] == rotated != "sidts-initial-0123456789"
    assert by_name["__Secure-1PSIDTS"]["domain"] == ".google.com"  # mapped back from the fake's host
    assert by_name["__Secure-1PSID"]["value"] == psid_of(task)
    assert by_name["NID"]["value"] == "nid-value-0123456789"  # untouched cookies survive the merge
    assert (by_name["__Host-GAPS"]["domain"], by_name["__Host-GAPS"]["value"]) == (
        "accounts.google.com", "gaps-value-0123456789")


def test_n_takes_several_images_per_answer_then_asks_again(fake, driver):
    fake.configure(images_per_response=2)
    try:
        task = make_task("Generate an image of a robot", n=3)
        result = driver.run(task)
    finally:
        fake.configure(images_per_response=1)
    digests = {hashlib.sha256(f.data).hexdigest() for f in result.files}
    assert len(result.files) == 3 and len(digests) == 3  # each image once, none downloaded twice
    assert result.meta["rounds"] == 2 and len(submissions(fake, task)) == 2


def test_overrides_replace_module_values_without_a_code_change(fake, driver, settings):
    settings.GEMINI_OVERRIDES = {"FULL_SIZE_SUFFIXES": ["=s16383"], "APP_QUERY": "hl=en-GB"}
    task = make_task("Generate an image of a tree [fail:no_download]")
    result = driver.run(task)
    served = [d for d in fake.state()["downloads"]
              if d["sha256"] == hashlib.sha256(result.files[0].data).hexdigest()]
    assert served and served[0]["options"] == "s16383"
    settings.GEMINI_OVERRIDES = {"NO_SUCH_SELECTOR": "x"}
    with pytest.raises(ValueError, match="NO_SUCH_SELECTOR"):
        driver.run(make_task("Generate an image of a tree"))


# --- failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("psid_prefix,marker", [
    ("", "[fail:signed_out]"),   # the session dies mid-job: the page goes to ServiceLogin
    ("expired-", ""),            # /app redirects to ServiceLogin at once
    ("signedout-", ""),          # signed-out page with a visible "Sign in" link
])
def test_signed_out_raises_credentials_rejected(fake, driver, psid_prefix, marker):
    task = make_task(f"Generate an image of a fox {marker}".strip(), psid=new_psid(psid_prefix))
    with pytest.raises(CredentialsRejected) as info:
        driver.run(task)
    assert info.value.account_action == "expire"
    assert {a.kind for a in info.value.artifacts} == {"screenshot", "html", "console"}


@pytest.mark.parametrize("marker,error,code", [
    ("usage_limit", QuotaExhausted, "quota_exhausted"),
    ("usage_limit_code", QuotaExhausted, "quota_exhausted"),
    ("busy", RateLimited, "upstream_rate_limited"),
    ("region", GenerationBlocked, "generation_blocked"),
])
def test_limits_and_blocks(fake, driver, marker, error, code):
    with pytest.raises(error) as info:
        driver.run(make_task(f"Generate an image of a boat [fail:{marker}]"))
    assert info.value.code == code


def test_policy_refusal_is_a_content_policy_error(fake, driver):
    with pytest.raises(ContentPolicy) as info:
        driver.run(make_task("Generate an image of a famous mouse [fail:refusal]"))
    err = info.value
    assert err.status == 400 and err.code == "content_policy_violation" and not err.failover
    assert "safeguards" in err.message
    assert err.credentials is not None  # rotated cookies come back on failures too


def test_deadline_gives_artifacts_and_the_next_job_works(fake, driver):
    secret_psid = new_psid()
    task = make_task("Generate an image of a clock [fail:never_finish]", psid=secret_psid, seconds=7)
    started = time.time()
    with pytest.raises(DeadlineExceeded) as info:
        driver.run(task)
    assert time.time() - started < 9  # returned by the deadline (plus scheduling slack)
    artifacts = {a.kind: a for a in info.value.artifacts}
    assert set(artifacts) == {"screenshot", "html", "console"}
    assert artifacts["screenshot"].data[:8] == b"\x89PNG\r\n\x1a\n"
    html = artifacts["html"].data.decode()
    assert "model-response" in html and secret_psid not in html and '"SNlM0e": "[redacted]"' in html
    assert "waiting for the answer" in artifacts["console"].data.decode()

    before = browser_service.status()
    result = driver.run(make_task("Generate an image of a clock"))
    assert result.files and result.meta["warm_browser"] is True
    after = wait_for_service(lambda st: st["contexts"] == 0 and st["running"] == 0, "every job's context to close")
    assert after["pid"] == before["pid"] and after["launches"] == before["launches"]  # same warm browser


def test_sigalrm_in_the_main_thread_stops_the_browser_job(fake, driver):
    """django-q2's timeout is a SIGALRM in the worker's main thread; the job in the browser service
    must stop too (the worker's connection closes, the service closes the job's context)."""

    class Alarm(Exception):
        pass

    def on_alarm(signum, frame):
        raise Alarm()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, 2.5)
        with pytest.raises(Alarm):
            driver.run(make_task("Generate an image of a train [fail:never_finish]", seconds=60))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    before = wait_for_service(lambda st: st["contexts"] == 0 and st["running"] == 0,
                              "the stopped job's context to close")
    result = driver.run(make_task("Generate an image of a train"))
    # The next job runs in the same browser, not a relaunched one. (No wall-clock bound here: the
    # stopped job's context is already gone, and a busy CI machine once took 11.7 s for this job.)
    assert result.files and result.meta["warm_browser"] is True, result.meta
    assert browser_service.status()["launches"] == before["launches"]


@pytest.mark.django_db
def test_orm_works_in_the_main_thread_while_the_browser_stays_warm(fake, driver):
    from accounts.models import Account

    Account.objects.count()
    result = driver.run(make_task("Generate an image of a lamp"))
    assert result.files
    # The runner does exactly this right after driver.run(): ORM calls in the same thread.
    assert Account.objects.count() == 0
    assert browser_service.status() is not None
    assert threading.current_thread() is threading.main_thread()


KILL_CHILD = textwrap.dedent("""
    import os, sys, time, json, django
    from pathlib import Path
    django.setup()
    from accounts.cookies import parse_credentials
    from generation.drivers.base import DriverTask
    from generation.drivers.gemini.driver import GeminiDriver
    creds = parse_credentials(sys.argv[1], provider="gemini")
    task = DriverTask(job_id="kill", kind="generate", model="m", upstream_model="u",
                      params={"prompt": "Generate an image of a ship [fail:never_finish]"}, inputs=[],
                      credentials=creds, proxy="", region="", deadline=time.time() + 120)
    GeminiDriver().run(task)
""")  # a worker of its own, sharing the test process's browser service (same settings)


def wait_for_service(predicate, message: str, timeout: float = 15.0) -> dict:
    deadline = time.time() + timeout
    while True:
        status = browser_service.status()
        if status is not None and predicate(status):
            return status
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {message}: {status}")
        time.sleep(0.1)


def _browser_processes(pid: int) -> list[int]:
    return [p for p in descendants(pid) if running(p)]


def test_killed_worker_closes_its_context_and_the_browser_stays_warm(fake, driver):
    """A worker SIGKILLed mid-job: the service notices the dropped connection and closes the job's
    context (its renderer goes with it); the shared browser keeps serving."""
    driver.run(make_task("Generate an image of a warm-up"))
    before = browser_service.status()
    psid = new_psid()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "GEMINI_UPSTREAM_URL": fake.url,
           "CHROMIUM_PATH": CHROMIUM}
    child = subprocess.Popen([sys.executable, "-c", KILL_CHILD, exported_cookies(psid)], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        fake.wait_for(lambda s: any(x["psid"] == psid for x in s["submissions"]), timeout=30)
        assert browser_service.status()["contexts"] == 1
    finally:
        child.kill()
        child.wait(10)
    after = wait_for_service(lambda st: st["contexts"] == 0 and st["running"] == 0, "the killed job's context")
    assert after["pid"] == before["pid"] and after["launches"] == before["launches"]
    assert driver.run(make_task("Generate an image of a boat")).meta["warm_browser"] is True


def test_killed_service_leaves_no_browser_behind_and_is_restarted(fake, driver):
    driver.run(make_task("Generate an image of a warm-up"))
    service = browser_service.status()["pid"]
    family = _browser_processes(service)
    names = {Path(f"/proc/{p}/comm").read_text().strip() for p in family}
    assert any("chrom" in n for n in names) and any(n.startswith("node") for n in names), names
    os.kill(service, signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline and any(running(p) for p in family):
        time.sleep(0.1)
    assert not [p for p in family if running(p)], "browser processes outlived the killed service"
    result = driver.run(make_task("Generate an image of a phoenix"))  # a new service, a new browser
    assert result.files and result.meta["warm_browser"] is False
    assert browser_service.status()["pid"] != service


def test_missing_chromium_is_a_clear_operator_error(fake, driver, settings):
    settings.CHROMIUM_PATH = "/nonexistent/chromium"
    with pytest.raises(UpstreamFailure) as info:
        driver.run(make_task("Generate an image of a cat"))
    assert info.value.code == "browser_unavailable" and not info.value.failover
    assert "/nonexistent/chromium" in info.value.message
