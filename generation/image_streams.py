"""`stream: true` on the image endpoints: server-sent events, as the SDK's
`images.generate(stream=True)` and `images.edit(stream=True)` read them.

Everything that can refuse the request runs before the stream starts (a refusal is a normal
JSON error). While the job runs the stream sends pings; then one `<prefix>.completed` event per
image, or an `error` event carrying the envelope the non-streaming request would have answered.
"""

from __future__ import annotations

import logging
from contextlib import aclosing

from django.http import StreamingHttpResponse

from api.errors import ApiError
from api.threads import run_sync
from generation import event_streams, outcomes
from generation.chat_replies import MediaMissing
from generation.models import JobStatus
from generation.responses import completed_events
from generation.service import expire_overdue
from generation.waiting import JobSnapshot

logger = logging.getLogger(__name__)


def image_stream(job, event_prefix: str) -> StreamingHttpResponse:
    return event_streams.response(frames(job, event_prefix), {"x-gateway-job-id": job.public_id})


async def frames(job, event_prefix: str):
    try:
        snap = None
        async with aclosing(event_streams.follow(job, expire_overdue)) as items:
            async for item in items:
                if isinstance(item, JobSnapshot):
                    snap = item
                else:
                    yield item
        if snap.status == JobStatus.FAILED:
            yield event_streams.error_frame(outcomes.snapshot_error(snap, lookup=False), "error")
            return
        events = await run_sync(completed_events, snap, event_prefix)  # reads the files
        if not events:
            raise MediaMissing()
        for event in events:
            yield event_streams.frame(event, event["type"])
    except ApiError as error:
        yield event_streams.error_frame(error, "error")
    except Exception:
        logger.exception("image stream for job %s broke", job.pk)
        yield event_streams.error_frame(ApiError.server_error(), "error")
