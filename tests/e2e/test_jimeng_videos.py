"""Jimeng / Dreamina videos end to end: the official SDK (3.x in-process, 2.x and 3.x in subprocesses)
→ live gateway → real qcluster → the real Jimeng video driver → the fake upstream. Only the far
side is fake; its job time is kept short."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time

import openai
import pytest
import requests
from PIL import Image

from generation.housekeeping import reap
from tests.conftest import ROOT, wait_until
from tests.e2e.conftest import jimeng_account
from tests.e2e.test_jimeng_images import ImageServer, png
from videos.models import VideoTask

pytestmark = pytest.mark.slow

DELAY = 1.0                       # the fake's generation time of one video, seconds
MODEL = "jimeng-video-3.0"
SDK_SCRIPT = ROOT / "tests" / "e2e" / "sdk_video_check.py"


def auth(key):
    return {"Authorization": f"Bearer {key}"}


# Jobs left running by earlier tests may still reach the shared fake after its reset (an image
# runner whose job row the test flush deleted goes on waiting for a lease, and takes one on the next
# test's fresh account). So everything below is scoped to the test's own sessionid and to videos.
def jobs_of(fake, session: str) -> list[dict]:
    return [j for j in fake.jobs() if j["session"] == session and j["kind"] == "video"]


def submissions(fake, session: str) -> int:
    return len(jobs_of(fake, session))


def only_job(fake, session: str) -> dict:
    jobs = jobs_of(fake, session)
    assert len(jobs) == 1, [(j["prompt"], j["created"]) for j in jobs]
    return jobs[0]


def requests_of(fake, session: str, endpoint: str) -> list[dict]:
    log = fake.state()["request_log"]
    return [e for e in log if e.get("endpoint") == endpoint and e.get("session") == session]


# --- the OpenAI Videos API ---------------------------------------------------------------------


def test_create_and_poll_then_download_thumbnail_and_range(sdk, live_gateway, api_key, fake_jimeng):
    _account, session = jimeng_account("jv-main")
    fake_jimeng.set_delay(DELAY)
    video = sdk.videos.create_and_poll(model=MODEL, prompt="a lion running on the grassland", seconds="5",
                                       size="1280x720", poll_interval_ms=200)
    assert video.status == "completed" and video.progress == 100, video.error
    assert video.seconds == "5" and video.size == "1280x720" and video.model == MODEL
    assert video.completed_at and video.expires_at

    data = sdk.videos.download_content(video.id).read()
    assert data[4:8] == b"ftyp"
    thumb = sdk.videos.download_content(video.id, variant="thumbnail").read()
    with Image.open(io.BytesIO(thumb)) as img:
        assert img.format == "JPEG" and img.size == (256, 144)   # the first frame of the high-bitrate file
    resp = requests.get(f"{live_gateway.base_url}/v1/videos/{video.id}/content",
                        headers={**auth(api_key), "Range": "bytes=0-99"})
    assert resp.status_code == 206 and resp.content == data[:100]
    assert resp.headers["content-range"] == f"bytes 0-99/{len(data)}"

    job = only_job(fake_jimeng, session)
    assert job["model"] == "dreamina_ic_generate_video_model_vgfm_3.0" and job["site"] == "cn"
    assert job["video"]["mode"] == "text" and job["video"]["aspect_ratio"] == "16:9"
    assert job["video"]["duration_ms"] == 5000 and job["video"]["resolution"] == "720p"
    task = VideoTask.objects.get()
    assert task.upstream_id == job["history_id"] and task.upstream_submissions == 1
    assert task.result_meta["history_id"] == job["history_id"]
    polls = len(requests_of(fake_jimeng, session, "history"))
    # The driver paces by the upstream's polling_config (DELAY / 4 here); the runner's floor is 0.2 s.
    leaked = [j for j in fake_jimeng.jobs() if j["session"] == session and j["kind"] != "video"]
    assert polls >= 2 and (leaked or polls <= 12), polls
    print(f"\nupstream history polls for one {DELAY:g} s video: {polls}")


@pytest.mark.parametrize("marker,code", [("gen_failed", "upstream_error"),
                                         ("content_policy", "content_policy_violation")])
def test_upstream_failure_ends_failed_with_a_code(sdk, fake_jimeng, marker, code):
    _account, session = jimeng_account(f"jv-fail-{marker}")
    fake_jimeng.set_delay(0.4)
    video = sdk.videos.create_and_poll(model=MODEL, prompt=f"a storm [fail:{marker}]", poll_interval_ms=200)
    assert video.status == "failed" and video.error.code == code
    assert "video job" in video.error.message
    assert submissions(fake_jimeng, session) == 1


def test_stuck_task_ends_with_timeout(sdk, fake_jimeng):
    from django.utils import timezone

    _account, session = jimeng_account("jv-stuck")
    video = sdk.videos.create(model=MODEL, prompt="forever [fail:never_finish]")
    VideoTask.objects.filter(prompt="forever [fail:never_finish]").update(
        deadline_at=timezone.now() + timezone.timedelta(seconds=2))
    final = sdk.videos.poll(video.id, poll_interval_ms=200)  # the SDK's poll has no timeout of its own
    assert final.status == "failed" and final.error.code == "timeout"
    assert only_job(fake_jimeng, session)["status"] == 45 and submissions(fake_jimeng, session) == 1


def test_seedance_2_is_refused_before_anything_reaches_the_upstream(sdk, fake_jimeng):
    # Its generate call needs a browser-made a_bogus (ret 1019 without one; the driver's mapping of
    # that is in tests/drivers/test_jimeng_video_driver.py): disabled by default, and said so.
    _first, session = jimeng_account("jv-seed-1")
    with pytest.raises(openai.NotFoundError) as info:
        sdk.videos.create(model="jimeng-video-seedance-2.0", prompt="a dancer")
    assert info.value.code == "model_not_found" and "disabled on this gateway" in info.value.message
    assert "jimeng-video-seedance-2.0" not in {m.id for m in sdk.models.list()}
    assert requests_of(fake_jimeng, session, "generate") == [] and VideoTask.objects.count() == 0


# --- exactly once ---------------------------------------------------------------------------------


def test_cluster_killed_mid_task_resumes_with_one_submission(sdk, live_gateway, fake_jimeng):
    _account, session = jimeng_account("jv-survivor")
    video = sdk.videos.create(model=MODEL, prompt="survivor [delay:5]")
    wait_until(lambda: VideoTask.objects.exclude(upstream_id="").exists(), 20, message="the upstream id")
    assert submissions(fake_jimeng, session) == 1
    live_gateway.stop_cluster(signal.SIGKILL)
    time.sleep(4)  # longer than HEARTBEAT_STALE_SECONDS in the test settings
    live_gateway.start_cluster()
    reap()  # the restarted cluster's reaper schedule, run now rather than at its next minute
    final = sdk.videos.poll(video.id, poll_interval_ms=200)
    assert final.status == "completed", final.error
    assert submissions(fake_jimeng, session) == 1
    task = VideoTask.objects.get()
    assert task.upstream_submissions == 1 and task.deliveries == 2
    assert task.upstream_id == only_job(fake_jimeng, session)["history_id"]
    assert sdk.videos.download_content(video.id).read()[4:8] == b"ftyp"


def test_retried_post_makes_one_upstream_job(live_gateway, api_key, fake_jimeng):
    _account, session = jimeng_account("jv-retry")
    fake_jimeng.set_delay(0.4)
    body = {"prompt": "once only", "model": MODEL, "seconds": "5"}
    first = requests.post(f"{live_gateway.base_url}/v1/videos", headers=auth(api_key), data=body)
    retry = requests.post(f"{live_gateway.base_url}/v1/videos",
                          headers={**auth(api_key), "x-stainless-retry-count": "1"}, data=body)
    assert first.status_code == retry.status_code == 200, retry.text
    assert first.json()["id"] == retry.json()["id"]

    def done():
        got = requests.get(f"{live_gateway.base_url}/v1/videos/{first.json()['id']}", headers=auth(api_key)).json()
        return got if got["status"] in ("completed", "failed") else None

    assert wait_until(done, 20, 0.2, "the video")["status"] == "completed"
    assert submissions(fake_jimeng, session) == 1 and VideoTask.objects.count() == 1


# --- the seeds' endpoints, with URL frames ---------------------------------------------------------


def test_seed_sync_and_v2_task_endpoints_with_url_frames(live_gateway, api_key, fake_jimeng):
    _account, session = jimeng_account("jv-seed", max_concurrency=2)
    fake_jimeng.set_delay(0.5)
    frame = png(96, 54, (250, 120, 0))
    server = ImageServer(frame)
    try:
        # Seed 001: synchronous, `file_paths` = [first frame URL].
        resp = requests.post(f"{live_gateway.base_url}/v1/videos/generations", headers=auth(api_key),
                             json={"model": MODEL, "prompt": "the sun rises", "file_paths": [server.url]})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert isinstance(body["created"], int) and len(body["data"]) == 1
        assert requests.get(body["data"][0]["url"]).content[4:8] == b"ftyp"
        resp = requests.post(f"{live_gateway.base_url}/v1/videos/generations", headers=auth(api_key),
                             json={"model": MODEL, "prompt": "as base64", "response_format": "b64_json"})
        assert resp.status_code == 200, resp.text
        assert base64.b64decode(resp.json()["data"][0]["b64_json"])[4:8] == b"ftyp"

        # Seed 000: async task API, `images` = [first frame URL], its model alias and parameters.
        created = requests.post(f"{live_gateway.base_url}/v2/videos/generations", headers=auth(api_key),
                                json={"prompt": "dance", "model": "doubao-seedance-1-0-lite-i2v-250428",
                                      "images": [server.url], "duration": 5, "resolution": "720p",
                                      "ratio": "16:9"})
    finally:
        server.close()
    task = created.json()
    assert created.status_code == 200, created.text
    assert task["id"].startswith("vtask_") and task["status"] == "queued" and isinstance(task["created"], int)
    assert task["model"] == "doubao-seedance-1-0-lite-i2v-250428"
    assert task["result"] is None and task["error"] is None

    def done():
        state = requests.get(f"{live_gateway.base_url}/v2/videos/generations/{task['id']}", headers=auth(api_key))
        return state.json() if state.json()["status"] in ("succeeded", "failed") else None

    final = wait_until(done, 30, 0.2, "the v2 task")
    assert final["status"] == "succeeded" and final["error"] is None, final
    assert set(final) >= {"id", "created", "status", "model", "result", "error"}
    assert final["result"]["last_frame_url"] is None
    assert requests.get(final["result"]["url"]).content[4:8] == b"ftyp"

    jobs = {j["prompt"]: j for j in jobs_of(fake_jimeng, session)}
    assert jobs["the sun rises"]["video"]["mode"] == "first_frame"
    assert jobs["dance"]["video"]["mode"] == "first_frame" and jobs["as base64"]["video"]["mode"] == "text"
    digest = hashlib.sha256(frame).hexdigest()
    assert sum(u["sha256"] == digest for u in fake_jimeng.uploads()) == 2


# --- the SDK, 2.x and 3.x ---------------------------------------------------------------------------


@pytest.mark.parametrize("major", ["3", "2"])
def test_official_sdk_round_trip(request, major, live_gateway, api_key, fake_jimeng):
    _account, session = jimeng_account(f"jv-sdk{major}")
    fake_jimeng.set_delay(0.5)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if major == "2":
        env["PYTHONPATH"] = str(request.getfixturevalue("sdk2_path"))
    proc = subprocess.run([sys.executable, str(SDK_SCRIPT), live_gateway.base_url + "/v1", api_key, MODEL, major],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["openai"].split(".")[0] == major and summary["bytes"] > 0
    assert submissions(fake_jimeng, session) == 1
