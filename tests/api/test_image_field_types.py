"""How the image endpoints read their fields: JSON `null` is "not sent", JSON types are not
coerced, a missing prompt is `missing_required_parameter`, `seed` -1 is a random seed, sizes
out of range say so, and a bad file among several is named by its index."""

import io

import openai
import pytest
import requests
from PIL import Image

from generation.models import Generation
from tests.conftest import make_account

pytestmark = pytest.mark.slow


def png(w=32, h=32):
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 10, 10)).save(buf, "PNG")
    return buf.getvalue()


def post(live_gateway, api_key, path, **kwargs):
    return requests.post(live_gateway.base_url + path, headers={"Authorization": f"Bearer {api_key}"}, **kwargs)


def test_nulls_from_the_sdk_mean_defaults(sdk):
    make_account("types-null")
    resp = sdk.images.generate(model="sleepy-image", prompt="nulls", n=None, size=None, response_format=None,
                               output_format=None, extra_body={"seed": None, "negative_prompt": None})
    assert len(resp.data) == 1 and resp.data[0].url
    job = Generation.objects.get()
    assert job.params["n"] == 1 and "seed" not in job.params and "negative_prompt" not in job.params


@pytest.mark.parametrize("field,value,kind", [
    ("prompt", 123, "a string"), ("n", "2", "an integer"), ("n", True, "an integer"),
    ("stream", "yes", "a boolean"), ("stream", 1, "a boolean"), ("sample_strength", "0.5", "a number"),
    ("negative_prompt", 5, "a string"), ("response_format", ["url"], "a string"),
])
def test_wrong_json_types_are_refused_naming_the_field(live_gateway, api_key, field, value, kind):
    make_account("types-wrong")
    body = {"model": "sleepy-image", "prompt": "typed", field: value}
    resp = post(live_gateway, api_key, "/v1/images/generations", json=body)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["param"] == field and error["code"] == "invalid_value" and kind in error["message"]
    assert not Generation.objects.exists()


def test_form_fields_are_text_and_still_read(live_gateway, api_key):
    make_account("types-form", max_concurrency=2)
    resp = post(live_gateway, api_key, "/v1/images/edits",
                data={"model": "sleepy-image", "prompt": "form", "n": "2", "stream": "false"},
                files={"image": ("a.png", png(), "image/png")})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json") and resp.json()["data"]
    assert Generation.objects.get().params["n"] == 2


def test_missing_prompt_is_missing_required_parameter(sdk, live_gateway, api_key):
    for body in ({"model": "sleepy-image"}, {"model": "sleepy-image", "prompt": None}):
        resp = post(live_gateway, api_key, "/v1/images/generations", json=body)
        assert resp.status_code == 400
        assert resp.json()["error"]["code"] == "missing_required_parameter"
        assert resp.json()["error"]["param"] == "prompt"


def test_seed_minus_one_is_a_random_seed(sdk):
    make_account("types-seed")
    sdk.images.generate(model="sleepy-image", prompt="any seed", extra_body={"seed": -1})
    assert "seed" not in Generation.objects.get().params
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.generate(model="sleepy-image", prompt="bad seed", extra_body={"seed": -2})
    assert info.value.param == "seed"


@pytest.mark.parametrize("size,words", [("13x7", "13x7 is out of range"), ("9000x1024", "out of range"),
                                        ("big", "WIDTHxHEIGHT")])
def test_size_errors_say_what_is_wrong(sdk, size, words):
    make_account("types-size")
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.generate(model="sleepy-image", prompt="sized", size=size)
    assert info.value.param == "size" and words in info.value.message
    assert "size: size" not in info.value.message


def test_a_bad_file_among_several_is_named_by_its_index(live_gateway, api_key):
    make_account("types-files")
    files = [("image", ("a.png", png(), "image/png")), ("image", ("b.png", b"not an image", "image/png"))]
    resp = post(live_gateway, api_key, "/v1/images/edits", data={"model": "sleepy-image", "prompt": "two"},
                files=files)
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "image[1]"
    files = [("images", ("a.png", png(), "image/png")), ("images", ("b.gif", b"GIF89a-broken", "image/gif"))]
    resp = post(live_gateway, api_key, "/v1/images/compositions", data={"model": "sleepy-image", "prompt": "two"},
                files=files)
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "images[1]"
    assert not Generation.objects.exists()


def test_an_altered_link_to_our_own_file_says_so(sdk, live_gateway, api_key):
    make_account("types-link", max_concurrency=2)
    url = sdk.images.generate(model="sleepy-image", prompt="source").data[0].url
    altered = url[:-4] + ("AAAA" if not url.endswith("AAAA") else "BBBB")
    resp = post(live_gateway, api_key, "/v1/images/compositions",
                json={"model": "sleepy-image", "prompt": "reuse", "images": [url, altered]})
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["param"] == "images[1]" and "link" in error["message"] and "non-public" not in error["message"]
