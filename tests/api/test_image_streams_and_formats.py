"""`stream: true` and `output_format` on the image endpoints, through the SDK against a live
gateway (the `sleepy` test provider, whose driver answers a 64×48 PNG)."""

import base64
import io
import time

import openai
import pytest
import requests
from PIL import Image

from generation.models import Generation
from tests.conftest import make_account

pytestmark = pytest.mark.slow


def png(w=32, h=32):
    buf = io.BytesIO()
    Image.new("RGBA", (w, h), (0, 128, 255, 128)).save(buf, "PNG")
    return buf.getvalue()


def test_generate_stream_sends_pings_then_one_completed_event(sdk, settings):
    make_account("st-gen")
    started = time.monotonic()
    events = list(sdk.images.generate(model="sleepy-image", prompt="sleep:1 a stream", stream=True,
                                      partial_images=2))
    assert time.monotonic() - started >= 1.0
    assert [event.type for event in events] == ["image_generation.completed"]
    event = events[0]
    assert Image.open(io.BytesIO(base64.b64decode(event.b64_json))).size == (64, 48)
    assert event.size == "64x48" and event.output_format == "png" and event.usage.input_tokens > 0
    assert Generation.objects.get().status == "succeeded"


def test_edit_stream_uses_image_edit_events(sdk):
    make_account("st-edit")
    events = list(sdk.images.edit(model="sleepy-image", prompt="bluer", image=png(), stream=True))
    assert [event.type for event in events] == ["image_edit.completed"]
    assert Generation.objects.get().kind == "edit"


def test_a_failed_stream_raises_the_same_error_the_plain_request_gets(sdk):
    acc = make_account("st-fail")
    stream = sdk.images.generate(model="sleepy-image", prompt="fail:policy", stream=True)
    with pytest.raises(openai.APIError) as info:
        list(stream)
    assert info.value.code == "content_policy_violation"
    acc.refresh_from_db()
    assert acc.state == "active"


def test_stream_wire_format_and_refusals_before_it(live_gateway, api_key, settings):
    make_account("st-wire")
    headers = {"Authorization": f"Bearer {api_key}"}
    resp = requests.post(live_gateway.base_url + "/v1/images/generations", headers=headers, stream=True,
                         json={"model": "sleepy-image", "prompt": "wire", "stream": True})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    assert resp.headers["x-gateway-job-id"] == Generation.objects.get().public_id
    body = resp.content.decode()
    assert body.startswith("event: image_generation.completed\ndata: {")
    # Refusals are plain JSON errors, never a 200 stream.
    resp = requests.post(live_gateway.base_url + "/v1/images/generations", headers=headers,
                         json={"model": "sleepy-image", "prompt": "x", "stream": True, "n": 9})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "n"
    resp = requests.post(live_gateway.base_url + "/v1/images/compositions", headers=headers,
                         json={"model": "sleepy-image", "prompt": "x", "stream": True,
                               "images": ["data:image/png;base64," + base64.b64encode(png()).decode()]})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "stream"
    assert Generation.objects.count() == 1


@pytest.mark.parametrize("fmt, magic, mime", [("jpeg", b"\xff\xd8\xff", "image/jpeg"),
                                              ("webp", b"RIFF", "image/webp"),
                                              ("png", b"\x89PNG", "image/png")])
def test_output_format_is_what_the_client_gets(sdk, fmt, magic, mime):
    make_account(f"fmt-{fmt}")
    resp = sdk.images.generate(model="sleepy-image", prompt="a square", output_format=fmt)
    assert resp.output_format == fmt
    fetched = requests.get(resp.data[0].url)
    assert fetched.content.startswith(magic) and fetched.headers["content-type"] == mime
    assert Image.open(io.BytesIO(fetched.content)).size == (64, 48)
    stored = Generation.objects.get().files.get()
    assert stored.mime == mime and stored.file.name.endswith({"jpeg": ".jpg"}.get(fmt, f".{fmt}"))


def test_output_compression_changes_a_lossy_result(sdk):
    make_account("fmt-q")
    sizes = []
    for compression in (5, 95):
        resp = sdk.images.generate(model="sleepy-image", prompt=f"noise {compression}", output_format="jpeg",
                                   output_compression=compression, response_format="b64_json")
        sizes.append(len(base64.b64decode(resp.data[0].b64_json)))
    assert sizes[0] < sizes[1]


def test_an_output_format_no_upstream_can_make_is_a_400(sdk):
    make_account("fmt-svg")
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.generate(model="sleepy-image", prompt="x", output_format="svg")
    assert info.value.param == "output_format"
    assert Generation.objects.count() == 0
