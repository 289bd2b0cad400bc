"""`POST /v1/chat/completions` through the official SDK against the live gateway (test driver `sleepy`).

Pins the chat surface: media links in the answer, image parts turning a turn into an edit or a
composition, videos, the streaming wire (role chunk, progress from the job's real state, pings,
usage, [DONE], error frames) and refusals that come back as JSON before any stream starts.
"""

import base64
import io
import json
import re
import time

import openai
import pytest
import requests
from PIL import Image

from api.models import ApiKey
from generation.models import Generation
from tests.conftest import LiveGateway, in_fresh_loop, make_account
from videos.models import VideoTask

pytestmark = pytest.mark.slow

IMAGE_LINK = re.compile(r"!\[image_(\d+)\]\((http[^)\s]+)\)")
VIDEO_LINK = re.compile(r"(?<!!)\[video\]\((http[^)\s]+)\)")


def png_data_url(w=32, h=32, color=(0, 128, 255)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def user(content):
    return [{"role": "user", "content": content}]


def auth(key):
    return {"Authorization": f"Bearer {key}"}


def sse_lines(resp):
    """(arrival time, line) for each non-empty line of a raw event stream."""
    for line in resp.iter_lines(decode_unicode=True):
        if line:
            yield time.time(), line


def test_non_stream_image_answers_markdown_links_to_our_png(sdk):
    make_account("chat-a", max_concurrency=2)
    messages = [{"role": "system", "content": "You draw."}, {"role": "user", "content": "an old prompt"},
                {"role": "assistant", "content": "![image_0](http://x/old.png)"},
                {"role": "user", "content": "a red square"}]
    resp = sdk.chat.completions.create(model="sleepy-image", messages=messages, extra_body={"size": "1792x1024"})
    assert resp.object == "chat.completion" and resp.id.startswith("chatcmpl-")
    assert isinstance(resp.created, int) and resp.model == "sleepy-image"
    choice = resp.choices[0]
    assert choice.message.role == "assistant" and choice.finish_reason == "stop"
    links = IMAGE_LINK.findall(choice.message.content)
    assert [index for index, _url in links] == ["0"]
    fetched = requests.get(links[0][1])
    assert fetched.status_code == 200 and fetched.content.startswith(b"\x89PNG")
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens > 0
    job = Generation.objects.get()
    assert job.kind == "generate" and job.params["prompt"] == "a red square"
    assert job.params["ratio"] == "16:9" and job.params["resolution"] == "2k"
    assert resp.id == f"chatcmpl-{job.pk.hex}"


def test_n_makes_several_images(sdk):
    make_account("chat-n", max_concurrency=2)
    resp = sdk.chat.completions.create(model="sleepy-image", messages=user("two of them"), n=2)
    assert Generation.objects.get().params["n"] == 2
    assert IMAGE_LINK.findall(resp.choices[0].message.content)


def test_data_url_image_part_makes_an_edit(sdk):
    make_account("chat-e", max_concurrency=2)
    resp = sdk.chat.completions.create(model="sleepy-image", messages=user([
        {"type": "text", "text": "make it"}, {"type": "text", "text": "blue"},
        {"type": "image_url", "image_url": {"url": png_data_url()}}]))
    assert IMAGE_LINK.search(resp.choices[0].message.content)
    job = Generation.objects.get()
    assert job.kind == "edit" and len(job.inputs) == 1
    assert job.params["prompt"] == "make it\nblue"


def test_two_image_parts_make_a_composition(sdk):
    make_account("chat-c", max_concurrency=2)
    sdk.chat.completions.create(model="sleepy-image", messages=user([
        {"type": "image_url", "image_url": {"url": png_data_url()}},
        {"type": "image_url", "image_url": png_data_url(20, 20, (255, 0, 0))},  # the older bare-string form
        {"type": "text", "text": "merge these"}]))
    job = Generation.objects.get()
    assert job.kind == "compose" and len(job.inputs) == 2


def test_video_model_answers_a_link_to_an_mp4(sdk):
    make_account("chat-v", max_concurrency=2)
    resp = sdk.chat.completions.create(model="sleepy-video", messages=user("a panda video:1"),
                                       extra_body={"duration": 10, "ratio": "9:16"})
    content = resp.choices[0].message.content
    video_url = VIDEO_LINK.search(content).group(1)
    assert requests.get(video_url).content[4:8] == b"ftyp"
    thumb = re.search(r"!\[video thumbnail\]\((http[^)\s]+)\)", content).group(1)
    assert requests.get(thumb).content[:3] == b"\xff\xd8\xff"
    task = VideoTask.objects.get()
    assert task.params["seconds"] == 10 and task.params["ratio"] == "9:16" and task.prompt == "a panda video:1"


def test_video_with_a_frame_image(sdk):
    make_account("chat-vf", max_concurrency=2)
    sdk.chat.completions.create(model="sleepy-video", messages=user([
        {"type": "text", "text": "animate it video:0.3"}, {"type": "image_url", "image_url": {"url": png_data_url()}}]))
    assert len(VideoTask.objects.get().inputs) == 1
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="sleepy-video", messages=user(
            [{"type": "text", "text": "three frames"}] +
            [{"type": "image_url", "image_url": {"url": png_data_url()}}] * 3))
    assert info.value.param == "messages"


def test_stream_shape_role_first_then_stop_usage_done(sdk):
    make_account("chat-s", max_concurrency=2)
    stream = sdk.chat.completions.create(model="sleepy-image", messages=user("a streamed square sleep:0.5"), stream=True,
                                         stream_options={"include_usage": True})
    chunks = list(stream)  # ends cleanly at [DONE]
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].choices[0].delta.content == ""
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert chunks[-2].choices[0].finish_reason == "stop" and chunks[-2].choices[0].delta.content is None
    content = "".join(c.choices[0].delta.content or "" for c in chunks[:-1])
    url = IMAGE_LINK.search(content).group(2)
    assert requests.get(url).content.startswith(b"\x89PNG")
    assert "Queued…" in content or "Generating…" in content  # progress before the media

    stream = sdk.chat.completions.create(model="sleepy-image", messages=user("no usage asked"), stream=True)
    chunks = list(stream)
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage is None


def test_stream_raw_wire_and_headers(live_gateway, api_key):
    make_account("chat-w", max_concurrency=2)
    resp = requests.post(live_gateway.base_url + "/v1/chat/completions", headers=auth(api_key), stream=True,
                         json={"model": "sleepy-image", "messages": user("raw sleep:0.5"), "stream": True})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert resp.headers["cache-control"] == "no-cache" and resp.headers["x-accel-buffering"] == "no"
    assert resp.headers["x-request-id"].startswith("req_")
    lines = [line for _t, line in sse_lines(resp)]
    data = [line[len("data: "):] for line in lines if line.startswith("data: ")]
    assert data[-1] == "[DONE]" and "Generating…" in "".join(data)  # decoded as the declared UTF-8
    frames = [json.loads(d) for d in data[:-1]]
    assert frames[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert frames[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert all("usage" not in f for f in frames)


def test_first_progress_chunk_arrives_before_the_job_finishes(sdk):
    make_account("chat-p", max_concurrency=2)
    started = time.time()
    stream = sdk.chat.completions.create(model="sleepy-image", messages=user("slow sleep:3"), stream=True)
    first_progress = media_at = None
    lines = []
    for chunk in stream:
        text = chunk.choices[0].delta.content if chunk.choices else None
        if not text:
            continue
        if IMAGE_LINK.search(text):
            media_at = time.time()
        else:
            first_progress = first_progress or time.time()
            lines.append(text.strip())
    job = Generation.objects.get()
    assert first_progress is not None and media_at is not None
    assert first_progress < job.finished_at.timestamp()
    assert (first_progress - started) / (media_at - started) < 0.5
    assert "Generating…" in lines
    assert len(lines) == len(set(lines))  # a line only when the state changed


def test_video_stream_reports_real_progress(sdk):
    make_account("chat-vp", max_concurrency=2)
    stream = sdk.chat.completions.create(model="sleepy-video", messages=user("a slow video:3"), stream=True)
    content = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    percents = [int(p) for p in re.findall(r"Generating… (\d+)%", content)]
    assert percents and percents == sorted(percents) and len(percents) == len(set(percents))
    assert all(p % 10 == 0 for p in percents)
    assert VIDEO_LINK.search(content)


def test_upstream_failure_mid_stream_is_an_error_frame(sdk):
    make_account("chat-f")
    stream = sdk.chat.completions.create(model="sleepy-image", messages=user("fail:policy"), stream=True)
    seen = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            seen.append(chunk)
    assert not isinstance(info.value, openai.APIStatusError)  # the stream itself was a 200
    assert info.value.code == "content_policy_violation" and info.value.type == "invalid_request_error"
    assert seen and seen[0].choices[0].delta.role == "assistant"


def test_failover_shows_in_progress_then_the_error(sdk):
    make_account("chat-f1")
    make_account("chat-f2")
    stream = sdk.chat.completions.create(model="sleepy-image", messages=user("sleep:1 fail:cooldown"), stream=True)
    content = ""
    with pytest.raises(openai.APIError):
        for chunk in stream:
            content += chunk.choices[0].delta.content or ""
    assert "attempt 2" in content


def test_non_stream_failure_is_a_typed_error(sdk):
    make_account("chat-nf")
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="sleepy-image", messages=user("fail:policy"))
    assert info.value.code == "content_policy_violation"


def test_refusals_are_json_errors_before_any_stream(sdk, live_gateway, api_key):
    from django.utils import timezone

    make_account("chat-r", state="cooling", state_until=timezone.now() + timezone.timedelta(seconds=90))
    with pytest.raises(openai.RateLimitError) as info:
        sdk.chat.completions.create(model="sleepy-image", messages=user("x"), stream=True)
    assert int(info.value.response.headers["retry-after-ms"]) > 0
    resp = requests.post(live_gateway.base_url + "/v1/chat/completions", headers=auth(api_key),
                         json={"model": "sleepy-image", "messages": user("x"), "stream": True})
    assert resp.status_code == 429 and resp.headers["content-type"].startswith("application/json")

    with pytest.raises(openai.NotFoundError) as info:
        sdk.chat.completions.create(model="no-such-model", messages=user("x"), stream=True)
    assert info.value.code == "model_not_found" and info.value.param == "model"
    for messages in ([], [{"role": "system", "content": "only a system message"}], user([{"type": "text", "text": " "}])):
        with pytest.raises(openai.BadRequestError) as info:
            sdk.chat.completions.create(model="sleepy-image", messages=messages, stream=True)
        assert info.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="sleepy-image", messages=user("x"), extra_body={"size": "huge"})
    assert info.value.param == "size"
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="sleepy-video", messages=user("x"), extra_body={"duration": 7})
    assert info.value.param == "duration"
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="sleepy-image", messages=user([
            {"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": "http://127.0.0.1:1/a.png"}}]))
    assert info.value.code == "invalid_image_url" and info.value.param.startswith("messages[0].content[1]")

    _key, raw = ApiKey.issue("restricted", allowed_models=["sleepy-video"])
    restricted = openai.OpenAI(api_key=raw, base_url=live_gateway.base_url + "/v1", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as info:
        restricted.chat.completions.create(model="sleepy-image", messages=user("x"), stream=True)
    assert info.value.code == "model_not_allowed"
    assert Generation.objects.count() == 0 and VideoTask.objects.count() == 0


def test_sdk_retry_joins_the_same_job(live_gateway, api_key):
    make_account("chat-i", max_concurrency=2)
    body = {"model": "sleepy-image", "messages": user("once sleep:0.5")}
    first = requests.post(live_gateway.base_url + "/v1/chat/completions", headers=auth(api_key), json=body)
    retry = requests.post(live_gateway.base_url + "/v1/chat/completions",
                          headers={**auth(api_key), "x-stainless-retry-count": "1"}, json={**body, "stream": True})
    assert first.status_code == retry.status_code == 200
    assert f'"id":"{first.json()["id"]}"' in retry.text
    assert Generation.objects.count() == 1


def test_models_list_is_what_chat_clients_accept(sdk, live_gateway, api_key):
    make_account("chat-m")
    body = requests.get(live_gateway.base_url + "/v1/models", headers=auth(api_key)).json()
    assert body["object"] == "list" and body["data"]
    for model in body["data"]:
        assert model["object"] == "model" and isinstance(model["created"], int) and model["owned_by"]
    assert {"sleepy-image", "sleepy-video"} <= {m.id for m in sdk.models.list()}


def test_watcher_round_is_one_query_per_table_whatever_the_number_of_streams(db):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from generation.waiting import JobState, fetch_round

    later = timezone.now() + timezone.timedelta(minutes=5)
    images = [Generation.objects.create(provider="sleepy", model="sleepy-image", deadline_at=later,
                                        status=status, attempts=attempts)
              for status, attempts in (("queued", 0), ("running", 1), ("running", 2), ("succeeded", 1))]
    videos = [VideoTask.objects.create(provider="sleepy", model="sleepy-video", deadline_at=later, status="running",
                                       attempts=1, progress=p) for p in (10, 40, 70)]
    watched = [j.holder for j in images[:3] + videos]
    with CaptureQueriesContext(connection) as queries:
        ended, states = fetch_round([images[3].holder], watched)
    assert len(queries) == 4 + 1  # live states and ended jobs, per table; + the ended image's files
    assert [snap.id for snap in ended] == [images[3].holder]
    assert states[images[2].holder] == JobState(status="running", progress=None, attempts=2)
    assert [states[v.holder].progress for v in videos] == [10, 40, 70]


def stream_of_unqueued_job(seconds: float):
    """A job no worker will ever pick up, and the chat stream of it."""
    from django.utils import timezone

    from generation import catalog
    from generation.chat import ChatTurn
    from generation.chat_views import frames

    job = Generation.objects.create(provider="sleepy", model="sleepy-image",
                                    deadline_at=timezone.now() + timezone.timedelta(seconds=seconds))
    turn = ChatTurn(spec=catalog.resolve("sleepy-image"), prompt="x", stream=True, include_usage=False, image={})
    return job, frames(turn, job)


def test_stream_past_the_deadline_ends_the_job_with_an_error_frame(transactional_db, settings):
    settings.STREAM_PING_SECONDS = 0.2
    job, stream = stream_of_unqueued_job(0.8)

    async def collect():
        return [part async for part in stream]

    parts = in_fresh_loop(collect)
    assert parts[0].startswith(b"data: ") and b'"role":"assistant"' in parts[0]
    # The first watcher round and the first ping race on a loaded machine: order them loosely.
    queued = next(i for i, part in enumerate(parts) if b"Queued" in part)
    assert 1 <= queued < len(parts) - 1 and b": ping\n\n" in parts
    error = json.loads(parts[-1][len(b"data: "):])["error"]
    assert error["code"] == "timeout" and error["type"] == "server_error"
    job.refresh_from_db()
    assert job.status == "failed" and job.error_code == "timeout"


def test_a_client_leaving_closes_its_subscription(transactional_db):
    from generation.waiting import watcher

    _job, stream = stream_of_unqueued_job(30)

    async def leave_early():
        await stream.__anext__()  # the role chunk
        assert b"Queued" in await stream.__anext__()
        held = watcher().held
        await stream.aclose()  # what Django does when the client disconnects
        return held, watcher().held

    assert in_fresh_loop(leave_early) == (1, 0)


@pytest.fixture(scope="module")
def pinging_gateway(live_gateway):
    """A second web process with a short ping interval; the session's workers run its jobs."""
    gateway = LiveGateway(env_overrides={"STREAM_PING_SECONDS": "0.3"})
    gateway.start_web()
    yield gateway
    gateway.stop()


def test_pings_keep_a_quiet_stream_alive(pinging_gateway, api_key):
    make_account("chat-k", max_concurrency=2)
    resp = requests.post(pinging_gateway.base_url + "/v1/chat/completions", headers=auth(api_key), stream=True,
                         json={"model": "sleepy-image", "messages": user("quiet sleep:2"), "stream": True})
    lines = list(sse_lines(resp))
    pings = [t for t, line in lines if line == ": ping"]
    assert len(pings) >= 3
    assert max(b - a for a, b in zip([lines[0][0]] + pings, pings)) < 1.5  # no long silence
    assert lines[-1][1] == "data: [DONE]"


def test_sdk_retry_of_a_job_that_failed_for_a_curable_reason_starts_a_new_one(live_gateway, api_key):
    make_account("chat-r", max_concurrency=2)
    url, retry = live_gateway.base_url + "/v1/images/generations", {**auth(api_key), "x-stainless-retry-count": "1"}
    crashed = {"model": "sleepy-image", "prompt": "fail:crash"}
    assert requests.post(url, headers=auth(api_key), json=crashed).status_code >= 500
    assert requests.post(url, headers=retry, json=crashed).status_code >= 500
    assert Generation.objects.count() == 2  # the retry ran again: a crash may not repeat
    refused = {"model": "sleepy-image", "prompt": "fail:policy"}
    assert requests.post(url, headers=auth(api_key), json=refused).status_code == 400
    assert requests.post(url, headers=retry, json=refused).status_code == 400
    assert Generation.objects.count() == 3  # a refusal would be the same again: the retry joined it
