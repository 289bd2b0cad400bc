"""A Jimeng account short of credits for one job is not an account out of credits.

A 10-credit video refused on an account holding 8 must move on to another account without parking
this one, which can still pay for 4-credit images; only an account that cannot pay for an image
(after the daily claim) is parked as exhausted until the next claim. The real driver and runners
against the in-process fake upstream (fakes/jimeng; its prices: 4 credits an image, 2 a second of
video).
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from django.utils import timezone as dj_timezone

from accounts.cookies import parse_credentials
from tests.support.jimeng_fake import FAST_POLLING, point_driver_at, serve
from generation.drivers.base import DriverTask, QuotaExhausted
from generation.drivers.jimeng import errors
from generation.drivers.jimeng.driver import JimengDriver

FAST = {
    **FAST_POLLING,
    "VIDEO_FIND_GRACE": 0.3,
    "VIDEO_FIND_INTERVAL": 0.05,
}
QUICK = "[delay:0.05]"


@pytest.fixture(scope="module")
def fake():
    yield from serve(0.2)


@pytest.fixture(autouse=True)
def upstream(fake, settings):
    yield from point_driver_at(fake, settings, FAST)


def new_session(fake, *, credits: int, claimed_today: bool = True) -> str:
    sid = uuid.uuid4().hex
    fake.set_credits(sid, gift=credits, purchase=0, vip=0, claimed_today=claimed_today)
    return sid


def task_for(sid: str, kind: str, prompt: str) -> DriverTask:
    creds = parse_credentials(sid, provider="jimeng")
    if kind == "video":
        model, params = "jimeng-video-3.0", {"prompt": prompt, "seconds": 5, "ratio": "16:9", "resolution": "720p"}
    else:
        model, params = "jimeng-4.5", {"prompt": prompt, "n": 1}
    return DriverTask(job_id=uuid.uuid4().hex, kind=kind, model=model, upstream_model="", params=params,
                      inputs=[], credentials=creds, proxy="", region="cn", deadline=time.time() + 20,
                      account_name="test")


def assert_no_secrets(sid: str, err):
    text = err.message + json.dumps(err.upstream_log, ensure_ascii=False)
    assert sid not in text
    assert "x-signature" not in text.lower()


def calls_of(fake, sid: str) -> list[str]:
    return [e["endpoint"] for e in fake.state()["request_log"] if e.get("session") == sid]


# --- the driver's verdict ---------------------------------------------------------------------------


def test_a_video_dearer_than_the_balance_fails_over_without_parking(fake):
    sid = new_session(fake, credits=8)           # the 5 s video costs 10; an image costs 4
    driver = JimengDriver()
    with pytest.raises(QuotaExhausted) as info:
        driver.submit_video(task_for(sid, "video", "a fox runs"), uuid.uuid4().hex)
    err = info.value
    assert isinstance(err, errors.CreditsShort)
    assert err.code == "quota_exhausted" and err.failover is True
    assert err.account_action is None and err.until is None     # nothing parks the account
    assert "holds 8 credits" in err.message and "about 10 credits" in err.message
    assert "ret 1006" in err.message
    assert_no_secrets(sid, err)
    assert fake.submissions(session=sid) == 0 and fake.credits(sid)["total"] == 8

    result = driver.run(task_for(sid, "generate", f"still pays for images {QUICK}"))
    assert len(result.files) == 1
    assert fake.credits(sid)["total"] == 4


def test_a_short_account_claims_first_and_then_pays(fake):
    sid = new_session(fake, credits=8, claimed_today=False)
    history_id = JimengDriver().submit_video(task_for(sid, "video", f"paid after the claim {QUICK}"),
                                             uuid.uuid4().hex)
    assert history_id
    assert calls_of(fake, sid)[:3] == ["generate", "credit_receive", "generate"]
    assert fake.credits(sid)["total"] == 8 + 60 - 10


def test_an_account_with_nothing_left_is_parked(fake):
    for kind in ("video", "generate"):
        sid = new_session(fake, credits=0)
        with pytest.raises(QuotaExhausted) as info:
            JimengDriver().submit_video(task_for(sid, kind, "x"), uuid.uuid4().hex) if kind == "video" else \
                JimengDriver().run(task_for(sid, kind, "x"))
        err = info.value
        assert type(err) is QuotaExhausted and err.account_action == "exhaust", err.message
        assert err.until == errors.next_claim_time(datetime.now(timezone.utc))
        assert "balance 0" in err.message and "below the 4 credits of an image" in err.message
        assert_no_secrets(sid, err)


def test_a_balance_below_an_image_is_out_of_credits(fake):
    sid = new_session(fake, credits=3)
    with pytest.raises(QuotaExhausted) as info:
        JimengDriver().submit_video(task_for(sid, "video", "x"), uuid.uuid4().hex)
    assert type(info.value) is QuotaExhausted and "balance 3" in info.value.message


def test_an_unknown_balance_parks_only_on_an_image(fake):
    for kind, parked in (("generate", True), ("video", False)):
        sid = new_session(fake, credits=2)
        fake.queue_failure("http_500", count=20, endpoint="user_credit", session=sid)
        with pytest.raises(QuotaExhausted) as info:
            JimengDriver().submit_video(task_for(sid, kind, "x"), uuid.uuid4().hex) if kind == "video" else \
                JimengDriver().run(task_for(sid, kind, "x"))
        assert (info.value.account_action == "exhaust") is parked, info.value.message
        assert "unknown" in info.value.message


def test_the_precheck_claims_below_an_image_and_fails_over_when_short(fake, settings):
    settings.JIMENG_OVERRIDES = {**FAST, "CREDIT_PRECHECK": True}
    sid = new_session(fake, credits=2, claimed_today=False)
    result = JimengDriver().run(task_for(sid, "generate", f"claimed first {QUICK}"))
    assert result.meta["credits_claimed"] == 60
    assert calls_of(fake, sid)[:3] == ["user_credit", "credit_receive", "generate"]

    sid = new_session(fake, credits=8)
    with pytest.raises(errors.CreditsShort) as info:
        JimengDriver().submit_video(task_for(sid, "video", "x"), uuid.uuid4().hex)
    assert "holds 8 credits" in info.value.message


def test_the_price_table_can_be_overridden(fake, settings):
    # A site whose images cost 10: an account holding 8 cannot pay for anything, so it is parked.
    settings.JIMENG_OVERRIDES = {**FAST, "CREDIT_COST_IMAGE": 10}
    sid = new_session(fake, credits=8)
    with pytest.raises(QuotaExhausted) as info:
        JimengDriver().submit_video(task_for(sid, "video", "x"), uuid.uuid4().hex)
    assert type(info.value) is QuotaExhausted and "below the 10 credits" in info.value.message


# --- through the runners: failover, account states --------------------------------------------------


def jimeng_account(fake, name: str, *, credits: int):
    from accounts.models import Account

    sid = new_session(fake, credits=credits)
    account = Account(name=name, provider="jimeng", max_concurrency=1)
    account.set_credentials(parse_credentials(sid, provider="jimeng", source=f"test:{name}"))
    account.save()
    return account, sid


@pytest.fixture
def not_queued(monkeypatch):
    """Jobs run here, by calling the workers' tasks: no cluster may pick them up."""
    from generation import service
    from videos import service as video_service

    monkeypatch.setattr(service, "enqueue_later", lambda job: (lambda: None))
    monkeypatch.setattr(video_service, "dispatch", lambda *a, **k: None)


def run_image_job(prompt: str):
    from generation import catalog
    from generation.models import Generation
    from generation.runner import run_generation
    from generation.service import create_job

    job = create_job(api_key=None, spec=catalog.resolve("jimeng-4.5"), kind="generate",
                     params={"prompt": prompt, "n": 1})
    run_generation(str(job.pk))
    return Generation.objects.get(pk=job.pk)


def test_a_video_no_account_can_pay_ends_with_the_quota_error_and_parks_nobody(fake, transactional_db,
                                                                                not_queued):
    from accounts.models import Account, AccountState
    from generation.models import JobStatus
    from videos.models import VideoTask
    from videos.runner import run_video

    first, first_sid = jimeng_account(fake, "jm-8-a", credits=8)
    second, second_sid = jimeng_account(fake, "jm-8-b", credits=8)
    now = dj_timezone.now()
    task = VideoTask.objects.create(provider="jimeng", model="jimeng-video-3.0", prompt="a fox runs", seconds="5",
                                    params={"seconds": 5, "ratio": "16:9", "resolution": "720p"},
                                    created_at=now, enqueued_at=now, deadline_at=now + timedelta(seconds=30))
    started = time.monotonic()
    assert run_video(str(task.pk)) == "failed"
    assert time.monotonic() - started < 15     # both accounts tried at once, no waiting for a lease

    task.refresh_from_db()
    # The quota error (the driver's code, or the client's name for it once the runner words the
    # pool's failure), after both accounts were tried.
    assert task.error_code in ("quota_exhausted", "insufficient_quota"), task.error_message
    assert first_sid not in task.error_message and second_sid not in task.error_message
    assert sorted(task.tried_accounts) == sorted([first.pk, second.pk])   # it failed over
    for account in Account.objects.filter(pk__in=[first.pk, second.pk]):
        assert (account.state, account.state_until) == (AccountState.ACTIVE, None), account.state_reason
        assert "quota_exhausted" in account.last_error
        assert "holds 8 credits" in account.last_error and "about 10 credits" in account.last_error
        assert first_sid not in account.last_error and second_sid not in account.last_error
    assert fake.submissions(session=first_sid) == fake.submissions(session=second_sid) == 0

    # Both still serve what they can pay for.
    job = run_image_job(f"a 4-credit image {QUICK}")
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert job.account_id in (first.pk, second.pk)
    assert sorted([fake.credits(first_sid)["total"], fake.credits(second_sid)["total"]]) == [4, 8]


def test_an_empty_account_is_parked_until_the_claim_and_the_job_moves_on(fake, transactional_db, not_queued):
    from accounts.models import Account, AccountState
    from generation.models import JobStatus

    empty, _ = jimeng_account(fake, "jm-0", credits=0)
    rich, rich_sid = jimeng_account(fake, "jm-100", credits=100)
    Account.objects.filter(pk=rich.pk).update(last_used_at="2001-01-01T00:00:00Z")   # the empty one goes first

    job = run_image_job(f"paid by the other one {QUICK}")
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert job.account_id == rich.pk and job.attempts == 2
    empty.refresh_from_db()
    assert empty.state == AccountState.EXHAUSTED and empty.state_reason == "quota_exhausted"
    assert empty.state_until == errors.next_claim_time(datetime.now(timezone.utc))
    assert fake.credits(rich_sid)["total"] == 96
