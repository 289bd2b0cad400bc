"""The real Jimeng video driver (the four VideoDriver methods) against the real in-process fake.

Nothing is mocked: JIMENG_UPSTREAM_URL points every Jimeng host at `fakes.jimeng.server.FakeJimeng`,
and only constants that set the pace are shortened through JIMENG_OVERRIDES. `drive()` calls the
methods the way videos/runner.py does.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path

import pytest
from PIL import Image

from accounts.cookies import parse_credentials
from tests.support.jimeng_fake import point_driver_at, serve
from generation.catalog import VIDEO_GENERATE
from generation.drivers.base import (
    ContentPolicy,
    CredentialsRejected,
    DriverError,
    DriverTask,
    GenerationBlocked,
    InvalidInput,
    OutputFile,
    QuotaExhausted,
    UpstreamFailure,
    VideoPoll,
)
from generation.drivers.jimeng import catalog, constants, videos
from generation.drivers.jimeng.driver import JimengDriver

FAST = {
    "HTTP_RETRY_DELAY": 0.02,
    "VIDEO_FIND_GRACE": 1.0,
    "VIDEO_FIND_INTERVAL": 0.05,
    "POLL_DEADLINE_RESERVE": 0.2,
}
QUICK = "[delay:0.3]"
HQ_16_9, PREVIEW_16_9 = (256, 144), (128, 72)   # the fake's stand-in frame sizes (fakes/jimeng/protocol.py)


@pytest.fixture(scope="module")
def fake():
    yield from serve(0.3)


@pytest.fixture(autouse=True)
def upstream(fake, settings):
    yield from point_driver_at(fake, settings, FAST)
    fake.configure(video_absent_fraction=0.1, poll_interval_seconds=None)


def creds_for(region: str = "cn"):
    sid = uuid.uuid4().hex
    return parse_credentials(sid if region == "cn" else f"{region}-{sid}", provider="jimeng")


def make_task(prompt: str, *, model: str = "jimeng-video-3.0", region: str = "cn", inputs=(),
              deadline: float = 30.0, creds=None, seconds=5, ratio="16:9", resolution="720p") -> DriverTask:
    creds = creds or creds_for(region)
    return DriverTask(
        job_id=uuid.uuid4().hex, kind="video", model=model, upstream_model="",
        params={"prompt": prompt, "seconds": seconds, "ratio": ratio, "resolution": resolution},
        inputs=[Path(p) for p in inputs], credentials=creds, proxy="", region=creds.region,
        deadline=time.time() + deadline, account_name="test",
    )


def sid_of(task: DriverTask) -> str:
    return task.credentials.sessionid()


def job_of(fake, history_id: str) -> dict:
    return next(j for j in fake.state()["jobs"] if j["history_id"] == history_id)


def write_png(path: Path, size, color) -> Path:
    Image.new("RGB", size, color).save(path, "PNG")
    return path


def poll_until_done(driver: JimengDriver, task: DriverTask, upstream_id: str, limit: float = 20.0) -> list[VideoPoll]:
    """The runner's loop: poll, sleep what the driver suggests (0.2–30 s), stop at a terminal state."""
    polls = []
    end = time.time() + limit
    while time.time() < end:
        poll = driver.poll_video(task, upstream_id)
        polls.append(poll)
        if poll.state in ("succeeded", "failed"):
            return polls
        time.sleep(min(max(poll.poll_after, 0.2), 30.0))
    raise AssertionError(f"no terminal state within {limit} s: {[p.state for p in polls]}")


def drive(task: DriverTask, driver: JimengDriver | None = None):
    """submit → polls → download, as videos/runner.py does; (history id, polls, file)."""
    driver = driver or JimengDriver()
    history_id = driver.submit_video(task, uuid.uuid4().hex)
    polls = poll_until_done(driver, task, history_id)
    final = polls[-1]
    if final.state == "failed":
        raise final.error
    return history_id, polls, driver.download_video(task, history_id)


def assert_mp4(video: OutputFile):
    assert video.kind == "video" and video.mime == "video/mp4"
    assert video.data[4:8] == b"ftyp"


def assert_no_secrets(task: DriverTask, err: DriverError):
    dumped = json.dumps(err.upstream_log, ensure_ascii=False) + err.message
    assert sid_of(task) not in dumped
    assert "x-signature" not in dumped.lower()


# --- the model table -------------------------------------------------------------------------------


def test_every_catalog_video_model_has_a_key_on_each_of_its_regions():
    video_specs = [s for s in catalog.MODELS if s.can(VIDEO_GENERATE)]
    assert {s.id for s in video_specs} == set(constants.VIDEO_MODELS)
    for spec in video_specs:
        assert set(spec.regions) == set(constants.VIDEO_MODELS[spec.id]), spec.id
        for region in spec.regions:
            assert videos.model_key(spec.id, region)
    assert set(constants.VIDEO_MODELS["jimeng-video-3.0"]) >= {"us"}
    assert "us" not in constants.VIDEO_MODELS["jimeng-video-3.0-pro"]


@pytest.mark.parametrize("model,region,key,seconds,resolution_sent", [
    ("jimeng-video-3.5-pro", "cn", "dreamina_ic_generate_video_model_vgfm_3.5_pro", 12, None),
    ("jimeng-video-3.5-pro", "us", "dreamina_ic_generate_video_model_vgfm_3.5_pro", 5, None),
    ("jimeng-video-3.0-pro", "cn", "dreamina_ic_generate_video_model_vgfm_3.0_pro", 10, None),
    ("jimeng-video-3.0", "us", "dreamina_ic_generate_video_model_vgfm_3.0", 10, "1080p"),
    ("jimeng-video-3.0-fast", "sg", "dreamina_ic_generate_video_model_vgfm_3.0_fast", 5, "1080p"),
    ("jimeng-video-2.0-pro", "cn", "dreamina_ic_generate_video_model_vgfm1.0", 5, None),
    ("jimeng-video-2.0", "jp", "dreamina_ic_generate_video_model_vgfm_lite", 5, None),
    ("jimeng-video-veo3", "hk", "dreamina_veo3_generate_video", 8, None),
    ("jimeng-video-veo3.1", "sg", "dreamina_veo3.1_generate_video", 8, None),
    ("jimeng-video-sora2", "jp", "dreamina_sora2_generate_video", 12, None),
])
def test_models_submit_with_their_key_benefit_type_and_duration(fake, model, region, key, seconds,
                                                                resolution_sent):
    # The fake refuses a benefit_type that does not match the model (ret 5001), so acceptance is the check.
    task = make_task(f"model {model} {QUICK}", model=model, region=region, seconds=seconds, resolution="1080p")
    history_id = JimengDriver().submit_video(task, uuid.uuid4().hex)
    job = job_of(fake, history_id)
    assert job["model"] == key and job["site"] == region and job["kind"] == "video"
    assert job["video"]["duration_ms"] == seconds * 1000
    assert job["video"]["resolution"] == resolution_sent
    assert job["video"]["function_mode"] == "first_last_frames" and job["video"]["mode"] == "text"


def test_models_outside_their_sites_and_bad_parameters_are_refused(fake):
    before = fake.state()["submissions"]["total"]
    with pytest.raises(GenerationBlocked, match="hk, jp, sg"):
        JimengDriver().submit_video(make_task("veo", model="jimeng-video-veo3", seconds=8), "s1")
    with pytest.raises(GenerationBlocked):
        JimengDriver().submit_video(make_task("pro", model="jimeng-video-3.0-pro", region="us"), "s2")
    for params in ({"seconds": 7}, {"ratio": "2:3"}, {"resolution": "4k"}):
        with pytest.raises(InvalidInput):
            JimengDriver().submit_video(make_task("bad", **params), "s3")
    with pytest.raises(InvalidInput):
        JimengDriver().submit_video(make_task("veo 5 s", model="jimeng-video-veo3", region="sg", seconds=5), "s4")
    assert fake.state()["submissions"]["total"] == before


# --- text / first frame / first and last frame ------------------------------------------------------


def test_text_to_video_end_to_end(fake):
    task = make_task(f"a lion on the grassland {QUICK}", ratio="16:9", resolution="1080p")
    before = fake.state()["requests"]
    history_id, polls, video = drive(task)
    assert_mp4(video)
    assert (video.width, video.height) == HQ_16_9          # the high-bitrate file
    job = job_of(fake, history_id)
    assert job["video"]["mode"] == "text" and job["video"]["aspect_ratio"] == "16:9"
    assert job["video"]["duration_ms"] == 5000 and job["video"]["resolution"] == "1080p"
    assert job["input_uris"] == []
    assert fake.submissions(session=sid_of(task)) == 1
    progress = [p.progress for p in polls]
    assert progress == sorted(progress) and all(p < 100 for p in progress[:-1]) and progress[-1] == 100
    assert polls[-1].meta["history_id"] == history_id and polls[-1].meta["item_id"]
    after = fake.state()["requests"]
    assert after.get("local_item_list", 0) - before.get("local_item_list", 0) == 1


def test_first_frame_is_uploaded_and_referenced(fake, tmp_path):
    first = write_png(tmp_path / "first.png", (90, 160), (200, 40, 40))
    task = make_task(f"she turns around {QUICK}", inputs=[first], ratio="16:9")
    history_id, _polls, video = drive(task)
    assert_mp4(video)
    job = job_of(fake, history_id)
    assert job["video"]["mode"] == "first_frame" and len(job["input_uris"]) == 1
    assert job["video"]["aspect_ratio"] == "9:16"  # upstream sizes by the frame, not the ratio
    uploaded = {u["sha256"]: u for u in fake.uploads()}
    assert hashlib.sha256(first.read_bytes()).hexdigest() in uploaded


def test_first_and_last_frames_are_uploaded_in_order(fake, tmp_path):
    first = write_png(tmp_path / "a.png", (64, 64), (10, 10, 200))
    last = write_png(tmp_path / "b.png", (64, 64), (10, 200, 10))
    task = make_task(f"from blue to green {QUICK}", inputs=[first, last], region="sg",
                     model="jimeng-video-3.0-fast")
    history_id, _polls, video = drive(task)
    assert_mp4(video)
    job = job_of(fake, history_id)
    assert job["video"]["mode"] == "first_last_frames"
    assert job["video"]["first_uri"] == job["input_uris"][0] and job["video"]["end_uri"] == job["input_uris"][1]
    uploads = [u["sha256"] for u in fake.uploads()]
    for path in (first, last):
        assert hashlib.sha256(path.read_bytes()).hexdigest() in uploads


def test_more_than_two_frames_is_invalid(fake, tmp_path):
    paths = [write_png(tmp_path / f"{i}.png", (32, 32), (i, i, i)) for i in range(3)]
    before = len(fake.uploads())
    with pytest.raises(InvalidInput):
        JimengDriver().submit_video(make_task("three", inputs=paths), "s")
    assert len(fake.uploads()) == before


# --- polling ---------------------------------------------------------------------------------------


def test_a_record_absent_at_first_is_queued_not_an_error(fake):
    fake.configure(video_absent_fraction=0.6)
    task = make_task("[delay:1.5] slow to appear")
    driver = JimengDriver()
    history_id = driver.submit_video(task, uuid.uuid4().hex)
    first = driver.poll_video(task, history_id)
    assert first.state == "queued" and first.meta["upstream_status"] is None and first.error is None
    assert 0 < first.poll_after <= 0.4   # the upstream's polling_config (1.5 s / 4) caps the wait
    polls = poll_until_done(driver, task, history_id)
    assert polls[-1].state == "succeeded"
    statuses = [p.meta.get("upstream_status") for p in [first, *polls]]
    assert statuses[0] is None and 50 in statuses and any(s in (20, 42, 45) for s in statuses)


def test_states_progress_and_pace(fake):
    fake.configure(poll_interval_seconds=0.15)
    task = make_task("[delay:2] pacing")
    driver = JimengDriver()
    history_id = driver.submit_video(task, uuid.uuid4().hex)
    polls = poll_until_done(driver, task, history_id)
    states = [p.state for p in polls]
    assert states[-1] == "succeeded" and set(states[:-1]) <= {"queued", "running"} and "running" in states
    seen = {p.meta.get("upstream_status"): p.state for p in polls}
    assert seen.get(42, "running") == "running" and seen.get(45, "running") == "running"
    assert seen.get(20, "queued") == "queued"
    progress = [p.progress for p in polls]
    assert progress == sorted(progress) and max(progress[:-1]) < 100 and progress[-1] == 100
    assert max(progress[:-1]) > 0
    assert all(p.poll_after <= 0.15 for p in polls[:-1])  # polling_config.interval_seconds honoured


def test_progress_estimate_is_monotonic_and_below_100():
    created = 1000.0
    values = []
    for t in range(0, 1000, 5):
        status = 20 if t < 30 else 42 if t < 90 else 45
        record = {"status": status, "created_time": created, "forecast_queue_cost": 10,
                  "forecast_generate_cost": 120, "queue_info": {"queue_idx": 3 if status == 20 else 0}}
        values.append(videos.estimate_progress(record, created + t))
    assert values == sorted(values) and values[-1] < 100 and values[0] == 0
    assert max(v for v in values[:6]) <= constants.VIDEO_PROGRESS_QUEUED_MAX


def test_stuck_job_keeps_running_below_100(fake):
    task = make_task("[fail:never_finish] [delay:0.3] stuck")
    driver = JimengDriver()
    history_id = driver.submit_video(task, uuid.uuid4().hex)
    time.sleep(0.6)
    polls = [driver.poll_video(task, history_id) for _ in range(3)]
    assert [p.state for p in polls] == ["running"] * 3
    assert all(p.meta["upstream_status"] == 45 and p.progress < 100 for p in polls)


def test_a_record_that_never_appears_fails_after_the_grace(fake, settings):
    settings.JIMENG_OVERRIDES = {**FAST, "POLL_MISSING_GRACE_VIDEO": 0.4}
    task = make_task(f"[fail:missing_history] gone {QUICK}")
    driver = JimengDriver()
    history_id = driver.submit_video(task, uuid.uuid4().hex)
    polls = poll_until_done(driver, task, history_id, limit=5)
    assert polls[0].state == "queued" and polls[-1].state == "failed"
    assert isinstance(polls[-1].error, UpstreamFailure) and "lost track" in polls[-1].error.message


def test_poll_errors_are_upstream_failures_the_runner_retries(fake):
    task = make_task(f"bumpy {QUICK}")
    driver = JimengDriver()
    history_id = driver.submit_video(task, uuid.uuid4().hex)
    fake.queue_failure("http_500", count=4, endpoint="history", session=sid_of(task))
    with pytest.raises(UpstreamFailure):
        driver.poll_video(task, history_id)   # 1 + HTTP_RETRIES attempts, all 500
    assert poll_until_done(driver, task, history_id)[-1].state == "succeeded"


# --- download --------------------------------------------------------------------------------------


def test_preview_is_the_fallback_when_there_is_no_hq_url(fake):
    task = make_task(f"[fail:no_hq] preview only {QUICK}")
    _history_id, _polls, video = drive(task)
    assert_mp4(video)
    assert (video.width, video.height) == PREVIEW_16_9


def test_a_refused_hq_download_falls_back_to_the_preview(fake):
    task = make_task(f"hq refused {QUICK}")
    driver = JimengDriver()
    history_id = driver.submit_video(task, uuid.uuid4().hex)
    assert poll_until_done(driver, task, history_id)[-1].state == "succeeded"
    fake.queue_failure("cdn_expired", endpoint="cdn")       # the next CDN fetch answers 403
    video = driver.download_video(task, history_id)
    assert_mp4(video) and (video.width, video.height) == PREVIEW_16_9


def test_expired_urls_everywhere_are_an_upstream_failure(fake):
    task = make_task(f"[fail:cdn_expired] all expired {QUICK}")
    driver = JimengDriver()
    history_id = driver.submit_video(task, uuid.uuid4().hex)
    assert poll_until_done(driver, task, history_id)[-1].state == "succeeded"
    with pytest.raises(UpstreamFailure, match="MP4|refused"):
        driver.download_video(task, history_id)


def test_is_mp4():
    assert videos.is_mp4(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00")
    assert not videos.is_mp4(b"<html>403 Forbidden</html>")


# --- Seedance 2.0 behind the anti-bot gate ---------------------------------------------------------


@pytest.mark.parametrize("model", ["jimeng-video-seedance-2.0", "jimeng-video-seedance-2.0-fast"])
def test_seedance_2_ends_with_the_cause_and_is_not_retried(fake, model):
    task = make_task(f"seedance {QUICK}", model=model, seconds=6)
    with pytest.raises(GenerationBlocked) as info:
        JimengDriver().submit_video(task, uuid.uuid4().hex)
    err = info.value
    assert "shark not pass" in err.message and "a_bogus" in err.message and "1019" in err.message
    assert err.failover is False and err.account_action is None   # no other account, no cooldown
    assert err.upstream_log
    session = fake.state()["sessions"][sid_of(task)]
    assert session["generate_requests"] == 1            # asked once, never again
    assert fake.submissions(session=sid_of(task)) == 0  # nothing created, nothing charged
    assert_no_secrets(task, err)


def test_other_models_keep_the_rate_limit_mapping_for_1019(fake):
    task = make_task("[fail:antibot] plain model")
    with pytest.raises(DriverError) as info:
        JimengDriver().submit_video(task, uuid.uuid4().hex)
    assert info.value.code == "upstream_rate_limited"


# --- failures → error classes -----------------------------------------------------------------------


@pytest.mark.parametrize("marker,expected,code,fail_code", [
    ("gen_failed", UpstreamFailure, "upstream_error", "1017"),
    ("content_policy", ContentPolicy, "content_policy_violation", "2038"),
    ("gen_failed:2039", QuotaExhausted, "quota_exhausted", "2039"),
])
def test_failed_jobs_map_to_error_classes(fake, marker, expected, code, fail_code):
    task = make_task(f"[fail:{marker}] {QUICK}")
    driver = JimengDriver()
    history_id = driver.submit_video(task, uuid.uuid4().hex)
    final = poll_until_done(driver, task, history_id)[-1]
    assert final.state == "failed" and type(final.error) is expected
    assert final.error.code == code and final.meta["fail_code"] == fail_code
    assert "video" in final.error.message and final.progress < 100
    assert_no_secrets(task, final.error)


@pytest.mark.parametrize("marker,expected", [
    ("no_credits", QuotaExhausted),
    ("login", CredentialsRejected),
    ("benefit", GenerationBlocked),
])
def test_refused_submissions_raise(fake, marker, expected):
    task = make_task(f"[fail:{marker}] refused")
    with pytest.raises(expected):
        JimengDriver().submit_video(task, uuid.uuid4().hex)
    assert fake.submissions(session=sid_of(task)) == 0


# --- exactly once: lost answers and resumed workers ------------------------------------------------


def test_a_lost_generate_answer_is_recovered_by_submit_id(fake):
    task = make_task(f"[fail:lost_response] once {QUICK}")
    driver = JimengDriver()
    history_id = driver.submit_video(task, uuid.uuid4().hex)
    assert fake.submissions(session=sid_of(task)) == 1
    assert job_of(fake, history_id)["session"] == sid_of(task)
    assert poll_until_done(driver, task, history_id)[-1].state == "succeeded"
    assert_mp4(driver.download_video(task, history_id))
    assert fake.submissions(session=sid_of(task)) == 1


def test_find_video_after_a_lost_response(fake, settings):
    # No recovery inside submit_video this time (no grace, and the record is still invisible)...
    settings.JIMENG_OVERRIDES = {**FAST, "VIDEO_FIND_GRACE": 0}
    fake.configure(video_absent_fraction=0.5)
    task = make_task("[fail:lost_response] [delay:1] lost")
    submit_id = uuid.uuid4().hex
    with pytest.raises(UpstreamFailure):
        JimengDriver().submit_video(task, submit_id)
    assert fake.submissions(session=sid_of(task)) == 1
    # ...so a resumed worker (a fresh driver, another process) asks by submit_id before paying again.
    settings.JIMENG_OVERRIDES = {**FAST, "VIDEO_FIND_GRACE": 3}
    resumed = JimengDriver()
    found = resumed.find_video(task, submit_id)
    (job,) = [j for j in fake.jobs() if j["session"] == sid_of(task)]
    assert found == job["history_id"] and job["submit_id"] == str(uuid.UUID(submit_id))
    assert poll_until_done(resumed, task, found)[-1].state == "succeeded"
    assert_mp4(resumed.download_video(task, found))
    assert fake.submissions(session=sid_of(task)) == 1


def test_find_video_is_none_for_a_submission_that_never_arrived(fake, settings):
    settings.JIMENG_OVERRIDES = {**FAST, "VIDEO_FIND_GRACE": 0.3}
    task = make_task("never sent")
    started = time.time()
    assert JimengDriver().find_video(task, uuid.uuid4().hex) is None
    assert time.time() - started >= 0.3   # it waited out the eventual-consistency window


def test_a_video_on_an_empty_account_claims_and_submits_again(fake):
    task = make_task(f"broke {QUICK}")
    fake.set_credits(sid_of(task), gift=0, purchase=0, vip=0)
    _history_id, _polls, video = drive(task)
    assert_mp4(video)
    assert fake.credits(sid_of(task))["total"] > 0
    assert fake.submissions(session=sid_of(task)) == 1


def test_overrides_reach_the_video_tables(fake, settings):
    settings.JIMENG_OVERRIDES = {**FAST, "VIDEO_BENEFIT_TYPE_DEFAULT": "basic_video_operation_wrong"}
    with pytest.raises(GenerationBlocked, match="credit prededuct failed"):
        JimengDriver().submit_video(make_task("wrong benefit"), uuid.uuid4().hex)
    settings.JIMENG_OVERRIDES = {
        **FAST,
        "VIDEO_MODELS": {**constants.VIDEO_MODELS,
                         "jimeng-video-next": {"cn": "dreamina_ic_generate_video_model_vgfm_3.0_fast"}},
        "VIDEO_BENEFIT_TYPES_BY_RESOLUTION": {
            "dreamina_ic_generate_video_model_vgfm_3.0_fast": {"1080p": "basic_video_operation_vgfm_v_three_1080"}},
    }
    task = make_task(f"renamed {QUICK}", model="jimeng-video-next", resolution="1080p")
    history_id = JimengDriver().submit_video(task, uuid.uuid4().hex)
    job = job_of(fake, history_id)
    assert job["model"] == "dreamina_ic_generate_video_model_vgfm_3.0_fast" and job["video"]["resolution"] == "1080p"
