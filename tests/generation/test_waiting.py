"""The web process's one job watcher: how many rounds (queries) waiting requests cost."""

import asyncio
import time

import pytest
from django.utils import timezone

from generation import waiting, wakeups
from generation.models import Generation
from generation.notify import job_finished
from tests.conftest import in_fresh_loop

pytestmark = pytest.mark.skipif(not wakeups.enabled(), reason="job-end wake-ups exist with SQLite and no Redis only")


@pytest.fixture
def rounds(transactional_db, settings, tmp_path, monkeypatch):
    """The watcher's rounds (the waiting keys of each), with a safety poll too slow to matter."""
    settings.WAIT_SAFETY_POLL_SECONDS = 30
    monkeypatch.setattr(wakeups, "directory", lambda channel=wakeups.WATCHERS: tmp_path / channel)
    seen: list[int] = []
    real = waiting.fetch_round

    def counted(waiters, watched):
        seen.append(len(waiters))
        return real(waiters, watched)

    monkeypatch.setattr(waiting, "fetch_round", counted)
    return seen


def queued_jobs(count: int) -> list[Generation]:
    return [Generation.objects.create(provider="sleepy", model="sleepy-image",
                                      deadline_at=timezone.now() + timezone.timedelta(seconds=60))
            for _ in range(count)]


def end(job: Generation) -> None:
    """What a worker does when a job ends: the row, then the wake-up."""
    Generation.objects.filter(pk=job.pk).update(status="succeeded", finished_at=timezone.now())
    job_finished(job.pk)


async def listening_watcher() -> waiting.JobWatcher:
    watcher = waiting.watcher()
    watcher._ensure_running()
    for _ in range(200):
        if watcher.mark() is not None:
            return watcher
        await asyncio.sleep(0.01)
    raise AssertionError("the watcher never bound its wake-up socket")


def test_a_burst_of_new_waiters_runs_no_round_and_an_end_runs_one(rounds):
    jobs = queued_jobs(8)

    async def scenario():
        watcher = await listening_watcher()
        since = watcher.mark()
        waits = [asyncio.ensure_future(watcher.wait(job.holder, 20, since=since)) for job in jobs]
        await asyncio.sleep(0.3)
        quiet = list(rounds)
        started = time.monotonic()
        await asyncio.to_thread(end, jobs[0])
        snap = await asyncio.wait_for(waits[0], 10)
        answered_in = time.monotonic() - started
        for pending in waits[1:]:
            pending.cancel()
        return quiet, snap, answered_in

    quiet, snap, answered_in = in_fresh_loop(scenario)
    assert quiet == []  # their jobs were active when admitted: only an end can need a round
    assert snap.status == "succeeded" and snap.id == jobs[0].holder
    assert answered_in < 5  # by the end's wake-up, not by the 30 s safety poll
    assert rounds[0] == 8  # that round read every waiting job at once


def test_a_job_that_ended_before_its_waiter_arrived_is_answered_at_once(rounds):
    (job,) = queued_jobs(1)

    async def scenario():
        watcher = await listening_watcher()
        since = watcher.mark()  # taken before admission, as the views do
        await asyncio.to_thread(end, job)  # the job ends before its request starts waiting
        for _ in range(500):
            if watcher.mark() != since:
                break
            await asyncio.sleep(0.01)
        started = time.monotonic()
        snap = await asyncio.wait_for(watcher.wait(job.holder, 20, since=since), 10)
        return snap, time.monotonic() - started

    snap, answered_in = in_fresh_loop(scenario)
    assert snap.status == "succeeded"
    assert answered_in < 5  # the end was heard since the mark: the waiter asked for a round


def test_a_waiter_without_a_mark_is_looked_up_at_once(rounds):
    (job,) = queued_jobs(1)
    Generation.objects.filter(pk=job.pk).update(status="succeeded", finished_at=timezone.now())  # no wake-up

    async def scenario():
        watcher = await listening_watcher()
        started = time.monotonic()
        snap = await asyncio.wait_for(watcher.wait(job.holder, 20), 10)
        return snap, time.monotonic() - started

    snap, answered_in = in_fresh_loop(scenario)
    assert snap.status == "succeeded" and answered_in < 5 and len(rounds) == 1


def test_ends_arriving_together_share_rounds(rounds, settings):
    settings.WAIT_POLL_SECONDS = 0.3  # the shortest gap between two rounds
    jobs = queued_jobs(8)

    def end_all():
        for job in jobs:  # one wake-up each, ~10 ms apart
            end(job)
            time.sleep(0.01)

    async def scenario():
        watcher = await listening_watcher()
        since = watcher.mark()
        waits = [asyncio.ensure_future(watcher.wait(job.holder, 20, since=since)) for job in jobs]
        await asyncio.sleep(0.05)
        await asyncio.to_thread(end_all)
        return await asyncio.wait_for(asyncio.gather(*waits), 10)

    snaps = in_fresh_loop(scenario)
    assert [s.status for s in snaps] == ["succeeded"] * 8
    assert 1 <= len(rounds) <= 3  # not a round per end
