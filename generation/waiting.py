"""Holding synchronous requests open until their jobs end: one watcher per web process.

However many requests wait, the process runs one query per `WAIT_POLL_SECONDS` for all of them
(and, with Redis, wakes as soon as a worker publishes an ended job). Waiting requests hold no
thread and no database connection, so one ASGI process can hold thousands of them.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connections

from generation.models import TERMINAL_STATUSES, GeneratedFile, Generation

logger = logging.getLogger(__name__)

CHUNK = 500


@dataclass
class JobSnapshot:
    """What a response needs of an ended job, read by the watcher in the same query round."""

    id: str  # the waiter key: gen:<uuid> or vid:<uuid>
    status: str
    model: str
    kind: str
    params: dict
    error_code: str
    error_message: str
    error_status: int | None
    error_param: str
    result_meta: dict
    files: list[dict] = field(default_factory=list)


def fetch_ended(keys: list[str]) -> list[JobSnapshot]:
    """Runs in the watcher's own thread: one connection per process, whatever the load.

    Keys are `gen:<uuid>` (image jobs) or `vid:<uuid>` (video tasks)."""
    images = [k[4:] for k in keys if k.startswith("gen:")]
    videos = [k[4:] for k in keys if k.startswith("vid:")]
    try:
        return _fetch_ended_images(images) + _fetch_ended_videos(videos)
    except DatabaseError:
        connections["default"].close()  # a broken connection is replaced on the next round
        raise


def _fetch_ended_videos(ids: list[str]) -> list[JobSnapshot]:
    from videos.models import VideoAsset, VideoTask

    out: list[JobSnapshot] = []
    for start in range(0, len(ids), CHUNK):
        rows = VideoTask.objects.filter(pk__in=ids[start:start + CHUNK], status__in=TERMINAL_STATUSES).values(
            "id", "status", "model", "params", "error_code", "error_message", "error_status", "result_meta")
        snaps = {str(r["id"]): JobSnapshot(id=f"vid:{r['id']}", kind="video", error_param="", **{
            k: v for k, v in r.items() if k != "id"}) for r in rows}
        if not snaps:
            continue
        for f in VideoAsset.objects.filter(task_id__in=list(snaps)).values("task_id", "kind", "file", "mime", "width",
                                                                          "height", "size_bytes"):
            snaps[str(f["task_id"])].files.append({**f, "index": 0})
        out.extend(snaps.values())
    return out


def _fetch_ended_images(ids: list[str]) -> list[JobSnapshot]:
    out: list[JobSnapshot] = []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        rows = Generation.objects.filter(pk__in=chunk, status__in=TERMINAL_STATUSES).values(
            "id", "status", "model", "kind", "params", "error_code", "error_message", "error_status",
            "error_param", "result_meta",
        )
        snaps = {str(r["id"]): JobSnapshot(id=f"gen:{r['id']}", **{k: v for k, v in r.items() if k != "id"})
                 for r in rows}
        if not snaps:
            continue
        files = GeneratedFile.objects.filter(job_id__in=list(snaps)).order_by("kind", "index").values(
            "job_id", "kind", "index", "file", "mime", "width", "height", "size_bytes"
        )
        for f in files:
            snaps[str(f["job_id"])].files.append(f)
        out.extend(snaps.values())
    return out


class JobWatcher:
    def __init__(self):
        self._waiters: dict[str, list[asyncio.Future]] = {}
        self._kick = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job-watcher")
        self._task: asyncio.Task | None = None
        self._listener: asyncio.Task | None = None

    @property
    def held(self) -> int:
        return sum(len(v) for v in self._waiters.values())

    async def wait(self, job_id: str, timeout: float) -> JobSnapshot | None:
        """The ended job's snapshot, or None when `timeout` passes first. `job_id` is a key such
        as `gen:<uuid>` or `vid:<uuid>` (the job's `holder`)."""
        self._ensure_running()
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(job_id, []).append(future)
        self._kick.set()
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout=max(0.0, timeout))
        except asyncio.TimeoutError:
            return None
        finally:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                if future in waiters:
                    waiters.remove(future)
                if not waiters:
                    self._waiters.pop(job_id, None)

    def _ensure_running(self):
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll_loop())
        if settings.REDIS_URL and (self._listener is None or self._listener.done()):
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _poll_loop(self):
        loop = asyncio.get_running_loop()
        while True:
            self._kick.clear()
            if self._waiters:
                try:
                    ended = await loop.run_in_executor(self._executor, fetch_ended, list(self._waiters))
                except Exception:
                    logger.warning("job watcher query failed", exc_info=True)
                    ended = []
                for snap in ended:
                    for future in self._waiters.pop(snap.id, []):
                        if not future.done():
                            future.set_result(snap)
                try:
                    await asyncio.wait_for(self._kick.wait(), timeout=settings.WAIT_POLL_SECONDS)
                except asyncio.TimeoutError:
                    pass
            else:
                await self._kick.wait()

    async def _listen(self):
        """Wake the poll loop whenever a worker publishes an ended job (Redis only)."""
        import redis.asyncio as aioredis

        from generation.notify import channel

        while True:
            try:
                client = aioredis.Redis.from_url(settings.REDIS_URL)
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(channel())
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._kick.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("job watcher lost its Redis subscription; retrying", exc_info=True)
                await asyncio.sleep(1.0)


_watchers: dict[int, JobWatcher] = {}


def watcher() -> JobWatcher:
    """The watcher of the running event loop (one per web process in production)."""
    loop = asyncio.get_running_loop()
    found = _watchers.get(id(loop))
    if found is None:
        found = _watchers[id(loop)] = JobWatcher()
    return found
