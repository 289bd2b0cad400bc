"""The three video surfaces over one task model, with the test driver (`sleepy-video`).

The Jimeng video driver against the fake upstream has its own end-to-end tests; these pin the
gateway's behaviour: shapes, pagination, content with Range, delete, idempotency, crash resume,
deadlines and webhooks.
"""

import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest
import requests

from api.models import ApiKey
from generation.housekeeping import reap
from tests.conftest import WEBHOOK_RECEIVER_PORT, make_account, wait_until
from tests.support.drivers import submissions_for
from videos.models import VideoTask

pytestmark = pytest.mark.slow


@pytest.fixture
def video_account(transactional_db):
    return make_account("vid-a", max_concurrency=4)


def auth(key):
    return {"Authorization": f"Bearer {key}"}


def test_create_and_poll_download_thumbnail_range(sdk, video_account, live_gateway, api_key):
    video = sdk.videos.create_and_poll(model="sleepy-video", prompt="a panda video:1", seconds="5",
                                       size="1280x720", poll_interval_ms=200)
    assert video.status == "completed" and video.progress == 100
    assert video.id.startswith("video_") and video.seconds == "5" and video.size == "1280x720"
    content = sdk.videos.download_content(video.id)
    data = content.read()
    assert data[4:8] == b"ftyp"
    thumb = sdk.videos.download_content(video.id, variant="thumbnail").read()
    assert thumb[:3] == b"\xff\xd8\xff"
    resp = requests.get(f"{live_gateway.base_url}/v1/videos/{video.id}/content", headers={**auth(api_key),
                        "Range": "bytes=0-99"})
    assert resp.status_code == 206 and len(resp.content) == 100
    assert resp.headers["content-range"] == f"bytes 0-99/{len(data)}"
    resp = requests.get(f"{live_gateway.base_url}/v1/videos/{video.id}/content?variant=spritesheet",
                        headers=auth(api_key))
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "variant"


def test_retrieve_sends_poll_hint_and_list_paginates_own_videos(sdk, video_account, live_gateway, api_key):
    created = [sdk.videos.create(model="sleepy-video", prompt=f"clip {i} video:30") for i in range(5)]
    raw = requests.get(f"{live_gateway.base_url}/v1/videos/{created[0].id}", headers=auth(api_key))
    assert raw.status_code == 200 and int(raw.headers["openai-poll-after-ms"]) > 0
    assert raw.json()["status"] in ("queued", "in_progress")
    _other, other_raw = ApiKey.issue("someone else")
    requests.post(f"{live_gateway.base_url}/v1/videos", headers=auth(other_raw),
                  data={"prompt": "not yours video:30", "model": "sleepy-video"})
    seen = [v.id for v in sdk.videos.list(limit=2)]  # auto-pagination over has_more / after
    assert seen == [v.id for v in reversed(created)]
    page = sdk.videos.list(limit=2, order="asc")
    assert [v.id for v in page.data] == [created[0].id, created[1].id] and page.has_more
    with pytest.raises(openai.NotFoundError):
        sdk.videos.retrieve(VideoTask.objects.get(prompt="not yours video:30").openai_id)
    for cursor in ("garbage", VideoTask.objects.get(prompt="not yours video:30").openai_id):
        with pytest.raises(openai.NotFoundError) as info:
            sdk.videos.list(after=cursor)
        assert info.value.param == "after"


def test_delete_removes_files_and_later_retrieve_is_404(sdk, video_account):
    video = sdk.videos.create_and_poll(model="sleepy-video", prompt="short video:0.5", poll_interval_ms=200)
    task = VideoTask.objects.get()
    paths = [a.file.path for a in task.assets.all()]
    deleted = sdk.videos.delete(video.id)
    assert deleted.deleted is True and deleted.id == video.id
    assert not any(__import__("os").path.exists(p) for p in paths)
    with pytest.raises(openai.NotFoundError):
        sdk.videos.retrieve(video.id)


def test_running_video_cannot_be_deleted(sdk, video_account):
    video = sdk.videos.create(model="sleepy-video", prompt="long video:30")
    with pytest.raises(openai.ConflictError):
        openai.OpenAI(api_key=sdk.api_key, base_url=str(sdk.base_url), max_retries=0).videos.delete(video.id)


def test_upstream_failure_is_failed_with_code(sdk, video_account):
    video = sdk.videos.create_and_poll(model="sleepy-video", prompt="fail:video video:0.3", poll_interval_ms=200)
    assert video.status == "failed"
    assert video.error.code == "content_policy_violation"


def test_stuck_task_ends_with_timeout(sdk, video_account):
    from django.utils import timezone

    video = sdk.videos.create(model="sleepy-video", prompt="stuck video:1000")
    VideoTask.objects.filter(prompt="stuck video:1000").update(deadline_at=timezone.now() + timezone.timedelta(seconds=2))
    final = sdk.videos.poll(video.id, poll_interval_ms=200)  # the SDK's poll has no timeout of its own
    assert final.status == "failed" and final.error.code == "timeout"


def test_cluster_killed_mid_task_resumes_with_one_submission(sdk, video_account, live_gateway):
    video = sdk.videos.create(model="sleepy-video", prompt="survivor video:4")
    wait_until(lambda: VideoTask.objects.filter(prompt="survivor video:4").exclude(upstream_id="").exists(), 20,
               message="the upstream id to be stored")
    live_gateway.stop_cluster(signal.SIGKILL)
    time.sleep(4)  # longer than HEARTBEAT_STALE_SECONDS in the test settings
    live_gateway.start_cluster()
    reap()  # the restarted cluster's reaper schedule, run now rather than at its next minute
    final = sdk.videos.poll(video.id, poll_interval_ms=200)
    assert final.status == "completed"
    assert submissions_for("survivor") == 1
    task = VideoTask.objects.get(prompt="survivor video:4")
    assert task.upstream_submissions == 1 and task.deliveries == 2


def test_retried_post_joins_the_first_job(live_gateway, api_key, video_account):
    body = {"prompt": "once only video:0.5", "model": "sleepy-video", "seconds": "5"}
    first = requests.post(f"{live_gateway.base_url}/v1/videos", headers=auth(api_key), data=body)
    retry = requests.post(f"{live_gateway.base_url}/v1/videos",
                          headers={**auth(api_key), "x-stainless-retry-count": "1"}, data=body)
    assert first.status_code == retry.status_code == 200
    assert first.json()["id"] == retry.json()["id"]
    keyed = [requests.post(f"{live_gateway.base_url}/v1/videos",
                           headers={**auth(api_key), "Idempotency-Key": "abc-123"},
                           json={**body, "prompt": "keyed video:0.5"}) for _ in range(2)]
    assert keyed[0].json()["id"] == keyed[1].json()["id"]
    clash = requests.post(f"{live_gateway.base_url}/v1/videos", headers={**auth(api_key), "Idempotency-Key": "abc-123"},
                          json={**body, "prompt": "different"})
    assert clash.status_code == 422 and clash.json()["error"]["code"] == "idempotency_key_reused"
    wait_until(lambda: submissions_for("once only") >= 1 and submissions_for("keyed") >= 1, 20, message="runs")
    time.sleep(0.5)
    assert submissions_for("once only") == 1 and submissions_for("keyed") == 1


class Receiver:
    """A local webhook endpoint; answers with the queued statuses, then 200."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.received = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((body, dict(self.headers)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", WEBHOOK_RECEIVER_PORT), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_signed_webhook_verifies_with_sdk_and_failures_are_retried(live_gateway, video_account):
    from django.utils import timezone

    from videos.models import WebhookDelivery
    from videos.webhooks import dispatch_due

    key, raw = ApiKey.issue("hooked", webhook_url=f"http://127.0.0.1:{WEBHOOK_RECEIVER_PORT}/hook")
    receiver = Receiver(statuses=[500])
    try:
        client = openai.OpenAI(api_key=raw, base_url=live_gateway.base_url + "/v1", max_retries=0,
                               webhook_secret=key.webhook_secret)
        video = client.videos.create_and_poll(model="sleepy-video", prompt="hooked video:0.3", poll_interval_ms=200)
        wait_until(lambda: len(receiver.received) >= 1, 20, message="the first delivery")
        delivery = WebhookDelivery.objects.get()
        wait_until(lambda: WebhookDelivery.objects.get().attempts == 1 and
                   WebhookDelivery.objects.get().status == "pending" and
                   WebhookDelivery.objects.get().last_status_code == 500, 10, message="the failure to be recorded")
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        dispatch_due()  # the minute schedule, run now
        wait_until(lambda: WebhookDelivery.objects.get().status == "delivered", 20, message="the retry")
        assert len(receiver.received) == 2

        body, headers = receiver.received[-1]
        event = client.webhooks.unwrap(body, headers)
        assert event.type == "video.completed" and event.data.id == video.id
        tampered = body.replace(video.id.encode(), b"video_" + b"0" * 32)
        with pytest.raises(openai.InvalidWebhookSignatureError):
            client.webhooks.unwrap(tampered, headers)
    finally:
        receiver.close()


def test_seed_sync_and_v2_task_endpoints(live_gateway, api_key, video_account):
    resp = requests.post(f"{live_gateway.base_url}/v1/videos/generations", headers=auth(api_key),
                         json={"model": "sleepy-video", "prompt": "sync video:0.3", "ratio": "9:16"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["created"] and requests.get(body["data"][0]["url"]).content[4:8] == b"ftyp"

    created = requests.post(f"{live_gateway.base_url}/v2/videos/generations", headers=auth(api_key),
                            json={"model": "sleepy-video", "prompt": "task video:0.3", "duration": 5})
    task = created.json()
    assert created.status_code == 200 and task["id"].startswith("vtask_") and task["status"] == "queued"
    assert task["result"] is None and task["error"] is None

    def done():
        state = requests.get(f"{live_gateway.base_url}/v2/videos/generations/{task['id']}", headers=auth(api_key))
        return state.json() if state.json()["status"] in ("succeeded", "failed") else None

    final = wait_until(done, 20, 0.2, "the v2 task")
    assert final["status"] == "succeeded" and final["result"]["url"] and final["result"]["last_frame_url"] is None
    missing = requests.get(f"{live_gateway.base_url}/v2/videos/generations/vtask_{'0' * 32}", headers=auth(api_key))
    assert missing.status_code == 404


def test_bad_video_requests(live_gateway, api_key, video_account):
    url = f"{live_gateway.base_url}/v1/videos"
    bad = requests.post(url, headers=auth(api_key), data={"model": "sleepy-video", "prompt": "x", "seconds": "7"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "seconds"
    bad = requests.post(url, headers=auth(api_key), data={"model": "sleepy-video"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "prompt"
    bad = requests.post(url, headers=auth(api_key), data={"model": "sleepy-image", "prompt": "x"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "model"
    bad = requests.post(url, headers=auth(api_key),
                        data={"model": "sleepy-video", "prompt": "x", "input_reference[image_url]": "http://10.1.2.3/a.png"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "input_reference[image_url]"
    assert VideoTask.objects.count() == 0


def test_retrieve_fast_path_errors_keep_the_envelope(live_gateway, api_key, video_account):
    url = f"{live_gateway.base_url}/v1/videos/video_{'0' * 32}"
    for headers, status, code in (({}, 401, "invalid_api_key"),
                                  ({"Authorization": "Bearer sk-gw-wrong"}, 401, "invalid_api_key"),
                                  (auth(api_key), 404, "not_found")):
        resp = requests.get(url, headers=headers)
        assert resp.status_code == status
        assert resp.headers["x-request-id"].startswith("req_")
        assert resp.json()["error"]["code"] == code
