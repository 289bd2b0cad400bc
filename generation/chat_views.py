"""`POST /v1/chat/completions`: media generation for chat clients, answered whole or streamed.

Everything that can refuse the request (validation, the key's models, admission) runs before
the answer starts, so a refusal is a normal JSON error and never a 200 stream. A stream is an
async generator fed by the process's one job watcher: it holds no thread and no database
connection however long the job runs.
"""

from __future__ import annotations

import logging
import time
from contextlib import aclosing

from django.conf import settings
from django.http import StreamingHttpResponse
from django.utils import timezone
from rest_framework.response import Response

from api.asyncview import AsyncAPIView
from api.errors import ApiError
from api.threads import run_sync
from generation import chat
from generation.chat_replies import DONE, PING, ChunkWriter, completion, failure, media_markdown, progress_line
from generation.service import wait_for
from generation.waiting import JobSnapshot, watcher

logger = logging.getLogger(__name__)


class ChatCompletionsView(AsyncAPIView):
    async def post(self, request):
        if watcher().held >= settings.MAX_HELD_REQUESTS:
            raise ApiError.rate_limited("This server holds as many waiting requests as it may "
                                        "(MAX_HELD_REQUESTS); retry shortly.", 1.0)
        since = watcher().mark()
        turn = await run_sync(chat.parse, request)
        job = await run_sync(chat.start, request, turn)
        if turn.stream:
            return event_stream(turn, job)
        snap = await wait_for(job, request, expire=turn.expire, since=since)
        content = media_markdown(snap)
        return Response(completion(job, turn.spec.id, turn.prompt, content))


def event_stream(turn: chat.ChatTurn, job) -> StreamingHttpResponse:
    # An async iterator: under ASGI Django would read a sync one whole before sending anything.
    response = StreamingHttpResponse(frames(turn, job), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx would otherwise hold the progress back
    return response


async def frames(turn: chat.ChatTurn, job):
    """Role chunk, progress lines, the media, the stop chunk, usage, [DONE]; or an error frame."""
    writer = ChunkWriter(job, turn.spec.id, include_usage=turn.include_usage)
    yield writer.role()
    try:
        snap = None
        # aclosing: when the client leaves, the inner generator's watch is closed at once.
        async with aclosing(_progress(turn, job, writer)) as items:
            async for item in items:
                if isinstance(item, JobSnapshot):
                    snap = item
                else:
                    yield item
        if snap.status == "failed":
            yield writer.error(failure(snap))
            return
        content = media_markdown(snap)
        yield writer.text(("\n" if writer.content else "") + content)
    except ApiError as error:
        yield writer.error(error)
        return
    except Exception:
        logger.exception("chat stream for job %s broke", job.pk)
        yield writer.error(ApiError.server_error())
        return
    yield writer.stop()
    if turn.include_usage:
        yield writer.usage(turn.prompt)
    yield DONE


async def _progress(turn: chat.ChatTurn, job, writer: ChunkWriter):
    """Frames to send while the job runs (progress lines and pings), then its end snapshot.

    The stream is not bound by the client's read timeout (pings keep it reading), only by the
    job's deadline; past it the job is ended here, and its failure arrives as the snapshot."""
    ping_every = settings.STREAM_PING_SECONDS
    deadline = time.monotonic() + (job.deadline_at - timezone.now()).total_seconds()
    overdue = False
    last_sent = time.monotonic()
    last_line = None
    with watcher().watch(job.holder) as feed:
        while True:
            now = time.monotonic()
            if now >= deadline:
                if overdue:
                    raise ApiError(504, "The generation is still running after its deadline; it continues in the "
                                        "background and a retry of the same request joins it.",
                                   code="timeout", type="server_error")
                await run_sync(turn.expire, job.pk)
                overdue, deadline = True, now + max(2.0, 5 * settings.WAIT_POLL_SECONDS)
                continue
            item = await feed.next(min(deadline, last_sent + ping_every) - now)
            if isinstance(item, JobSnapshot):
                yield item
                return
            if item is None:
                if time.monotonic() - last_sent >= ping_every:
                    yield PING
                    last_sent = time.monotonic()
                continue
            line = progress_line(item, video=turn.is_video)
            if line != last_line:
                last_line = line
                yield writer.text(line + "\n")
                last_sent = time.monotonic()
