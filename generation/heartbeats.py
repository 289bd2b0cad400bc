"""Marking running jobs alive while their worker's main thread is busy with the upstream.

The reaper ends a job whose heartbeat stops (its worker died). The main thread may be blocked
for minutes in a driver call or on the browser service, so the beats come from a side thread:
one per worker process, started once and shared by every job the process runs. A thread per
job cost a thread start on each job's way to the upstream, which under a burst (every worker
starting a job at once) waits for the new thread to be scheduled.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from typing import Callable

from django.conf import settings
from django.db import connections

from generation import jobs

logger = logging.getLogger(__name__)


class Heartbeat:
    """`with Heartbeat(job_id):` beats `beat(job_id)` every HEARTBEAT_SECONDS while the block runs,
    the first beat one interval after it starts."""

    def __init__(self, job_id, beat: Callable | None = None):
        self.job_id = job_id
        self.beat = beat or jobs.beat
        self.due = 0.0

    def __enter__(self):
        _beater().add(self)
        return self

    def __exit__(self, *exc):
        _beater().remove(self)


class _Beater:
    def __init__(self):
        self._cond = threading.Condition()
        self._beats: list[Heartbeat] = []
        self._thread: threading.Thread | None = None

    def add(self, heartbeat: Heartbeat) -> None:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="heartbeats", daemon=True)
                self._thread.start()
            heartbeat.due = time.monotonic() + settings.HEARTBEAT_SECONDS
            self._beats.append(heartbeat)
            self._cond.notify()

    def remove(self, heartbeat: Heartbeat) -> None:
        with self._cond:
            self._beats = [b for b in self._beats if b is not heartbeat]

    def _run(self) -> None:
        while True:
            for heartbeat in self._next_due():
                try:
                    heartbeat.beat(heartbeat.job_id)
                except Exception:  # a missed beat is not worth killing the job for
                    logger.warning("heartbeat for %s failed", heartbeat.job_id, exc_info=True)
                    connections.close_all()  # possibly broken: the next beat reconnects

    def _next_due(self) -> list[Heartbeat]:
        """The beats due now (each then due again an interval later), once some are. With no job
        running, this thread's connections are closed and [] comes back when a job starts."""
        with self._cond:
            while self._beats:
                now = time.monotonic()
                due = [b for b in self._beats if b.due <= now]
                if due:
                    for heartbeat in due:
                        heartbeat.due += settings.HEARTBEAT_SECONDS
                    return due
                self._cond.wait(min(b.due for b in self._beats) - now)
        connections.close_all()  # an idle worker holds no connection for its beats
        with self._cond:
            self._cond.wait_for(lambda: self._beats)
        return []


@functools.lru_cache(maxsize=1)
def _beater() -> _Beater:
    """This process's beater (a forked worker starts its own: threads do not survive a fork)."""
    return _Beater()


os.register_at_fork(after_in_child=_beater.cache_clear)
