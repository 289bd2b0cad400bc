"""Jimeng / Dreamina images end to end: the official SDK → live gateway → real qcluster → the
real driver → the fake upstream. Only the far side is fake."""

import base64
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest
import requests
from PIL import Image

from accounts.models import Account
from generation.models import Generation
from tests.conftest import WEBHOOK_RECEIVER_PORT
from tests.e2e.conftest import jimeng_account

pytestmark = pytest.mark.slow

# Seed 001's table: resolution × ratio → pixel size.
SIZES = {
    "1k": {"1:1": (1328, 1328), "4:3": (1472, 1104), "3:4": (1104, 1472), "16:9": (1664, 936), "9:16": (936, 1664),
           "3:2": (1584, 1056), "2:3": (1056, 1584), "21:9": (2016, 864)},
    "2k": {"1:1": (2048, 2048), "4:3": (2304, 1728), "3:4": (1728, 2304), "16:9": (2560, 1440),
           "9:16": (1440, 2560), "3:2": (2496, 1664), "2:3": (1664, 2496), "21:9": (3024, 1296)},
    "4k": {"1:1": (4096, 4096), "4:3": (4608, 3456), "3:4": (3456, 4608), "16:9": (5120, 2880),
           "9:16": (2880, 5120), "3:2": (4992, 3328), "2:3": (3328, 4992), "21:9": (6048, 2592)},
}


def png(w=40, h=30, color=(10, 200, 90)):
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "PNG")
    return buf.getvalue()


def image_size(resp_item):
    if resp_item.b64_json:
        data = base64.b64decode(resp_item.b64_json)
    else:
        data = requests.get(resp_item.url).content
    return Image.open(io.BytesIO(data)).size


def test_generate_n1_url_and_n4_b64(sdk, fake_jimeng):
    jimeng_account("jm-a", max_concurrency=2)
    one = sdk.images.generate(model="jimeng-4.0", prompt="a lighthouse", extra_body={"ratio": "16:9",
                                                                                   "resolution": "1k"})
    assert len(one.data) == 1 and one.size == "1664x936"
    assert image_size(one.data[0]) == (1664, 936)
    four = sdk.images.generate(model="jimeng-4.5", prompt="four cats", n=4, response_format="b64_json",
                               size="1024x1024")
    assert len(four.data) == 4
    assert all(image_size(item) == (1328, 1328) for item in four.data)
    assert fake_jimeng.submissions() == 2


def test_every_ratio_and_resolution_gives_the_table_size(sdk, fake_jimeng):
    jimeng_account("jm-sizes", max_concurrency=8)
    results = {}

    def one(resolution, ratio):
        resp = sdk.images.generate(model="jimeng-4.0", prompt=f"grid {ratio} {resolution}",
                                   extra_body={"ratio": ratio, "resolution": resolution})
        results[(resolution, ratio)] = (resp.size, image_size(resp.data[0]))

    threads = [threading.Thread(target=one, args=(res, ratio)) for res in SIZES for ratio in SIZES[res]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for res, table in SIZES.items():
        for ratio, (w, h) in table.items():
            assert results[(res, ratio)] == (f"{w}x{h}", (w, h)), (res, ratio)


def test_edits_one_image_a_list_and_raw_bytes(sdk, fake_jimeng):
    import hashlib

    _acc, session = jimeng_account("jm-edit")
    first, second = png(color=(1, 2, 3)), png(50, 50, (200, 0, 0))
    with io.BytesIO(first) as handle:
        handle.name = "first.png"
        sdk.images.edit(model="jimeng-4.0", prompt="make it red", image=handle)
    sdk.images.edit(model="jimeng-4.0", prompt="merge", image=[first, second])
    sdk.images.edit(model="jimeng-4.0", prompt="raw", image=second)  # filename="upload", octet-stream
    uploaded = [u["sha256"] for u in fake_jimeng.uploads()]
    assert uploaded.count(hashlib.sha256(first).hexdigest()) == 2
    assert uploaded.count(hashlib.sha256(second).hexdigest()) == 2
    assert [g.kind for g in Generation.objects.order_by("created_at")] == ["edit"] * 3


class ImageServer:
    def __init__(self, body: bytes):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", WEBHOOK_RECEIVER_PORT), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{WEBHOOK_RECEIVER_PORT}/input.png"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_compositions_by_url_and_by_upload(live_gateway, api_key, fake_jimeng):
    jimeng_account("jm-compose")
    server = ImageServer(png(64, 64, (0, 0, 255)))
    try:
        resp = requests.post(f"{live_gateway.base_url}/v1/images/compositions",
                             headers={"Authorization": f"Bearer {api_key}"},
                             json={"model": "jimeng-4.0", "prompt": "oil painting", "images": [server.url],
                                   "ratio": "1:1", "resolution": "1k", "sample_strength": 0.7})
    finally:
        server.close()
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["input_images"] == 1 and body["composition_type"] == "multi_image_synthesis"
    assert Image.open(io.BytesIO(requests.get(body["data"][0]["url"]).content)).size == (1328, 1328)
    resp = requests.post(f"{live_gateway.base_url}/v1/images/compositions",
                         headers={"Authorization": f"Bearer {api_key}"},
                         files=[("images", ("a.png", png(), "image/png")), ("images", ("b.png", png(20, 20), "image/png"))],
                         data={"model": "jimeng-4.0", "prompt": "merge these", "resolution": "1k"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["input_images"] == 2
    assert len(fake_jimeng.uploads()) == 3


@pytest.mark.parametrize("marker,status,code,state", [
    ("login", 503, "account_expired", "expired"),
    # Refused for credits while the account still holds enough for an image: the job alone gives
    # up on it, the account is not parked (an empty one is: test_out_of_credits_moves_to_another_account).
    ("no_credits", 429, "insufficient_quota", "active"),
    ("antibot", 429, "rate_limit_exceeded", "cooling"),
    ("abnormal", 429, "rate_limit_exceeded", "cooling"),
    ("busy", 429, "rate_limit_exceeded", "cooling"),
    ("rate_limit", 429, "rate_limit_exceeded", "cooling"),
    ("content_policy", 400, "content_policy_violation", "active"),
    ("gen_failed", 502, "upstream_error", "active"),
    ("version", 502, "generation_blocked", "active"),
    ("region", 502, "generation_blocked", "active"),
    ("http_500", 502, "upstream_error", "active"),
])
def test_failure_cases_map_to_status_code_and_account_state(sdk, fake_jimeng, marker, status, code, state):
    account, _session = jimeng_account(f"jm-fail-{marker}")
    with pytest.raises(openai.APIStatusError) as info:
        sdk.images.generate(model="jimeng-4.0", prompt=f"a test [fail:{marker}]")
    assert info.value.status_code == status, info.value.message
    assert info.value.code == code
    account.refresh_from_db()
    assert account.state == state
    job = Generation.objects.get()
    if status != 400:
        assert job.upstream_log, "the failed exchange is kept for the operator"
    assert "sessionid" not in str(job.upstream_log) or "[redacted]" in str(job.upstream_log)
    assert _session not in str(job.upstream_log) and _session not in info.value.message


def test_partial_results_are_returned(sdk, fake_jimeng):
    jimeng_account("jm-partial")
    resp = sdk.images.generate(model="jimeng-4.0", prompt="half [fail:partial]", n=4)
    assert 1 <= len(resp.data) < 4


def test_failover_from_expired_account_to_healthy_one(sdk, fake_jimeng):
    bad, bad_session = jimeng_account("jm-1-bad")
    good, _ = jimeng_account("jm-2-good")
    fake_jimeng.invalidate_session(bad_session)
    Account.objects.filter(pk=good.pk).update(last_used_at="2001-01-01T00:00:00Z")  # the bad one goes first
    resp = sdk.images.generate(model="jimeng-4.0", prompt="served anyway")
    assert len(resp.data) == 1
    bad.refresh_from_db()
    assert bad.state == "expired"
    job = Generation.objects.get()
    assert job.account_id == good.pk and job.attempts == 2


def test_out_of_credits_moves_to_another_account(sdk, fake_jimeng):
    poor, poor_session = jimeng_account("jm-1-poor")
    rich, _ = jimeng_account("jm-2-rich")
    fake_jimeng.set_credits(poor_session, gift=0, purchase=0, vip=0, daily_quota=0)
    Account.objects.filter(pk=rich.pk).update(last_used_at="2001-01-01T00:00:00Z")
    resp = sdk.images.generate(model="jimeng-4.0", prompt="paid by the other one")
    assert len(resp.data) == 1
    poor.refresh_from_db()
    assert poor.state == "exhausted" and poor.state_until is not None


def test_overload_gives_429_with_retry_after_ms(live_gateway, api_key, fake_jimeng, settings):
    jimeng_account("jm-busy", max_concurrency=1)
    fake_jimeng.set_delay(2)
    # A short client timeout: the gateway answers the admitted ones before it (504), keeping the test fast.
    client = openai.OpenAI(api_key=api_key, base_url=live_gateway.base_url + "/v1", max_retries=0, timeout=4)
    errors = []

    def fire():
        try:
            client.images.generate(model="jimeng-4.0", prompt="crowd")
        except openai.RateLimitError as exc:
            errors.append(exc)
        except openai.APIError:
            pass

    threads = [threading.Thread(target=fire) for _ in range(settings.MAX_QUEUE_BACKLOG + 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors, "some requests beyond capacity + backlog must be refused"
    assert all(int(e.response.headers["retry-after-ms"]) > 0 for e in errors)


@pytest.mark.parametrize("major", ["3", "2"])
def test_official_sdk_2x_and_3x_images_round_trip(request, major, live_gateway, api_key, fake_jimeng):
    from pathlib import Path

    from tests.e2e.conftest import run_sdk_script

    jimeng_account(f"jm-sdk{major}", max_concurrency=2)
    sdk2 = request.getfixturevalue("sdk2_path") if major == "2" else None
    proc = run_sdk_script(Path(__file__).with_name("sdk_images_check.py"), major, sdk2,
                          live_gateway.base_url + "/v1", api_key, "jimeng-4.0")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert json.loads(proc.stdout.strip().splitlines()[-1])["openai"].split(".")[0] == major
