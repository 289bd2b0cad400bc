"""`POST /v1/chat/completions`: media generation for chat clients, answered whole or streamed.

Everything that can refuse the request (validation, the key's models, admission) runs before
the answer starts, so a refusal is a normal JSON error and never a 200 stream. A stream is an
async generator fed by the process's one job watcher: it holds no thread and no database
connection however long the job runs.
"""

from __future__ import annotations

import logging
from contextlib import aclosing

from django.conf import settings
from django.http import StreamingHttpResponse
from rest_framework.response import Response

from api.asyncview import AsyncAPIView
from api.errors import ApiError
from api.threads import run_sync
from generation import chat, event_streams
from generation.chat_replies import DONE, ChunkWriter, completion, failure, media_markdown, progress_line
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
    return event_streams.response(frames(turn, job))


async def frames(turn: chat.ChatTurn, job):
    """Role chunk, progress lines, the media, the stop chunk, usage, [DONE]; or an error frame."""
    writer = ChunkWriter(job, turn.spec.id, include_usage=turn.include_usage)
    yield writer.role()
    try:
        snap = None
        # aclosing: when the client leaves, the inner generator's watch is closed at once.
        async with aclosing(event_streams.follow(job, turn.expire, _describer(turn, writer))) as items:
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


def _describer(turn: chat.ChatTurn, writer: ChunkWriter):
    """A progress line when the job's state changes what the client should read."""
    last_line = None

    def describe(state) -> bytes | None:
        nonlocal last_line
        line = progress_line(state, video=turn.is_video)
        if line == last_line:
            return None
        last_line = line
        return writer.text(line + "\n")

    return describe
