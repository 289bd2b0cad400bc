"""Telling waiting web processes that a job ended.

With Redis, workers publish the job id and each web process's single watcher wakes at once.
With SQLite (one machine) they send a datagram to each web process (`generation.wakeups`).
Otherwise (PostgreSQL without Redis) there is nothing to send: the watcher's periodic query
finds ended jobs.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from django.conf import settings

logger = logging.getLogger(__name__)

CHANNEL_SUFFIX = ":jobs-finished"


def channel() -> str:
    return settings.Q_CLUSTER["name"] + CHANNEL_SUFFIX


@lru_cache(maxsize=1)
def _client():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


def job_finished(job_id) -> None:
    if not settings.REDIS_URL:
        from generation import wakeups

        if wakeups.enabled():
            wakeups.send(job_id, wakeups.WATCHERS)
        return
    try:
        _client().publish(channel(), str(job_id))
    except Exception:  # the watcher's poll still finds the job; a lost wake-up only adds latency
        logger.warning("could not publish the end of job %s", job_id, exc_info=True)
