"""Server-sent event streams held open while a job runs (chat completions, image streams).

A stream is an async generator fed by the process's one job watcher: it holds no thread and no
database connection however long the job runs. It is not bound by the client's read timeout
(pings keep the client reading), only by the job's deadline.
"""

from __future__ import annotations

import json
import time
from typing import AsyncIterator, Callable

from django.conf import settings
from django.http import StreamingHttpResponse
from django.utils import timezone

from api.errors import ApiError
from api.threads import run_sync
from generation.waiting import JobSnapshot, JobState, watcher

PING = b": ping\n\n"


def frame(payload: dict, event: str | None = None) -> bytes:
    data = b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"
    return b"event: " + event.encode() + b"\n" + data if event else data


def error_frame(error: ApiError, event: str | None = None) -> bytes:
    # A data object with a top-level `error` key: the SDK raises APIError mid-stream.
    return frame(error.body(), event)


def response(frames: AsyncIterator[bytes], headers: dict | None = None) -> StreamingHttpResponse:
    # An async iterator: under ASGI Django would read a sync one whole before sending anything.
    answer = StreamingHttpResponse(frames, content_type="text/event-stream; charset=utf-8")
    answer["Cache-Control"] = "no-cache"
    answer["X-Accel-Buffering"] = "no"  # nginx would otherwise hold the frames back
    for name, value in (headers or {}).items():
        answer[name] = value
    return answer


async def follow(job, expire: Callable[[object], bool],
                 describe: Callable[[JobState], bytes | None] | None = None) -> AsyncIterator[bytes | JobSnapshot]:
    """Frames to send while the job runs, then its end snapshot (always the last item).

    The frames are pings after STREAM_PING_SECONDS of silence and whatever `describe` makes of
    a change of the job's state (None: nothing to send). Past the job's deadline the job is
    ended here (`expire`, off the event loop), and its failure arrives as the snapshot."""
    ping_every = settings.STREAM_PING_SECONDS
    deadline = time.monotonic() + (job.deadline_at - timezone.now()).total_seconds()
    overdue = False
    last_sent = time.monotonic()
    with watcher().watch(job.holder) as feed:
        while True:
            now = time.monotonic()
            if now >= deadline:
                if overdue:
                    raise ApiError(504, "The generation is still running after its deadline; it continues in the "
                                        "background and a retry of the same request joins it.",
                                   code="timeout", type="server_error")
                await run_sync(expire, job.pk)
                overdue, deadline = True, now + max(2.0, 5 * settings.WAIT_POLL_SECONDS)
                continue
            item = await feed.next(min(deadline, last_sent + ping_every) - now)
            if isinstance(item, JobSnapshot):
                yield item
                return
            if item is None:
                out = PING if time.monotonic() - last_sent >= ping_every else None
            else:
                out = describe(item) if describe is not None else None
            if out is not None:
                yield out
                last_sent = time.monotonic()
