"""What a client gets when a job failed on every account it could use (test driver `sleepy`):
OpenAI's codes and retry headers, the same on images, chat and the synchronous video endpoint;
and /v1/health naming accounts only for a caller with an API key.

The Jimeng fake's versions (rate limits, credits and a dead proxy through the real driver) are in
tests/e2e/test_failover_errors_jimeng.py.
"""

import json

import openai
import pytest
import requests
from django.utils import timezone

from accounts.models import Account
from generation import outcomes
from generation.drivers.base import CredentialsRejected, QuotaExhausted, RateLimited, UpstreamFailure
from generation.models import Generation
from tests.conftest import make_account

pytestmark = pytest.mark.slow


def auth(key):
    return {"Authorization": f"Bearer {key}"}


def soon(seconds):
    return timezone.now() + timezone.timedelta(seconds=seconds)


# --- images ------------------------------------------------------------------------------------

def test_every_account_rate_limited_is_429_rate_limit_exceeded_with_retry_headers(sdk):
    make_account("rl-1")
    make_account("rl-2")
    with pytest.raises(openai.RateLimitError) as info:
        sdk.images.generate(model="sleepy-image", prompt="fail:cooldown")
    err = info.value
    assert err.status_code == 429 and err.code == "rate_limit_exceeded" and err.type == "rate_limit_error"
    headers = err.response.headers
    # Both accounts cool down for the first rung of the ladder (60 s): the soonest is back then.
    assert 50_000 <= int(headers["retry-after-ms"]) <= 60_000
    assert 50 <= int(headers["retry-after"]) <= 60
    assert "x-should-retry" not in headers  # within what the SDK waits for by itself
    assert set(Account.objects.values_list("state", flat=True)) == {"cooling"}
    job = Generation.objects.get()
    assert (job.attempts, job.error_status, job.error_code) == (2, 429, "rate_limit_exceeded")


def test_every_account_out_of_credits_is_429_insufficient_quota_not_retried(sdk):
    make_account("quota-1")
    make_account("quota-2")
    with pytest.raises(openai.RateLimitError) as info:
        sdk.images.generate(model="sleepy-image", prompt="fail:exhaust")
    err = info.value
    assert err.status_code == 429 and err.code == "insufficient_quota"
    assert "out of credits" in err.message
    assert err.response.headers["x-should-retry"] == "false"  # back only after hours
    assert set(Account.objects.values_list("state", flat=True)) == {"exhausted"}


def test_out_of_credits_with_an_account_back_soon_keeps_the_retry_headers(live_gateway, api_key):
    make_account("quota-now")
    # Back in 90 s: past the job's deadline (30 s here), so the job does not wait for it, but
    # within the 2 minutes the SDK waits for by itself.
    make_account("quota-soon", state="exhausted", state_until=soon(90))
    resp = requests.post(f"{live_gateway.base_url}/v1/images/generations", headers=auth(api_key),
                         json={"model": "sleepy-image", "prompt": "fail:exhaust"})
    assert resp.status_code == 429, resp.text
    assert resp.json()["error"]["code"] == "insufficient_quota"
    assert 80_000 <= int(resp.headers["retry-after-ms"]) <= 90_000
    assert "x-should-retry" not in resp.headers


def test_expired_credentials_everywhere_is_503_asking_to_reimport(sdk):
    make_account("exp-1")
    make_account("exp-2")
    with pytest.raises(openai.InternalServerError) as info:
        sdk.images.generate(model="sleepy-image", prompt="fail:expire")
    err = info.value
    assert err.status_code == 503 and err.code == "account_expired"
    assert "re-import" in err.message and "cookies" in err.message
    assert "sess-" not in err.message  # no credential in it


def test_admission_calls_exhausted_accounts_out_of_credits(live_gateway, api_key):
    make_account("broke-1", state="exhausted", state_until=soon(300))
    resp = requests.post(f"{live_gateway.base_url}/v1/images/generations", headers=auth(api_key),
                         json={"model": "sleepy-image", "prompt": "x"})
    assert resp.status_code == 429
    message = resp.json()["error"]["message"]
    assert "out of credits" in message and "cooling down" not in message
    make_account("cool-1", state="cooling", state_until=soon(200))
    resp = requests.post(f"{live_gateway.base_url}/v1/images/generations", headers=auth(api_key),
                         json={"model": "sleepy-image", "prompt": "x"})
    assert "cooling down or out of credits" in resp.json()["error"]["message"]
    assert 190_000 <= int(resp.headers["retry-after-ms"]) <= 200_000


# --- chat and the synchronous video endpoint ---------------------------------------------------

def test_chat_completion_of_a_rate_limited_pool_is_429_with_retry_headers(sdk):
    make_account("chat-rl")
    with pytest.raises(openai.RateLimitError) as info:
        sdk.chat.completions.create(model="sleepy-image", messages=[{"role": "user", "content": "fail:cooldown"}])
    assert info.value.code == "rate_limit_exceeded"
    assert int(info.value.response.headers["retry-after-ms"]) > 1000


def test_streamed_chat_of_a_quota_less_pool_ends_with_insufficient_quota(live_gateway, api_key):
    make_account("chat-q")
    resp = requests.post(f"{live_gateway.base_url}/v1/chat/completions", headers=auth(api_key), stream=True,
                         json={"model": "sleepy-image", "stream": True,
                               "messages": [{"role": "user", "content": "fail:exhaust"}]})
    frames = [json.loads(line[6:]) for line in resp.iter_lines(decode_unicode=True)
              if line.startswith("data: {")]
    error = frames[-1]["error"]
    assert (error["code"], error["type"]) == ("insufficient_quota", "insufficient_quota")


def test_sync_video_generation_of_a_rate_limited_pool_is_429(live_gateway, api_key):
    make_account("vid-rl-1")
    make_account("vid-rl-2")
    resp = requests.post(f"{live_gateway.base_url}/v1/videos/generations", headers=auth(api_key),
                         json={"model": "sleepy-video", "prompt": "fail:submit video:0.3"})
    assert resp.status_code == 429, resp.text
    assert resp.json()["error"] == {"message": resp.json()["error"]["message"], "type": "rate_limit_error",
                                    "param": None, "code": "rate_limit_exceeded"}
    assert 50_000 <= int(resp.headers["retry-after-ms"]) <= 60_000
    assert resp.headers["retry-after"]


# --- /v1/health --------------------------------------------------------------------------------

def test_health_names_accounts_and_their_errors_only_for_a_key_holder(live_gateway, api_key):
    make_account("secret-name-a", last_error="upstream_unavailable: Could not reach Jimeng (timed out).")
    make_account("secret-name-b", state="cooling", state_until=soon(100))
    public = requests.get(f"{live_gateway.base_url}/v1/health")
    assert public.status_code == 200
    body = public.json()
    assert "secret-name" not in public.text and "Could not reach" not in public.text
    assert body["accounts_total"] == 2 and body["accounts_available"] == 1 and body["status"] == "ok"
    assert body["providers"]["sleepy"] == {"total": 2, "available": 1, "states": {"active": 1, "cooling": 1}}
    assert [(a["state"], a["in_cooldown"]) for a in body["accounts"]] == [("active", False), ("cooling", True)]
    assert all("account_id" not in a and "last_error" not in a for a in body["accounts"])
    for headers in ({"Authorization": "Bearer sk-gw-not-a-real-key"}, {"Authorization": "Basic abc"}):
        wrong = requests.get(f"{live_gateway.base_url}/v1/health", headers=headers)
        assert wrong.status_code == 200 and "secret-name" not in wrong.text
    keyed = requests.get(f"{live_gateway.base_url}/v1/health", headers=auth(api_key)).json()
    named = {a["account_id"]: a for a in keyed["accounts"]}
    assert set(named) == {"secret-name-a", "secret-name-b"}
    assert named["secret-name-a"]["last_error"].startswith("upstream_unavailable: Could not reach Jimeng")


# --- the policy itself, without a server --------------------------------------------------------

def test_the_pool_s_failures_decide_the_client_s_error(db):
    limited, broke, expired = RateLimited("busy"), QuotaExhausted("broke"), CredentialsRejected("signed out")
    assert outcomes.job_failure("jimeng", [expired, limited]).code == "rate_limit_exceeded"
    assert outcomes.job_failure("jimeng", [limited, expired]).status == 429  # one is back soon
    assert outcomes.job_failure("jimeng", [expired, broke]).code == "insufficient_quota"
    gone = outcomes.job_failure("jimeng", [expired, expired])
    assert (gone.status, gone.code) == (503, "account_expired") and "re-import" in gone.message
    down = UpstreamFailure("Could not reach X: HTTPConnectionPool(host='10.0.0.1', port=3128): refused "
                           "url: http://10.0.0.1:8742/mweb/v1/generate", code="upstream_unavailable")
    kept = outcomes.job_failure("jimeng", [limited, down])
    assert (kept.status, kept.code) == (502, "upstream_unavailable")
    assert "3128" not in kept.message and "10.0.0.1" not in kept.message and "HTTPConnectionPool" not in kept.message


def test_stored_codes_of_older_rows_read_in_openai_s_terms(db):
    old = outcomes.client_error("upstream_rate_limited", 503, "old", model="no-such-model")
    assert (old.status, old.code, old.type, old.headers["retry-after-ms"]) == (429, "rate_limit_exceeded",
                                                                                "rate_limit_error", "1000")
    old = outcomes.client_error("quota_exhausted", 503, "old", model="no-such-model")
    assert (old.status, old.code, old.headers) == (429, "insufficient_quota", {"x-should-retry": "false"})
    policy = outcomes.client_error("content_policy_violation", 400, "no", param="prompt")
    assert (policy.status, policy.type, policy.param) == (400, "invalid_request_error", "prompt")


def test_transport_failures_are_worded_without_hosts_ports_or_reprs():
    import requests as rq

    from generation.drivers.jimeng.client import transport_reason

    refused = rq.exceptions.ProxyError(
        "HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: "
        "http://127.0.0.1:8742/mweb/v1/aigc_draft/generate (Caused by ProxyError('Unable to connect to proxy', "
        "NewConnectionError('HTTPConnection(host=\\'127.0.0.1\\', port=9): Failed to establish a new connection: "
        "[Errno 111] Connection refused')))")
    assert transport_reason(refused) == "connection refused"
    assert transport_reason(rq.exceptions.ConnectTimeout("HTTPConnectionPool(host='10.1.1.1', port=3128)")) == \
        "timed out"
    assert transport_reason(rq.exceptions.ReadTimeout("read timed out")) == "timed out"
    assert transport_reason(rq.exceptions.ConnectionError(
        "Failed to resolve 'proxy.invalid' ([Errno -2] Name or service not known)")) == "host name not found"
    assert transport_reason(rq.exceptions.ConnectionError("something else")) == "connection failed"


def test_a_video_task_failed_for_rate_limits_reads_as_one_on_every_surface(db):
    from django.utils import timezone

    from videos.models import VideoTask
    from videos.views import v2_object, video_object

    task = VideoTask.objects.create(provider="sleepy", model="sleepy-video", prompt="x", status="failed",
                                    error_code="upstream_rate_limited", error_status=503,
                                    error_message="Every account is busy.", deadline_at=timezone.now())
    assert v2_object(task)["error"] == {"message": "Every account is busy.", "type": "rate_limit_error",
                                        "code": "rate_limit_exceeded"}
    assert video_object(task)["error"]["code"] == "rate_limit_exceeded"


def test_an_accounts_failed_attempt_is_logged_with_the_job_it_was_for(db, caplog):
    import logging

    from generation import outcomes
    from generation.drivers.base import RateLimited
    from tests.conftest import make_account

    account = make_account("logged")
    with caplog.at_level(logging.INFO, logger="generation.outcomes"):
        outcomes.apply_failure(account, RateLimited("busy"), "gen_0123abcd")
    assert "account logged failed an attempt of gen_0123abcd" in caplog.text
