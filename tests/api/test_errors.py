"""The OpenAI error envelope, seen through the official SDK against a live server."""

import openai
import pytest
import requests
from django.utils import timezone

from api.models import ApiKey

pytestmark = pytest.mark.slow


def assert_envelope(resp, status, code=None):
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.headers.get("x-request-id", "").startswith("req_")
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if code:
        assert error["code"] == code
    return error


def sdk_for(live_gateway, key):
    return openai.OpenAI(api_key=key, base_url=live_gateway.base_url + "/v1", max_retries=0)


@pytest.mark.parametrize("make_key", ["missing", "wrong", "disabled", "expired"])
def test_bad_keys_are_401_invalid_api_key(live_gateway, transactional_db, make_key):
    if make_key == "missing":
        resp = requests.get(live_gateway.base_url + "/v1/models")
        assert_envelope(resp, 401, "invalid_api_key")
        return
    if make_key == "wrong":
        raw = "sk-gw-not-a-real-key"
    else:
        key, raw = ApiKey.issue(make_key)
        if make_key == "disabled":
            ApiKey.objects.filter(pk=key.pk).update(enabled=False)
        else:
            ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timezone.timedelta(seconds=1))
    with pytest.raises(openai.AuthenticationError) as info:
        sdk_for(live_gateway, raw).models.list()
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key"
    assert info.value.request_id.startswith("req_")


def test_unknown_route_is_404_envelope_not_html(live_gateway, api_key):
    resp = requests.post(live_gateway.base_url + "/v1/no/such/thing", headers={"Authorization": f"Bearer {api_key}"})
    assert_envelope(resp, 404, "not_found")
    with pytest.raises(openai.NotFoundError) as info:
        sdk_for(live_gateway, api_key).models.retrieve("no-such-model")
    assert info.value.code == "model_not_found"  # as OpenAI's, and as the other endpoints say it
    assert info.value.request_id


def test_method_not_allowed_is_405(live_gateway, api_key):
    resp = requests.delete(live_gateway.base_url + "/v1/models", headers={"Authorization": f"Bearer {api_key}",
                                                                          "content-type": "application/json"})
    assert_envelope(resp, 405, "method_not_allowed")


def test_model_not_allowed_for_key_is_403(live_gateway, transactional_db):
    from tests.conftest import make_account

    make_account("acc-403")
    _key, raw = ApiKey.issue("restricted", allowed_models=["gemini-image"])
    with pytest.raises(openai.PermissionDeniedError) as info:
        sdk_for(live_gateway, raw).models.retrieve("sleepy-image")
    assert info.value.status_code == 403
    assert info.value.code == "model_not_allowed"


def test_oversized_body_is_413(live_gateway, api_key, settings):
    body = b"x" * (settings.MAX_REQUEST_BYTES + 1)
    resp = requests.post(live_gateway.base_url + "/v1/models", data=body,
                         headers={"Authorization": f"Bearer {api_key}", "content-type": "application/json"})
    assert_envelope(resp, 413, "request_too_large")


def test_crash_is_500_envelope_without_secrets(live_gateway, api_key):
    with pytest.raises(openai.InternalServerError) as info:
        sdk_for(live_gateway, api_key).get("/_test/crash", cast_to=object)
    assert info.value.status_code == 500
    assert info.value.code == "server_error"
    assert "abcdef123456" not in str(info.value.body)
    log = (live_gateway.logs / f"web-{live_gateway.port}.log").read_text()
    assert "deliberate crash" in log
    assert "abcdef123456" not in log


def test_health_needs_no_key_and_has_request_id(live_gateway, transactional_db):
    resp = requests.get(live_gateway.base_url + "/v1/health")
    assert resp.status_code == 200
    assert resp.headers["x-request-id"].startswith("req_")


POST_ENDPOINTS = ["/v1/images/generations", "/v1/images/edits", "/v1/images/compositions", "/v1/chat/completions",
                  "/v1/videos", "/v1/videos/generations", "/v2/videos/generations"]


@pytest.mark.parametrize("path", POST_ENDPOINTS)
def test_a_json_body_that_is_not_an_object_is_400(live_gateway, api_key, path):
    headers = {"Authorization": f"Bearer {api_key}", "content-type": "application/json"}
    log = live_gateway.logs / f"web-{live_gateway.port}.log"
    logged_before = log.stat().st_size
    for body, kind in ((b"[]", "an array"), (b'"a red fox"', "a string"), (b"null", "null"), (b"7", "a number")):
        error = assert_envelope(requests.post(live_gateway.base_url + path, data=body, headers=headers),
                                400, "invalid_json")
        assert f"not {kind}" in error["message"]
    deep = b"[" * 100_000 + b"]" * 100_000
    error = assert_envelope(requests.post(live_gateway.base_url + path, data=deep, headers=headers), 400, "invalid_json")
    assert "nested too deeply" in error["message"]
    with log.open() as handle:
        handle.seek(logged_before)
        assert "Traceback" not in handle.read()


def test_media_links_answer_in_json_when_bad_expired_or_misused(live_gateway, transactional_db, settings):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from generation.media import signed_url

    name = default_storage.save("tests/link-check.txt", ContentFile(b"hello"))
    good = signed_url(name).removeprefix(settings.PUBLIC_BASE_URL)
    assert requests.get(live_gateway.base_url + good).content == b"hello"
    error = assert_envelope(requests.get(live_gateway.base_url + good[:-3] + "xyz"), 404, "not_found")
    assert "<html" not in error["message"].lower()
    assert_envelope(requests.post(live_gateway.base_url + good), 405, "method_not_allowed")
    short = signed_url(name, ttl=1).removeprefix(settings.PUBLIC_BASE_URL)
    import time

    time.sleep(2.1)
    assert_envelope(requests.get(live_gateway.base_url + short), 410, "link_expired")


def _chunks(data: bytes, size: int = 1000):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_a_chunked_body_is_read_like_one_with_a_length(live_gateway, api_key, settings):
    headers = {"Authorization": f"Bearer {api_key}", "content-type": "application/json"}
    body = b'{"model": "sleepy-image", "prompt": "a red fox", "n": 9}'
    resp = requests.post(live_gateway.base_url + "/v1/images/generations", data=_chunks(body, 7), headers=headers)
    assert resp.request.headers.get("transfer-encoding") == "chunked"
    error = assert_envelope(resp, 400, "invalid_value")
    assert error["param"] == "n"  # the body was parsed: its prompt was there, its n is out of range
    too_big = _chunks(b"x" * (settings.MAX_REQUEST_BYTES + 1), 1024 * 1024)
    resp = requests.post(live_gateway.base_url + "/v1/images/generations", data=too_big, headers=headers)
    assert_envelope(resp, 413, "request_too_large")
