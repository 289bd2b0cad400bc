"""The image endpoints' plumbing (validation, admission, waiting, files) with the test driver.

The real upstreams are covered by the Jimeng and Gemini end-to-end tests; these pin down the
gateway's own behaviour, so they use the `sleepy` test provider (tests/support/drivers.py).
"""

import base64
import io

import openai
import pytest
import requests
from PIL import Image

from generation.models import Generation
from tests.conftest import make_account

pytestmark = pytest.mark.slow


def png(w=32, h=32, color=(0, 128, 255)):
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "PNG")
    return buf.getvalue()


def test_generate_url_and_b64(sdk, live_gateway):
    make_account("img-a", max_concurrency=2)
    resp = sdk.images.generate(model="sleepy-image", prompt="a red square", size="1024x1024")
    assert resp.created and len(resp.data) == 1
    assert resp.size == "64x48" and resp.output_format == "png"
    fetched = requests.get(resp.data[0].url)
    assert fetched.status_code == 200 and fetched.content.startswith(b"\x89PNG")
    job = Generation.objects.get()
    assert job.params["ratio"] == "1:1" and job.params["resolution"] == "1k"

    resp = sdk.images.generate(model="sleepy-image", prompt="again", response_format="b64_json")
    img = Image.open(io.BytesIO(base64.b64decode(resp.data[0].b64_json)))
    assert img.size == (64, 48)


def test_validation_errors_are_400_with_param(sdk):
    make_account("img-v")
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.generate(model="sleepy-image", prompt="x", n=9)
    assert info.value.status_code == 400 and info.value.param == "n"
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.generate(model="sleepy-image", prompt="x", size="huge")
    assert info.value.param == "size"
    with pytest.raises(openai.NotFoundError) as info:
        sdk.images.generate(model="no-such-model", prompt="x")
    assert info.value.code == "model_not_found" and info.value.param == "model"
    assert Generation.objects.count() == 0


def test_bad_uploads_are_refused_and_leave_nothing(sdk, live_gateway, settings):
    make_account("img-u")
    before = sorted(p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()) if settings.MEDIA_ROOT.exists() else []
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.edit(model="sleepy-image", prompt="x", image=b"this is not an image")
    assert info.value.param == "image" and info.value.code == "invalid_image_format"
    truncated = png()[:60]
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.edit(model="sleepy-image", prompt="x", image=[png(), truncated])
    assert info.value.code == "invalid_image"
    after = sorted(p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()) if settings.MEDIA_ROOT.exists() else []
    assert before == after and Generation.objects.count() == 0


def test_edit_with_raw_bytes_and_list(sdk):
    make_account("img-e")
    resp = sdk.images.edit(model="sleepy-image", prompt="make it blue", image=png())  # filename="upload"
    assert len(resp.data) == 1
    resp = sdk.images.edit(model="sleepy-image", prompt="merge", image=[png(), png(20, 20)])
    job = Generation.objects.order_by("-created_at").first()
    assert job.kind == "edit" and len(job.inputs) == 2


def test_ssrf_is_refused(live_gateway, api_key):
    make_account("img-s")
    for url in ("http://127.0.0.1:1/x.png", "http://169.254.169.254/latest/meta-data", "file:///etc/passwd",
                "http://10.0.0.1/a.png", "http://[::1]/a.png"):
        resp = requests.post(live_gateway.base_url + "/v1/images/compositions",
                             headers={"Authorization": f"Bearer {api_key}"},
                             json={"model": "sleepy-image", "prompt": "x", "images": [url]})
        assert resp.status_code == 400, url
        assert resp.json()["error"]["param"] == "images[0]"


def test_overload_is_429_with_retry_after_ms(live_gateway, api_key, settings):
    make_account("img-429", max_concurrency=1)
    # MAX_QUEUE_BACKLOG jobs beyond capacity are admitted; the next one is refused at once.
    from generation import catalog
    from generation.service import create_job

    spec = catalog.resolve("sleepy-image")
    for _ in range(1 + settings.MAX_QUEUE_BACKLOG):
        create_job(api_key=None, spec=spec, kind="generate", params={"prompt": "sleep:5"})
    client = openai.OpenAI(api_key=api_key, base_url=live_gateway.base_url + "/v1", max_retries=0)
    with pytest.raises(openai.RateLimitError) as info:
        client.images.generate(model="sleepy-image", prompt="one too many")
    assert info.value.status_code == 429 and info.value.code == "rate_limit_exceeded"
    assert int(info.value.response.headers["retry-after-ms"]) > 0


def test_all_accounts_cooling_is_429_with_soonest_recovery(live_gateway, api_key):
    from django.utils import timezone

    make_account("cool-1", state="cooling", state_until=timezone.now() + timezone.timedelta(seconds=300))
    make_account("cool-2", state="cooling", state_until=timezone.now() + timezone.timedelta(seconds=90))
    resp = requests.post(live_gateway.base_url + "/v1/images/generations",
                         headers={"Authorization": f"Bearer {api_key}"},
                         json={"model": "sleepy-image", "prompt": "x"})
    assert resp.status_code == 429
    assert 85_000 <= int(resp.headers["retry-after-ms"]) <= 90_000
    assert "x-should-retry" not in resp.headers  # 90 s is within what the SDK will wait


def test_content_policy_is_400_without_cooldown(sdk):
    acc = make_account("img-p")
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.generate(model="sleepy-image", prompt="fail:policy")
    assert info.value.code == "content_policy_violation"
    acc.refresh_from_db()
    assert acc.state == "active"


def test_a_result_link_of_this_gateway_is_taken_back_as_an_input(live_gateway, api_key, sdk, settings):
    from generation.media import signed_url

    make_account("img-back")
    first = sdk.images.generate(model="sleepy-image", prompt="a red fox")
    # The link as a client on this machine holds it: the gateway's loopback address, which the
    # SSRF guard refuses for any other URL.
    link = live_gateway.base_url + "/files/" + first.data[0].url.split("/files/", 1)[1]
    assert link.startswith("http://127.0.0.1")
    headers = {"Authorization": f"Bearer {api_key}"}
    resp = requests.post(live_gateway.base_url + "/v1/images/compositions", headers=headers,
                         json={"model": "sleepy-image", "prompt": "and a blue one", "images": [link]})
    assert resp.status_code == 200, resp.text
    job = Generation.objects.order_by("-created_at").first()
    assert job.kind == "compose" and len(job.inputs) == 1
    stored = Generation.objects.order_by("created_at").first().files.get(kind="image").file.read()
    assert (settings.MEDIA_ROOT / job.inputs[0]).read_bytes() == stored
    for url, says in ((live_gateway.base_url + "/files/not-a-token", "not a valid link to a file of this gateway"),
                      (live_gateway.base_url + link, "port is not a number"),
                      (signed_url("jobs/nothing.png", ttl=1), "expired")):
        if says == "expired":
            __import__("time").sleep(2.1)
        resp = requests.post(live_gateway.base_url + "/v1/images/compositions", headers=headers,
                             json={"model": "sleepy-image", "prompt": "x", "images": [url]})
        assert resp.status_code == 400 and resp.json()["error"]["param"] == "images[0]", resp.text
        assert says in resp.json()["error"]["message"]


def test_a_failed_job_answers_with_its_id_as_a_success_does(live_gateway, api_key):
    make_account("img-fid")
    resp = requests.post(live_gateway.base_url + "/v1/images/generations", headers={"Authorization": f"Bearer {api_key}"},
                         json={"model": "sleepy-image", "prompt": "fail:policy"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "content_policy_violation"
    assert resp.headers["x-gateway-job-id"] == Generation.objects.get().public_id
