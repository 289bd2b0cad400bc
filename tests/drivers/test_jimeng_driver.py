"""The real Jimeng driver against the real in-process fake upstream, over HTTP.

Nothing here mocks the driver or requests: JIMENG_UPSTREAM_URL points every Jimeng host at
`fakes.jimeng.server.FakeJimeng`, and the protocol constants that only set the pace (poll
intervals, retry delays) are shortened through JIMENG_OVERRIDES.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image

from accounts.cookies import parse_credentials
from tests.support.jimeng_fake import FAST_POLLING, point_driver_at, serve
from generation.drivers.base import (
    ContentPolicy,
    CredentialsRejected,
    DeadlineExceeded,
    DriverError,
    DriverTask,
    GenerationBlocked,
    InvalidInput,
    QuotaExhausted,
    RateLimited,
    UpstreamFailure,
)
from generation.drivers.jimeng import constants, credits, errors
from generation.drivers.jimeng.client import JimengClient, sign
from generation.drivers.jimeng.driver import JimengDriver
from generation.drivers.jimeng.upload import ImageUploader, crc32_hex

FAST = {**FAST_POLLING, "POLL_MISSING_GRACE": 0.6}
QUICK = "[delay:0.05]"


@pytest.fixture(scope="module")
def fake():
    yield from serve(0.3)


@pytest.fixture(autouse=True)
def upstream(fake, settings):
    yield from point_driver_at(fake, settings, FAST)


def new_sid() -> str:
    return uuid.uuid4().hex


def creds_for(region: str = "cn", sid: str | None = None):
    sid = sid or new_sid()
    token = sid if region == "cn" else f"{region}-{sid}"
    return parse_credentials(token, provider="jimeng")


def make_task(prompt: str, *, region: str = "cn", model: str = "jimeng-4.5", kind: str = "generate",
              inputs=(), deadline: float = 20.0, creds=None, proxy: str = "", **params) -> DriverTask:
    creds = creds or creds_for(region)
    return DriverTask(
        job_id=uuid.uuid4().hex, kind=kind, model=model, upstream_model="",
        params={"prompt": prompt, "n": 1, **params}, inputs=[Path(p) for p in inputs], credentials=creds,
        proxy=proxy, region=creds.region, deadline=time.time() + deadline,
        account_name="test",
    )


def write_png(path: Path, size, color) -> Path:
    Image.new("RGB", size, color).save(path, "PNG")
    return path


def assert_no_secrets(task: DriverTask, err_or_result, *extra: str):
    """No sessionid, cookie, signature or STS secret in the message or the upstream log."""
    dumped = json.dumps(err_or_result.upstream_log, ensure_ascii=False)
    texts = [dumped, getattr(err_or_result, "message", "")]
    secrets = [task.credentials.sessionid(), *extra]
    for text in texts:
        for secret in secrets:
            assert secret not in text
        assert "x-signature" not in text.lower()
        assert "AWS4-HMAC-SHA256 Credential" not in text


def run(task: DriverTask):
    return JimengDriver().run(task)


# --- protocol details the fake checks ----------------------------------------------------------


def test_sign_matches_the_reference_formula():
    expected = hashlib.md5(b"9e2c|enerate|7|8.4.0|1700000000||11ac").hexdigest()
    assert sign("/mweb/v1/aigc_draft/generate", 1700000000) == expected


def test_every_envelope_ret_is_a_string(fake):
    task = make_task(f"a lighthouse {QUICK}")
    result = run(task)
    rets = [entry["ret"] for entry in result.upstream_log if "ret" in entry]
    assert rets and all(isinstance(r, str) for r in rets)
    assert_no_secrets(task, result)


# --- text to image --------------------------------------------------------------------------


@pytest.mark.parametrize("resolution", ["1k", "2k", "4k"])
def test_every_ratio_gives_the_table_size(fake, resolution):
    for ratio, (width, height, _code) in constants.IMAGE_SIZES[resolution].items():
        task = make_task(f"ratio {ratio} {QUICK}", ratio=ratio, resolution=resolution)
        result = run(task)
        (image,) = result.files
        assert (image.width, image.height) == (width, height), ratio
        assert image.mime == "image/png"
        with Image.open(io.BytesIO(image.data)) as img:
            assert img.size == (width, height)
        assert result.meta["history_id"] and result.meta["submit_id"]
        job = next(j for j in fake.state()["jobs"] if j["history_id"] == result.meta["history_id"])
        assert job["size_matches_table"] and job["resolution_type"] == resolution


@pytest.mark.parametrize("model,region,key,size", [
    ("jimeng-5.0", "cn", "high_aes_general_v50", (2048, 2048)),
    ("jimeng-4.6", "sg", "high_aes_general_v42", (2048, 2048)),
    ("jimeng-4.0", "us", "high_aes_general_v40", (2048, 2048)),
    ("jimeng-3.1", "cn", "high_aes_general_v30l_art_fangzhou:general_v3.0_18b", (2048, 2048)),
    ("jimeng-3.0", "hk", "high_aes_general_v30l:general_v3.0_18b", (2048, 2048)),
    ("nanobanana", "us", "external_model_gemini_flash_image_v25", (1024, 1024)),
    ("nanobanana", "jp", "external_model_gemini_flash_image_v25", (1328, 1328)),
])
def test_models_map_to_their_site_keys(fake, model, region, key, size):
    task = make_task(f"model {model} {QUICK}", model=model, region=region)
    result = run(task)
    assert result.meta["model_req_key"] == key
    assert (result.files[0].width, result.files[0].height) == size
    job = next(j for j in fake.state()["jobs"] if j["history_id"] == result.meta["history_id"])
    assert job["model"] == key and job["site"] == region


def test_nanobananapro_4k_uses_its_own_sizes(fake):
    result = run(make_task(f"pro {QUICK}", model="nanobananapro", region="sg", ratio="16:9", resolution="4k"))
    assert (result.files[0].width, result.files[0].height) == (5404, 3040)


def test_nanobanana_is_blocked_on_cn(fake):
    task = make_task("banana", model="nanobanana", region="cn")
    with pytest.raises(GenerationBlocked, match="international"):
        run(task)
    assert fake.submissions(session=task.credentials.sessionid()) == 0


@pytest.mark.parametrize("n", [1, 4])
def test_returns_the_first_n_images(fake, n):
    task = make_task(f"n={n} {QUICK}", n=n, resolution="1k", negative_prompt="blurry",
                     sample_strength=0.7, seed=12345)
    before = fake.credits(task.credentials.sessionid())["total"]
    result = run(task)
    assert len(result.files) == n
    assert len({hashlib.sha256(f.data).digest() for f in result.files}) == n
    assert result.meta["seed"] == 12345
    # One job's price, whatever n is (the upstream renders 4 and charges for them).
    assert fake.credits(task.credentials.sessionid())["total"] == before - 4


def test_bad_parameters_are_invalid_input(fake):
    for params in ({"ratio": "5:4"}, {"resolution": "8k"}, {"n": 5}, {"sample_strength": 2}):
        with pytest.raises(InvalidInput):
            run(make_task("bad", **params))


# --- blend (edit / compose) --------------------------------------------------------------------


@pytest.mark.parametrize("count,kind,region", [(1, "edit", "cn"), (3, "compose", "us"), (2, "compose", "sg")])
def test_blend_uploads_the_inputs(fake, tmp_path, count, kind, region):
    colors = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    paths = [write_png(tmp_path / f"in{i}.png", (64 + i, 48 + i), colors[i]) for i in range(count)]
    task = make_task(f"blend {count} {QUICK}", kind=kind, region=region, inputs=paths, resolution="1k", n=2)
    result = run(task)
    assert len(result.files) == 2
    assert result.meta["input_images"] == count
    uploaded = {u["sha256"] for u in fake.uploads() if u.get("committed")}
    for path in paths:
        assert hashlib.sha256(path.read_bytes()).hexdigest() in uploaded
    job = next(j for j in fake.state()["jobs"] if j["history_id"] == result.meta["history_id"])
    assert len(job["input_uris"]) == count
    assert_no_secrets(task, result)


def test_upload_log_holds_no_sts_keys(fake, tmp_path):
    data = write_png(tmp_path / "x.png", (32, 32), (1, 2, 3)).read_bytes()
    client = JimengClient(creds_for("cn"), deadline=time.time() + 10)
    uploader = ImageUploader(client)
    uploaded = uploader.upload(data)
    assert uploaded.uri and (uploaded.width, uploaded.height) == (32, 32)
    token = uploader.token()
    dumped = json.dumps(client.log)
    for secret in (token.secret_access_key, token.session_token, token.access_key_id, client.sessionid):
        assert secret not in dumped
    assert crc32_hex(data) in {u["crc32"] for u in fake.uploads()}


def test_blend_needs_an_input(fake):
    with pytest.raises(InvalidInput):
        run(make_task("edit nothing", kind="edit"))


@pytest.mark.parametrize("failure,region,expected", [
    ("apply_error", "cn", UpstreamFailure),
    ("invalid_token", "us", UpstreamFailure),
    ("upload_error", "cn", UpstreamFailure),
    ("crc_mismatch", "cn", UpstreamFailure),
    ("commit_error", "sg", UpstreamFailure),
    ("algo_risk", "cn", ContentPolicy),
])
def test_upload_failures(fake, tmp_path, failure, region, expected):
    path = write_png(tmp_path / "in.png", (40, 40), (9, 9, 9))
    task = make_task(f"upload {failure}", kind="edit", region=region, inputs=[path])
    fake.queue_failure(failure, session=task.credentials.sessionid())
    with pytest.raises(expected) as info:
        run(task)
    assert fake.submissions(session=task.credentials.sessionid()) == 0
    assert_no_secrets(task, info.value)


# --- failures -------------------------------------------------------------------------------


@pytest.mark.parametrize("marker,expected,code", [
    ("content_policy", ContentPolicy, "content_policy_violation"),
    ("ret:4001", ContentPolicy, "content_policy_violation"),
    ("gen_failed", UpstreamFailure, "upstream_error"),
    ("gen_failed:2039", QuotaExhausted, "quota_exhausted"),
    # Refused for credits while the balance (100 + the claim) covers an image: short for this job
    # only, so the job fails over and the account is not parked (test_jimeng_credit_shortfall.py).
    ("no_credits", errors.CreditsShort, "quota_exhausted"),
    ("no_credits_legacy", errors.CreditsShort, "quota_exhausted"),
    ("login", CredentialsRejected, "account_expired"),
    ("antibot", RateLimited, "upstream_rate_limited"),
    ("abnormal", RateLimited, "upstream_rate_limited"),
    ("busy", RateLimited, "upstream_rate_limited"),
    ("rate_limit", RateLimited, "upstream_rate_limited"),
    ("version", GenerationBlocked, "generation_blocked"),
    ("region", GenerationBlocked, "generation_blocked"),
    ("benefit", GenerationBlocked, "generation_blocked"),
    ("http_500", UpstreamFailure, "upstream_error"),
    ("http_502", UpstreamFailure, "upstream_error"),
    ("html", UpstreamFailure, "upstream_error"),
    ("param", UpstreamFailure, "upstream_error"),
    ("no_large_images", UpstreamFailure, "upstream_error"),
    ("cdn_expired", UpstreamFailure, "upstream_error"),
    ("missing_history", UpstreamFailure, "upstream_error"),
])
def test_failure_markers(fake, marker, expected, code):
    task = make_task(f"scene [fail:{marker}] {QUICK}")
    with pytest.raises(DriverError) as info:
        run(task)
    err = info.value
    assert type(err) is expected, err.message
    assert err.code == code
    assert err.upstream_log
    assert_no_secrets(task, err)


def test_content_policy_is_final_and_quota_waits_for_the_claim(fake):
    with pytest.raises(ContentPolicy) as info:
        run(make_task("x [fail:content_policy]"))
    assert info.value.status == 400 and not info.value.failover and info.value.account_action is None
    broke = make_task("x [fail:no_credits]")
    fake.set_credits(broke.credentials.sessionid(), gift=0, claimed_today=True)
    with pytest.raises(QuotaExhausted) as info:
        run(broke)
    assert info.value.account_action == "exhaust"
    assert info.value.until == errors.next_claim_time(datetime.now(timezone.utc))
    assert info.value.until > datetime.now(timezone.utc)


@pytest.mark.parametrize("marker", ["escaped_urls", "unknown_status", "unknown_status:10"])
def test_tolerated_anomalies(fake, marker):
    result = run(make_task(f"odd [fail:{marker}] {QUICK}"))
    assert len(result.files) == 1


def test_partial_results_are_returned(fake):
    result = run(make_task(f"half [fail:partial] {QUICK}", n=4))
    assert len(result.files) == 2
    assert result.meta["partial"] is True and result.meta["fail_code"] == "1017"


def test_polling_honours_the_upstream_interval(fake, settings):
    # Our own pace is far slower here; the upstream's 0.1 s suggestion must win.
    settings.JIMENG_OVERRIDES = {**FAST, "POLL_BASE_INTERVAL": 10, "POLL_MIN_INTERVAL": 10, "POLL_MAX_INTERVAL": 10}
    fake.configure(poll_interval_seconds=0.1)
    try:
        started = time.time()
        result = run(make_task("paced [delay:2.0]"))
    finally:
        fake.configure(poll_interval_seconds=None)
    assert time.time() - started < 8  # our own 10 s pace would take longer (slack for a busy machine)
    # ~20 at the upstream's pace, 1 at ours; a busy CI machine once stalled a 1 s job down to 2.
    assert result.meta["polls"] >= 4


def test_a_poll_lands_on_the_forecast_finish(fake, settings):
    # The fake forecasts 2 s for a 2 s job and suggests a poll every 1.5 s. On that grid the
    # polls after the first (0.3 s) fall at 1.8 and 3.3 s, so the job would be seen 1.3 s late;
    # the poll after 1.8 s is brought forward to the forecast instead.
    settings.JIMENG_OVERRIDES = {**FAST, "POLL_FIRST_DELAY": 0.3, "POLL_BASE_INTERVAL": 10,
                                 "POLL_MIN_INTERVAL": 10, "POLL_MAX_INTERVAL": 10}
    fake.configure(poll_interval_seconds=1.5)
    try:
        started = time.time()
        result = run(make_task("on time [delay:2.0]"))
        took = time.time() - started
    finally:
        fake.configure(poll_interval_seconds=None)
    assert result.meta["finish"] == "success"
    assert result.meta["polls"] == 3
    assert 2.0 <= took < 2.9  # on the grid it would be ≥ 3.3 s


def test_polling_stops_at_the_deadline(fake):
    task = make_task("forever [fail:never_finish]", deadline=1.5)
    started = time.time()
    with pytest.raises(DeadlineExceeded):
        run(task)
    assert time.time() - started < 6  # deadline 1.5 s; the slack is for a busy CI machine


def test_deadline_already_passed(fake):
    task = make_task("late", deadline=-1)
    with pytest.raises(DeadlineExceeded):
        run(task)
    assert fake.submissions(session=task.credentials.sessionid()) == 0


def test_expired_result_url_is_refreshed_once(fake):
    task = make_task(f"expiring {QUICK}")
    fake.queue_failure("cdn_expired", endpoint="cdn")
    result = run(task)
    assert len(result.files) == 1


def test_polls_survive_server_errors(fake):
    task = make_task(f"bumpy {QUICK}")
    fake.queue_failure("http_500", count=2, endpoint="history", session=task.credentials.sessionid())
    assert len(run(task).files) == 1


def test_lost_generate_response_is_not_resubmitted(fake):
    task = make_task("once [fail:lost_response]")
    with pytest.raises(UpstreamFailure):
        run(task)
    assert fake.submissions(session=task.credentials.sessionid()) == 1


def test_slow_answers_time_out_and_are_retried(fake, settings):
    settings.JIMENG_OVERRIDES = {**FAST, "HTTP_TIMEOUT": 0.5}
    task = make_task(f"slow {QUICK}")
    fake.queue_failure("slow", endpoint="history", session=task.credentials.sessionid(), arg="1.5")
    assert len(run(task).files) == 1


def test_expired_session_is_rejected(fake):
    task = make_task("who am i")
    fake.invalidate_session(task.credentials.sessionid())
    with pytest.raises(CredentialsRejected) as info:
        run(task)
    assert info.value.account_action == "expire"
    assert_no_secrets(task, info.value)


def test_site_mismatch_is_blocked(fake):
    sid = new_sid()
    run(make_task(f"first on cn {QUICK}", creds=creds_for("cn", sid)))
    with pytest.raises(GenerationBlocked, match="region"):
        run(make_task("then on us", creds=creds_for("us", sid)))


def test_overrides_replace_constants(fake, settings):
    settings.JIMENG_OVERRIDES = {**FAST, "APPVR": "5.8.0"}
    with pytest.raises(GenerationBlocked, match="3018"):
        run(make_task("old client", region="us"))
    settings.JIMENG_OVERRIDES = {**FAST, "IMAGE_MODELS": {"my-model": {"cn": "high_aes_general_v41"}}}
    result = run(make_task(f"renamed {QUICK}", model="my-model"))
    assert result.meta["model_req_key"] == "high_aes_general_v41"
    settings.JIMENG_OVERRIDES = {"NO_SUCH_CONSTANT": 1}
    with pytest.raises(GenerationBlocked, match="NO_SUCH_CONSTANT"):
        run(make_task("typo"))


def test_proxy_credentials_never_leak(fake):
    task = make_task("via proxy", proxy="http://user:pr0xy-pa55@127.0.0.1:9")
    with pytest.raises(UpstreamFailure) as info:
        run(task)
    assert "pr0xy-pa55" not in info.value.message
    assert "pr0xy-pa55" not in json.dumps(info.value.upstream_log)


# --- credits ----------------------------------------------------------------------------------


def test_balance_and_daily_claim(fake):
    creds = creds_for("us")
    sid = creds.sessionid()
    assert credits.get_balance(creds).total == 100
    fake.set_credits(sid, gift=0)
    assert credits.get_balance(creds).total == 0
    first = credits.claim_daily(creds)
    assert first.received == 60 and first.total == 60 and not first.refused
    second = credits.claim_daily(creds)
    assert second.received == 0 and second.refused
    assert credits.check_session(creds_for("cn")) is True


def test_claim_anti_bot_raises(fake):
    creds = creds_for("cn")
    fake.queue_failure("claim_shark", session=creds.sessionid())
    with pytest.raises(RateLimited):
        credits.claim_daily(creds)


def test_driver_claims_when_the_balance_is_zero(fake):
    task = make_task(f"broke {QUICK}")
    fake.set_credits(task.credentials.sessionid(), gift=0)
    result = run(task)
    assert result.meta["credits_claimed"] == 60
    assert fake.credits(task.credentials.sessionid())["total"] == 60 - 4


def calls_of(fake, sid: str) -> list[str]:
    return [e["endpoint"] for e in fake.state()["request_log"] if e.get("session") == sid]


def test_a_job_with_credits_reads_no_balance(fake):
    task = make_task(f"paying {QUICK}")
    run(task)
    calls = calls_of(fake, task.credentials.sessionid())
    assert calls[0] == "generate" and "user_credit" not in calls and "credit_receive" not in calls


def test_driver_claims_when_the_balance_is_short_of_the_price(fake):
    task = make_task(f"short {QUICK}")
    sid = task.credentials.sessionid()
    fake.set_credits(sid, gift=2)  # a job costs 4
    result = run(task)
    assert result.meta["credits_claimed"] == 60
    assert fake.credits(sid)["total"] == 2 + 60 - 4
    assert calls_of(fake, sid)[:3] == ["generate", "credit_receive", "generate"]
    assert fake.submissions(session=sid) == 1


def test_the_balance_precheck_can_be_turned_on(fake, settings):
    settings.JIMENG_OVERRIDES = {**FAST, "CREDIT_PRECHECK": True}
    task = make_task(f"prechecked {QUICK}")
    result = run(task)
    assert result.meta["credits_before"] == 100
    assert calls_of(fake, task.credentials.sessionid())[:2] == ["user_credit", "generate"]


def test_driver_parks_an_account_with_nothing_to_claim(fake):
    task = make_task("broke and claimed")
    fake.set_credits(task.credentials.sessionid(), gift=0, claimed_today=True)
    with pytest.raises(QuotaExhausted) as info:
        run(task)
    assert info.value.until > datetime.now(timezone.utc)
    assert fake.submissions(session=task.credentials.sessionid()) == 0


def test_next_claim_time_is_the_next_shanghai_midnight():
    now = datetime(2026, 3, 1, 15, 30, tzinfo=timezone.utc)  # 23:30 in Shanghai
    assert errors.next_claim_time(now) == datetime(2026, 3, 1, 16, 5, tzinfo=timezone.utc)
    now = datetime(2026, 3, 1, 16, 30, tzinfo=timezone.utc)  # 00:30 the next day
    assert errors.next_claim_time(now) == datetime(2026, 3, 2, 16, 5, tzinfo=timezone.utc)


def test_claim_all_reactivates_accounts_out_of_credits(fake, db):
    from accounts.models import Account, AccountState

    def account(name, state, reason, *, gift=0, claimed=False):
        creds = creds_for("cn")
        fake.set_credits(creds.sessionid(), gift=gift, claimed_today=claimed)
        acc = Account(name=name, provider="jimeng")
        acc.set_credentials(creds)
        acc.state, acc.state_reason = state, reason
        if state in (AccountState.EXHAUSTED, AccountState.COOLING):
            acc.state_until = datetime.now(timezone.utc) + timedelta(hours=5)
        acc.save()
        return acc

    account("broke", AccountState.EXHAUSTED, "quota_exhausted")
    account("claimed", AccountState.EXHAUSTED, "quota_exhausted", claimed=True)
    account("cooling", AccountState.COOLING, "upstream_rate_limited")
    disabled = account("disabled", AccountState.DISABLED, "operator")

    unreadable = account("lost-key", AccountState.ACTIVE, "", gift=60)
    from cryptography.fernet import Fernet

    from tests.accounts.test_key_rotation import set_raw_column
    set_raw_column(Account, unreadable.pk, "proxy", Fernet(Fernet.generate_key()).encrypt(b"http://p:1").decode())

    report = {row["account"]: row for row in credits.claim_all()}
    assert set(report) == {"broke", "claimed", "cooling", "lost-key"}
    assert "Account.proxy" in report["lost-key"]["error"] and "received" not in report["lost-key"]
    assert report["broke"]["received"] == 60 and report["broke"]["reactivated"] is True
    assert report["claimed"]["received"] == 0 and report["claimed"]["reactivated"] is False
    assert report["cooling"]["received"] == 60 and report["cooling"]["reactivated"] is False

    states = {a.name: (a.state, a.state_until) for a in Account.objects.all()}
    assert states["broke"] == (AccountState.ACTIVE, None)
    assert states["claimed"][0] == AccountState.EXHAUSTED
    assert states["cooling"][0] == AccountState.COOLING
    assert states["disabled"][0] == AccountState.DISABLED
    assert fake.credits(disabled.get_credentials().sessionid())["total"] == 0


def test_retry_after_hints_are_read():
    assert errors.retry_after({"Retry-After": "120"}) == 120.0
    assert errors.retry_after({}) is None
    err = errors.from_http(429, {"Retry-After": "30"}, path="/mweb/v1/aigc_draft/generate")
    assert isinstance(err, RateLimited) and err.retry_after == 30.0 and err.account_action == "cooldown"


def test_sessions_follow_the_environment_s_proxy_and_ca_bundle(monkeypatch):
    from generation.drivers.jimeng import client as client_module

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    client_module._environment_proxies.cache_clear()
    try:
        plain = client_module.new_session()
        assert plain.trust_env is False and plain.verify == "/etc/ssl/certs/ca-certificates.crt"
        monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
        client_module._environment_proxies.cache_clear()
        proxied = client_module.new_session()
        assert proxied.trust_env is True
        assert proxied.merge_environment_settings("https://jimeng.jianying.com/", {}, None, None, None)[
            "proxies"]["https"] == "http://proxy.invalid:3128"
    finally:
        client_module._environment_proxies.cache_clear()
