"""Holding requests open until their jobs end: one watcher per web process.

Two kinds of client use it: `wait()` (a synchronous request that only needs the end) and
`watch()` (a stream that also reports how the job is doing: status, progress, attempt).
However many of them there are, the process runs one round per `WAIT_POLL_SECONDS`: one query
per table for the ended jobs of all of them, plus, while any stream is open, one query per table
for the live state of the watched jobs. With Redis, a round starts as soon as a worker publishes
an ended job; with SQLite, as soon as a worker's datagram arrives (`generation.wakeups`), and
while only synchronous requests wait the rounds between wake-ups slow to one per
`WAIT_SAFETY_POLL_SECONDS`. Waiting and watching requests hold no thread and no database
connection, so one ASGI process can hold thousands of them.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connections

from generation import wakeups
from generation.models import ACTIVE_STATUSES, TERMINAL_STATUSES, GeneratedFile, Generation

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


@dataclass(frozen=True)
class JobState:
    """A job's live state while it is queued or running: what a stream reports as progress."""

    status: str
    progress: int | None  # 0–100 for video tasks; image jobs have no progress of their own
    attempts: int         # accounts tried so far; above 1 means the job moved to another account


def fetch_states(keys: list[str]) -> dict[str, JobState]:
    """Runs in the watcher's thread: the state of those jobs that are still active, one query per
    table. Ended jobs are left out; their end comes from `fetch_ended` with the whole snapshot."""
    from videos.models import VideoTask

    states: dict[str, JobState] = {}
    for prefix, model, fields in (("gen:", Generation, ("id", "status", "attempts")),
                                  ("vid:", VideoTask, ("id", "status", "attempts", "progress"))):
        ids = [k[4:] for k in keys if k.startswith(prefix)]
        for start in range(0, len(ids), CHUNK):
            rows = model.objects.filter(pk__in=ids[start:start + CHUNK], status__in=ACTIVE_STATUSES).values(*fields)
            for r in rows:
                states[f"{prefix}{r['id']}"] = JobState(status=r["status"], progress=r.get("progress"),
                                                        attempts=r["attempts"])
    return states


def fetch_round(waiting: list[str], watched: list[str]) -> tuple[list[JobSnapshot], dict[str, JobState]]:
    """One round of the watcher: live states of the watched jobs, then every ended job.

    States are read first, so a job that ends between the two queries is reported ended in this
    round rather than left looking active until the next."""
    try:
        states = fetch_states(watched) if watched else {}
    except DatabaseError:
        connections["default"].close()
        raise
    return fetch_ended(sorted(set(waiting) | set(watched))), states


class JobWatch:
    """One stream's subscription to one job (from `JobWatcher.watch`).

    `next()` gives a `JobState` each time the status, progress or attempt changed, then the
    ended job's `JobSnapshot` as the last item. Close it (or use it as a context manager) when
    the stream ends, including when the client goes away.
    """

    def __init__(self, owner: "JobWatcher", key: str):
        self.key = key
        self._owner = owner
        self._queue: asyncio.Queue = asyncio.Queue()
        self._last: JobState | None = None
        self._ended = False  # the snapshot was handed out: iteration stops

    def _offer(self, state: JobState) -> None:
        # Only changes are queued, so a job that sits still adds nothing however long it runs.
        if state != self._last:
            self._last = state
            self._queue.put_nowait(state)

    def _end(self, snap: JobSnapshot) -> None:
        self._queue.put_nowait(snap)

    async def next(self, timeout: float) -> JobState | JobSnapshot | None:
        """The next change, or None when `timeout` seconds pass first."""
        if not self._queue.empty():  # wait_for with a zero timeout would not look
            return self._handed(self._queue.get_nowait())
        try:
            return self._handed(await asyncio.wait_for(self._queue.get(), timeout=max(0.0, timeout)))
        except asyncio.TimeoutError:
            return None

    def _handed(self, item):
        if isinstance(item, JobSnapshot):
            self._ended = True
        return item

    def close(self) -> None:
        self._owner._unwatch(self)

    def __enter__(self) -> "JobWatch":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __aiter__(self):
        return self

    async def __anext__(self) -> JobState | JobSnapshot:
        if self._ended:
            raise StopAsyncIteration
        return self._handed(await self._queue.get())


class JobWatcher:
    def __init__(self):
        self._waiters: dict[str, list[asyncio.Future]] = {}
        self._watches: dict[str, list[JobWatch]] = {}
        self._kick = asyncio.Event()     # run a round now
        self._arrived = asyncio.Event()  # someone started waiting (wakes an idle loop)
        self._ends = 0                   # job-end wake-ups heard so far (see `mark`)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job-watcher")
        self._task: asyncio.Task | None = None
        self._listener: asyncio.Task | None = None
        self._local: wakeups.Listener | None = None  # this machine's wake-ups (SQLite)

    async def aclose(self, timeout: float = 5.0) -> None:
        """Stop this watcher for a loop that is about to close: its listener first, then its
        poll loop, each awaited (at most `timeout`), then its thread and its wake-up socket.

        Left for asyncio.run to cancel together with everything else, a Redis listener caught
        in the middle of subscribing sometimes never finished cancelling, and the loop's close
        waited for it forever (seen about once in 6 to 19 runs of a chat-stream test)."""
        for task in (self._listener, self._task):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=timeout)
        self._executor.shutdown(wait=False)
        if self._local is not None:
            self._local.close()

    @property
    def held(self) -> int:
        return sum(len(v) for v in self._waiters.values()) + sum(len(v) for v in self._watches.values())

    def mark(self) -> int | None:
        """Taken before a job is admitted and handed to `wait(since=...)`. None while this process
        hears no job ends (with Redis, or before its wake-up socket is bound)."""
        return self._ends if self._local is not None else None

    async def wait(self, job_id: str, timeout: float, since: int | None = None) -> JobSnapshot | None:
        """The ended job's snapshot, or None when `timeout` passes first. `job_id` is a key such
        as `gen:<uuid>` or `vid:<uuid>` (the job's `holder`).

        `since` is a `mark()` taken while the job was known to be active. A new waiter starts a
        round at once, unless no job end has been heard since then: its job's end is still to
        come and will start one. A burst of admissions then adds no rounds (each round reads
        every waiting job), and the safety poll still covers a lost wake-up."""
        self._ensure_running()
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(job_id, []).append(future)
        self._arrived.set()
        if since is None or since != self._ends:
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

    def watch(self, job_id: str) -> JobWatch:
        """Subscribe to a job's state changes and its end (see `JobWatch`). `job_id` is the
        job's `holder` key, as for `wait()`. The first state comes with the next round."""
        self._ensure_running()
        subscription = JobWatch(self, job_id)
        self._watches.setdefault(job_id, []).append(subscription)
        self._arrived.set()
        self._kick.set()
        return subscription

    def _unwatch(self, subscription: JobWatch) -> None:
        watches = self._watches.get(subscription.key)
        if watches is not None:
            if subscription in watches:
                watches.remove(subscription)
            if not watches:
                self._watches.pop(subscription.key, None)

    def _ensure_running(self):
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll_loop())
        if settings.REDIS_URL and (self._listener is None or self._listener.done()):
            self._listener = asyncio.get_running_loop().create_task(self._listen())
        elif not settings.REDIS_URL and self._listener is None and wakeups.enabled():
            self._listener = asyncio.get_running_loop().create_task(self._listen_locally())

    async def _poll_loop(self):
        loop = asyncio.get_running_loop()
        while True:
            if not (self._waiters or self._watches):
                self._arrived.clear()
                await self._arrived.wait()
                await self._pause(self._next_pause(0.0))  # no pause if the newcomer asked for a round
                continue
            self._kick.clear()
            started = loop.time()
            try:
                ended, states = await loop.run_in_executor(self._executor, fetch_round, list(self._waiters),
                                                           list(self._watches))
            except Exception:
                logger.warning("job watcher query failed", exc_info=True)
                ended, states = [], {}
            for key, state in states.items():
                for subscription in self._watches.get(key, ()):
                    subscription._offer(state)
            for snap in ended:
                for future in self._waiters.pop(snap.id, []):
                    if not future.done():
                        future.set_result(snap)
                for subscription in self._watches.pop(snap.id, []):
                    subscription._end(snap)
            took = loop.time() - started
            # Ends that arrive together (a burst of jobs finishing) share a round: a kick waits
            # for the shortest pause, so the loop runs at most one round per WAIT_POLL_SECONDS.
            gap = max(0.0, settings.WAIT_POLL_SECONDS - took)
            await asyncio.sleep(gap)
            await self._pause(self._next_pause(took) - gap)

    def _next_pause(self, round_took: float) -> float:
        # Never busier than one round in three: with a thousand held requests a round costs
        # milliseconds, and the loop must keep time for answering them.
        pause = max(settings.WAIT_POLL_SECONDS, 2 * round_took)
        if self._local is not None and not self._watches:
            pause = max(pause, settings.WAIT_SAFETY_POLL_SECONDS)  # ends arrive as wake-ups
        return pause

    async def _pause(self, seconds: float) -> None:
        """Until the next kick, or `seconds`."""
        try:
            await asyncio.wait_for(self._kick.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass

    def _heard_an_end(self) -> None:
        self._ends += 1
        self._kick.set()

    async def _listen_locally(self):
        """Wake the poll loop on each datagram of a worker that ended a job (SQLite only)."""
        try:
            self._local = await wakeups.listen(self._heard_an_end, wakeups.WATCHERS)
        except Exception:  # polling fast still finds every end
            logger.warning("could not listen for job ends; they are found by polling", exc_info=True)

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
