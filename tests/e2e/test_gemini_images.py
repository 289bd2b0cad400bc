"""Gemini images end to end: the official SDK → live gateway → real qcluster → the Playwright
driver in Debian's Chromium → the fake Gemini app. Only the far side is fake."""

import base64
import hashlib
import io
import os
import signal

import openai
import pytest
import requests
from PIL import Image

from accounts.models import Account
from generation import catalog
from generation.drivers.gemini import client as browser_service
from generation.housekeeping import reap
from generation.models import FailureArtifact, Generation
from generation.service import create_job
from tests.conftest import wait_until
from tests.e2e.conftest import gemini_account
from tests.support.processes import descendants, running

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"), reason="Debian's Chromium is not installed"),
]


def png(w=48, h=32, color=(250, 120, 0)):
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "PNG")
    return buf.getvalue()


def test_generate_url_and_b64_without_model(sdk, fake_gemini):
    gemini_account("gm-a")
    resp = sdk.images.generate(prompt="a cute orange cat")  # no model: DEFAULT_IMAGE_MODEL, as the seed's clients send
    image = Image.open(io.BytesIO(requests.get(resp.data[0].url).content))
    assert image.format == "PNG" and image.size[0] >= 1024
    resp = sdk.images.generate(model="imagen-3", prompt="a blue whale", response_format="b64_json")
    assert Image.open(io.BytesIO(base64.b64decode(resp.data[0].b64_json))).size[0] >= 1024
    prompts = [s["prompt"] for s in fake_gemini.state()["submissions"]]
    assert "a cute orange cat" in prompts[0] and "a blue whale" in prompts[1]


def test_edit_attaches_the_uploaded_file(sdk, fake_gemini):
    gemini_account("gm-edit")
    source = png()
    resp = sdk.images.edit(model="gemini-image", prompt="make it black", image=source, response_format="b64_json")
    assert resp.data[0].b64_json
    attached = fake_gemini.state()["submissions"][-1]
    assert hashlib.sha256(source).hexdigest() in str(attached)


def test_a_composition_on_gemini_is_an_edit_with_every_image_attached(live_gateway, api_key, fake_gemini):
    gemini_account("gm-compose")
    sources = [png(), png(20, 20, (0, 0, 255))]
    resp = requests.post(live_gateway.base_url + "/v1/images/compositions", headers={"Authorization": f"Bearer {api_key}"},
                         files=[("images", ("a.png", sources[0], "image/png")), ("images", ("b.png", sources[1], "image/png"))],
                         data={"model": "gemini-image", "prompt": "put them side by side"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["input_images"] == 2 and resp.json()["data"][0]["url"]
    job = Generation.objects.get()
    assert job.kind == "edit" and len(job.inputs) == 2
    attached = str(fake_gemini.state()["submissions"][-1])
    assert all(hashlib.sha256(source).hexdigest() in attached for source in sources)


def test_signed_out_account_expires_and_another_serves(sdk, fake_gemini):
    bad, _ = gemini_account("gm-1-bad", psid="expired-" + "0" * 24)
    good, _ = gemini_account("gm-2-good")
    Account.objects.filter(pk=good.pk).update(last_used_at="2001-01-01T00:00:00Z")
    resp = sdk.images.generate(model="gemini-image", prompt="still served")
    assert resp.data[0].url
    bad.refresh_from_db()
    assert bad.state == "expired"
    assert Generation.objects.get().account_id == good.pk


def test_usage_limit_takes_the_account_out_until_a_time(sdk, fake_gemini):
    account, _ = gemini_account("gm-limit")
    with pytest.raises(openai.RateLimitError) as info:
        sdk.images.generate(model="gemini-image", prompt="one more [fail:usage_limit]")
    assert info.value.status_code == 429 and info.value.code == "insufficient_quota"
    account.refresh_from_db()
    assert account.state in ("cooling", "exhausted") and account.cooldown_remaining() > 0


def test_refusal_is_400_content_policy(sdk, fake_gemini):
    account, _ = gemini_account("gm-refuse")
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.generate(model="gemini-image", prompt="something forbidden [fail:refusal]")
    assert info.value.code == "content_policy_violation"
    account.refresh_from_db()
    assert account.state == "active"


def test_jump_back_is_resubmitted(sdk, fake_gemini):
    gemini_account("gm-jump")
    resp = sdk.images.generate(model="gemini-image", prompt="try again [fail:jump_back:1]")
    assert resp.data[0].url
    assert len(fake_gemini.state()["submissions"]) == 2


def test_rotated_cookie_is_written_back(sdk, fake_gemini):
    account, _ = gemini_account("gm-rotate")
    before = {c["name"]: c["value"] for c in account.get_credentials().cookies}
    sdk.images.generate(model="gemini-image", prompt="rotate please")
    account.refresh_from_db()
    after = {c["name"]: c["value"] for c in account.get_credentials().cookies}
    assert after["__Secure-1PSIDTS"] != before["__Secure-1PSIDTS"]
    assert after["__Secure-1PSID"] == before["__Secure-1PSID"]


def renderer_pids(service_pid: int) -> set[int]:
    found = set()
    for pid in descendants(service_pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if b"--type=renderer" in handle.read():
                    found.add(pid)
        except OSError:
            pass
    return found


def is_chromium(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"chrom" in handle.read()
    except OSError:
        return False


def test_timeout_leaves_artifacts_and_a_healthy_worker(live_gateway, transactional_db, fake_gemini):
    gemini_account("gm-stuck")
    job = create_job(api_key=None, spec=catalog.resolve("gemini-image"), kind="generate",
                     params={"prompt": "never [fail:never_finish]"}, timeout=12)
    wait_until(lambda: Generation.objects.get(pk=job.pk).is_terminal, 30, 0.2, "the stuck job to end")
    job.refresh_from_db()
    assert job.status == "failed" and job.error_code == "timeout"
    kinds = set(FailureArtifact.objects.filter(job=job).values_list("kind", flat=True))
    assert {"screenshot", "html", "console"} <= kinds
    shot = FailureArtifact.objects.get(job=job, kind="screenshot")
    assert Image.open(shot.file.path).format == "PNG"
    after = create_job(api_key=None, spec=catalog.resolve("gemini-image"), kind="generate",
                       params={"prompt": "the next one"})
    wait_until(lambda: Generation.objects.get(pk=after.pk).is_terminal, 30, 0.2, "the next job")
    assert Generation.objects.get(pk=after.pk).status == "succeeded"


def test_sigkilled_worker_leaves_no_chromium_and_the_job_ends(live_gateway, transactional_db, fake_gemini):
    """The worker dies mid-job: the machine's browser service sees its connection drop and closes the
    job's context (and with it the job's renderer); the shared browser stays up for other jobs."""
    account, _ = gemini_account("gm-kill")
    fake_gemini.set_delay(30)
    job = create_job(api_key=None, spec=catalog.resolve("gemini-image"), kind="generate",
                     params={"prompt": "long one"}, timeout=15)
    wait_until(lambda: Generation.objects.get(pk=job.pk).status == "running", 20, message="the job to start")
    pid = int(Generation.objects.get(pk=job.pk).worker.rsplit(":", 1)[1])
    service = wait_until(lambda: (browser_service.status() or {}).get("contexts") == 1 and browser_service.status(),
                         20, 0.2, "the job's browser context")
    wait_until(lambda: len(renderer_pids(service["pid"])) > browser_service.status()["spares"], 10, 0.2,
               "the job's renderer")
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: browser_service.status()["contexts"] == 0, 15, 0.2, "the service to close the context")
    # Only the spare context made for the next job may keep a renderer.
    wait_until(lambda: len(renderer_pids(service["pid"])) <= browser_service.status()["spares"], 15, 0.2,
               "the job's renderer to exit")
    assert browser_service.status()["pid"] == service["pid"]  # the shared browser is still serving
    fake_gemini.set_delay(0.3)

    def ended():
        reap()
        return Generation.objects.get(pk=job.pk).is_terminal

    wait_until(ended, 40, 0.5, "the job to end")
    job.refresh_from_db()
    assert job.finished_at <= job.deadline_at + __import__("datetime").timedelta(seconds=3)
    assert Account.objects.get(pk=account.pk).active_leases == 0


def test_stopping_the_cluster_stops_its_browser_service(live_gateway, transactional_db, fake_gemini):
    """What `make run`'s Ctrl-C does to the cluster (SIGTERM): the browser service a worker started
    goes with it, node and Chromium included."""
    earlier = browser_service.status()
    if earlier is not None:
        # Started by an earlier in-process test, so owned by pytest: a worker must start the next.
        os.kill(earlier["pid"], signal.SIGKILL)
        wait_until(lambda: browser_service.status() is None, 10, 0.1, "the earlier service to go")
    gemini_account("gm-stop")
    job = create_job(api_key=None, spec=catalog.resolve("gemini-image"), kind="generate",
                     params={"prompt": "before the stop"})
    wait_until(lambda: Generation.objects.get(pk=job.pk).is_terminal, 60, 0.2, "the job")
    done = Generation.objects.get(pk=job.pk)
    assert done.status == "succeeded", (done.error_code, done.error_message)
    service = browser_service.status()["pid"]
    family = {service} | descendants(service)
    assert any(is_chromium(p) for p in family)
    live_gateway.stop_cluster(signal.SIGTERM, grace=15)
    try:
        wait_until(lambda: not any(running(p) for p in family), 15, 0.2, "the browser service to stop")
    finally:
        live_gateway.start_cluster()
