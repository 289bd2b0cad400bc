"""A worker's running jobs are marked alive by one shared thread, each at its own pace."""

from __future__ import annotations

import threading
import time

import pytest

from generation.heartbeats import Heartbeat

INTERVAL = 0.1


@pytest.fixture(autouse=True)
def fast_beats(settings):
    settings.HEARTBEAT_SECONDS = INTERVAL


class Recorder:
    def __init__(self, fail_first: int = 0):
        self.beats: list[tuple[str, float, int]] = []
        self.fail_first = fail_first

    def __call__(self, job_id):
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeError("database is locked")
        self.beats.append((job_id, time.monotonic(), threading.get_ident()))

    def of(self, job_id):
        return [at for job, at, _thread in self.beats if job == job_id]


def test_each_job_beats_every_interval_from_its_start_and_stops_when_it_ends():
    record = Recorder()
    started_a = time.monotonic()
    with Heartbeat("a", beat=record):
        time.sleep(INTERVAL * 1.5)
        started_b = time.monotonic()
        with Heartbeat("b", beat=record):
            time.sleep(INTERVAL * 2.5)
        ended_b = time.monotonic()
        time.sleep(INTERVAL * 2)
    ended_a = time.monotonic()
    time.sleep(INTERVAL * 2)

    beats_a, beats_b = record.of("a"), record.of("b")
    assert beats_a[0] >= started_a + INTERVAL and beats_b[0] >= started_b + INTERVAL
    assert 4 <= len(beats_a) <= 6 and 1 <= len(beats_b) <= 3
    assert all(at <= ended_a for at in beats_a) and all(at <= ended_b for at in beats_b)
    threads = {thread for _job, _at, thread in record.beats}
    assert len(threads) == 1 and threading.get_ident() not in threads  # one side thread for both


def test_a_failed_beat_does_not_stop_the_next_ones():
    record = Recorder(fail_first=2)
    with Heartbeat("job", beat=record):
        time.sleep(INTERVAL * 4.5)
    assert 1 <= len(record.of("job")) <= 3


def test_entering_a_heartbeat_does_not_start_a_thread_per_job():
    record = Recorder()
    with Heartbeat("warm", beat=record):
        pass
    before = threading.active_count()
    for i in range(3):
        with Heartbeat(f"job-{i}", beat=record):
            assert threading.active_count() == before


def test_the_thread_lets_go_of_its_database_connection_once_no_job_runs(monkeypatch):
    from generation import heartbeats

    closed = threading.Event()
    monkeypatch.setattr(heartbeats.connections, "close_all", closed.set)
    record = Recorder()
    with Heartbeat("long", beat=record):
        time.sleep(INTERVAL * 1.5)  # it has beaten (and so connected) at least once
        closed.clear()
        time.sleep(INTERVAL * 1.5)
        assert not closed.is_set()  # not while a job runs
    assert record.of("long") and closed.wait(INTERVAL * 3)
