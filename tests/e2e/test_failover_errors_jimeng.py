"""A Jimeng job that failed on every account, through the real driver and the fake upstream: the
client gets OpenAI's codes and retry headers, and messages (the client's and /v1/health's) say
what failed in plain words, never the proxy's host or port or an exception's text."""

import json

import openai
import pytest
import requests

from accounts.models import Account
from generation.models import Generation
from tests.conftest import free_port
from tests.e2e.conftest import jimeng_account

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("marker", ["rate_limit", "busy"])
def test_every_account_rate_limited_or_busy_is_429_with_retry_after(sdk, fake_jimeng, marker):
    jimeng_account("jm-rl-1")
    jimeng_account("jm-rl-2")
    with pytest.raises(openai.RateLimitError) as info:
        sdk.images.generate(model="jimeng-4.0", prompt=f"a cat [fail:{marker}]")
    err = info.value
    assert err.status_code == 429 and err.code == "rate_limit_exceeded" and err.type == "rate_limit_error"
    assert 0 < int(err.response.headers["retry-after-ms"]) <= 60_000
    assert int(err.response.headers["retry-after"]) >= 1
    assert set(Account.objects.values_list("state", flat=True)) == {"cooling"}
    assert Generation.objects.get().attempts == 2


@pytest.mark.parametrize("how", ["no balance", "too costly"])
def test_every_account_out_of_credits_is_429_insufficient_quota(sdk, fake_jimeng, how):
    sessions = [jimeng_account(f"jm-poor-{i}")[1] for i in (1, 2)]
    prompt = "a cat"
    if how == "no balance":  # nothing to spend, nothing to claim: each account is parked until the claim
        for session in sessions:
            fake_jimeng.set_credits(session, gift=0, purchase=0, vip=0, daily_quota=0)
    else:  # the upstream says "too few credits" to a funded account: it stays in service
        prompt += " [fail:no_credits]"
    with pytest.raises(openai.RateLimitError) as info:
        sdk.images.generate(model="jimeng-4.0", prompt=prompt)
    err = info.value
    assert err.status_code == 429 and err.code == "insufficient_quota"
    assert err.response.headers["x-should-retry"] == "false"  # nothing is back within 2 minutes
    job = Generation.objects.get()
    assert (job.attempts, job.error_status, job.error_code) == (2, 429, "insufficient_quota")
    states = set(Account.objects.values_list("state", flat=True))
    assert states == ({"exhausted"} if how == "no balance" else {"active"})


def test_dead_proxy_is_502_in_plain_words_and_health_names_nothing_without_a_key(live_gateway, api_key, sdk,
                                                                                  fake_jimeng):
    port = free_port()  # nothing listens there
    account, _session = jimeng_account("jm-behind-dead-proxy")
    account.proxy = f"http://127.0.0.1:{port}"
    account.save()
    with pytest.raises(openai.APIStatusError) as info:
        sdk.images.generate(model="jimeng-4.0", prompt="a lighthouse")
    err = info.value
    assert err.status_code == 502 and err.code == "upstream_unavailable"
    message = err.body["message"]
    assert message == "Could not reach Jimeng through the account's proxy (connection refused)."
    for leak in (str(port), "127.0.0.1", "HTTPConnectionPool", "ProxyError", "/mweb/", "http://"):
        assert leak not in message
    # The detail stays with the operator: the job's stored exchange (admin only).
    job = Generation.objects.get()
    assert "Connection refused" in json.dumps(job.upstream_log)

    public = requests.get(f"{live_gateway.base_url}/v1/health")
    assert public.status_code == 200
    assert "jm-behind-dead-proxy" not in public.text and "Could not reach" not in public.text
    assert public.json()["providers"]["jimeng"]["total"] == 1
    keyed = requests.get(f"{live_gateway.base_url}/v1/health", headers={"Authorization": f"Bearer {api_key}"})
    entry = next(a for a in keyed.json()["accounts"] if a["account_id"] == "jm-behind-dead-proxy")
    assert entry["last_error"] == ("upstream_unavailable: Could not reach Jimeng through the account's proxy "
                                   "(connection refused).")
    assert str(port) not in keyed.text
