"""Handing a job id to django-q2. Only the id travels: the task payload is pickled in clear."""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable

from django.conf import settings
from django.db import DatabaseError, InterfaceError, connection, connections, transaction
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.tasks import async_task

from gateway import prepared
from generation import wakeups
from generation.models import Generation

RUNNER = "generation.runner.run_generation"

_sqlite_writer = threading.Lock()
_gate_local = threading.local()
_gate_files: dict[tuple[int, str], int] = {}

try:
    import fcntl
except ImportError:  # not POSIX: the process lock alone
    fcntl = None


@contextmanager
def write_gate():
    """On SQLite, let one writer at a time, across this machine's processes, compete for the
    database's write lock.

    SQLite's busy handler retries with growing sleeps (up to 100 ms) and no fairness: a web
    request admitting a job while 32 workers claim and finish theirs sleeps far longer than any
    of them holds the lock, and with a thousand requests arriving at once some would wait past
    the lock timeout. Writers queue instead on a process lock, then on a file lock next to the
    database (shared by the web and the workers), which wakes the next one as soon as it is
    free. Writers that do not take the gate (django-q2's own, rare single updates) still meet
    SQLite's busy handler, so the gate shortens waits and is never needed for correctness.
    Re-entering it in the same thread is a no-op. PostgreSQL needs no such help.
    """
    if connection.vendor != "sqlite" or getattr(_gate_local, "held", False):
        yield
        return
    with _sqlite_writer:
        fd = _gate_file()
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        _gate_local.held = True
        try:
            yield
        finally:
            _gate_local.held = False
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)


def _gate_file() -> int | None:
    name = str(connection.settings_dict["NAME"] or "")
    if fcntl is None or not name or name == ":memory:" or name.startswith("file:"):
        return None
    # One descriptor per process: a flock belongs to the open file, which a fork would share.
    key = (os.getpid(), name)
    fd = _gate_files.get(key)
    if fd is None:
        fd = _gate_files[key] = os.open(f"{name}.write-gate", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    return fd


# One thread per process runs admissions, one at a time or one batch at a time; its database
# connection persists, where a request's own thread would open a fresh one for every job.
_admission_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="admission")
_admissions: dict[int, "_AdmissionQueue"] = {}
# Small batches: the first requests of a burst start their jobs while the rest are admitted.
ADMISSION_BATCH = 8


_batch = threading.local()


def batch_memo() -> dict | None:
    """A dict that lives as long as the current admission batch's transaction, None outside one:
    what every admission of the batch would read alike (the pool's size and load) is read once.
    Within the transaction the pool cannot gain load from elsewhere (SQLite's write lock; the
    provider's rows locked on PostgreSQL), so only the batch's own admissions change it."""
    return getattr(_batch, "memo", None)


class _AdmissionQueue:
    """The requests of one event loop waiting to be admitted, and the task admitting them."""

    def __init__(self):
        self.waiting: list[tuple] = []  # (fn, args, future, batchable)
        self.task: asyncio.Task | None = None


async def admitted(fn, *args, batch: bool = True):
    """`fn(*args)` (admission, job row, enqueue) in turn with the process's other admissions,
    on the admission thread; the caller's request keeps no thread meanwhile, and a burst of
    requests does not park threads on SQLite's write lock.

    Requests that queued while another admission ran are admitted together (a few at a time) in
    one transaction: a burst of clients costs a few turns at the database's write lock instead of
    one each. `fn` makes its writes in its own `transaction.atomic()` block, a savepoint there, so
    one refused request does not affect the others. `batch=False` for work too slow to hold the
    lock for others (storing input images)."""
    loop = asyncio.get_running_loop()
    queue = _admissions.get(id(loop))
    if queue is None:
        queue = _admissions[id(loop)] = _AdmissionQueue()
    entry = (fn, args, loop.create_future(), batch)
    queue.waiting.append(entry)
    if queue.task is None or queue.task.done():
        # A task of its own, not the first caller's: a client that leaves strands no other.
        queue.task = loop.create_task(_admit_queued(queue))
    try:
        return await asyncio.shield(entry[2])
    except asyncio.CancelledError:
        # Gone before its turn: nothing is started for it (once started, the job runs on).
        queue.waiting[:] = [item for item in queue.waiting if item is not entry]
        entry[2].add_done_callback(lambda done: done.cancelled() or done.exception())  # nobody reads it
        raise


async def _admit_queued(queue: _AdmissionQueue) -> None:
    loop = asyncio.get_running_loop()
    while queue.waiting:
        first = queue.waiting[0]
        taken = [first]
        if first[3]:
            # The batchable requests queued behind it, a bounded number, so the batch's
            # transaction never keeps the workers from the lock for long.
            taken += [item for item in queue.waiting[1:] if item[3]][:ADMISSION_BATCH - 1]
        queue.waiting[:] = [item for item in queue.waiting if not any(item is t for t in taken)]
        futures = [item[2] for item in taken]
        try:
            outcomes = await loop.run_in_executor(_admission_thread, _admit, [(f, a) for f, a, _fut, _b in taken])
        except asyncio.CancelledError:  # the loop is closing
            for waiting in futures:
                waiting.cancel()
            raise
        except Exception as exc:  # not expected: _admit returns exceptions as outcomes
            outcomes = [(False, exc)] * len(taken)
        _settle(futures, outcomes)


def _settle(futures, outcomes) -> None:
    for waiting, (ok, value) in zip(futures, outcomes):
        if not waiting.done():
            if ok:
                waiting.set_result(value)
            else:
                waiting.set_exception(value)


class Pending:
    """Admission work in two steps. A function run by `admitted` may return one instead of its
    result: whatever can be done before the write lock (storing inputs, compiling statements)
    is done by then, and `commit()` does the rest, the writes, and returns the result. In a
    batch, every request's preparation runs before the batch's transaction, so the lock is held
    for the writes alone."""

    def commit(self):
        raise NotImplementedError

    def abandon(self) -> None:
        """Undo what preparing left behind, when the writes did not happen. Safe to call twice."""


def _admit(calls) -> list[tuple[bool, object]]:
    """Runs on the admission thread: each call's result, or its exception."""
    outcomes: list[tuple[bool, object]] = []
    works: dict[int, Pending] = {}
    try:
        for fn, args in calls:  # first every preparation, outside the write gate
            try:
                result = fn(*args)
            except (InterfaceError, DatabaseError):
                raise
            except Exception as exc:
                outcomes.append((False, exc))
                continue
            if isinstance(result, Pending):
                works[len(outcomes)] = result
            outcomes.append((True, result))
        if len(works) == 1:
            [(index, work)] = works.items()
            outcomes[index] = _commit(work)
        elif works:
            with write_gate(), transaction.atomic():
                _batch.memo = {}
                try:
                    for index, work in works.items():
                        outcomes[index] = _commit(work)
                finally:
                    _batch.memo = None
        return outcomes
    except (InterfaceError, DatabaseError) as exc:
        connections["default"].close()  # possibly broken: the next admission reconnects
        for work in works.values():
            work.abandon()
        return [(False, exc)] * len(calls)  # the batch's transaction did not commit: none was admitted


def _commit(work: Pending) -> tuple[bool, object]:
    """One admission's writes (a savepoint inside a batch): its result, or its exception.
    A database error propagates: the connection may be unusable, and the batch fails whole."""
    try:
        return True, work.commit()
    except (InterfaceError, DatabaseError):
        work.abandon()
        raise
    except Exception as exc:
        work.abandon()
        return False, exc


@functools.lru_cache(maxsize=1)
def sender():
    """This process's broker for sending tasks, built once.

    django-q2 builds a broker on every `async_task` and `get_broker()`, and building one is not
    free: the ORM broker closes the calling thread's database connection where connections are
    not kept (the web's, CONN_MAX_AGE = 0), so the admission thread reconnected, SQLite's
    pragmas included, for every job (over twice an admission's own CPU); the Redis broker opens
    a new connection pool, a TCP connection per task. A forked worker builds its own."""
    return get_broker()


os.register_at_fork(after_in_child=sender.cache_clear)


def dispatch(func: str, object_id: str, *, timeout: int, name: str) -> None:
    """Send a task for a row written in the current transaction.

    The ORM broker's queue row commits with that transaction, so workers see both at once and
    no extra write is needed; Redis is outside the database, so it waits for the commit.
    """
    prepare_dispatch(func, object_id, timeout=timeout, name=name)()


def prepare_dispatch(func: str, object_id: str, *, timeout: int, name: str) -> Callable[[], None]:
    """`dispatch` in two steps: the task is built and signed now, and the returned function sends
    it (in the transaction writing the row; with the ORM broker, only its INSERT is left to run)."""
    broker = sender()
    if settings.REDIS_URL:
        return lambda: transaction.on_commit(
            lambda: async_task(func, object_id, timeout=timeout, task_name=name, broker=broker))
    if not isinstance(broker, GatedOrmBroker):
        return lambda: async_task(func, object_id, timeout=timeout, task_name=name, broker=broker)
    packing = _Packing(broker)
    async_task(func, object_id, timeout=timeout, task_name=name, broker=packing)
    return packing.send


class _Packing:
    """Stands in for the broker in `async_task`, which builds, signals and signs the task as
    usual and hands it here: the broker's INSERT of it is compiled, to run in `send`."""

    def __init__(self, broker: "GatedOrmBroker"):
        self.list_key = broker.list_key
        self._broker = broker
        self._insert: Callable[[], int] | None = None

    def enqueue(self, task) -> str:
        self._insert = self._broker.enqueuer(task)
        return "(queued when the job is written)"

    def send(self) -> None:
        self._insert()


def enqueue_later(job: Generation) -> Callable[[], None]:
    """`enqueue(job, new=True)` in two steps: built now, sent by calling the result."""
    remaining = max(1, int((job.deadline_at - timezone.now()).total_seconds()))
    # The queue's own timeout is only a backstop behind the driver's deadline handling.
    timeout = remaining + settings.LEASE_GRACE_SECONDS
    return prepare_dispatch(RUNNER, str(job.pk), timeout=timeout, name=f"gen-{job.pk}")


def enqueue(job: Generation, *, new: bool = False) -> None:
    """Queue the job; `new` jobs carry their enqueued_at already (saved in the same transaction)."""
    if not new:
        Generation.objects.filter(pk=job.pk).update(enqueued_at=timezone.now())
    enqueue_later(job)()


class GatedOrmBroker(ORM):
    """django-q2's ORM broker with its writes through `write_gate`: a burst of jobs is claimed
    from the queue in one transaction, not one per job, and neither claim nor acknowledgement
    sleeps in SQLite's busy handler while the web and the workers take turns at the lock.
    Delivery is unchanged: the same rows, locks and retry. On SQLite an idle reader waits for a
    wake-up from whoever queued a task (`generation.wakeups`) instead of polling."""

    _waiter: wakeups.Waiter | None = None

    def enqueue(self, task):
        return self.enqueuer(task)()

    def enqueuer(self, task) -> Callable[[], int]:
        """The ORM broker's enqueue of `task` with its INSERT compiled now: the returned function
        writes the row (inside the caller's transaction, if any) and returns its id."""
        # The same row as the ORM broker's: its list key, locked until now (free at once).
        row = OrmQ(key=self.list_key or Conf.CLUSTER_NAME, payload=task, lock=timezone.now())
        insert = prepared.insert([row], using=Conf.ORM, returning_pk=True)[0]

        def write() -> int:
            pk = insert.run_returning()
            if wakeups.enabled():  # the clusters' queue readers look at once, when the row is visible
                transaction.on_commit(lambda: wakeups.send(pk, wakeups.QUEUE), using=Conf.ORM)
            return pk
        return write

    def dequeue(self):
        queue = self.get_connection()  # once: each call checks the connections again
        tasks = list(queue.filter(key=self.list_key, lock__lt=timezone.now())[0:Conf.BULK])
        if not tasks:
            self._idle()
            return None
        # A row another cluster locked meanwhile is left to it, as in the ORM broker.
        locks = [(task, prepared.update(queue.filter(id=task.id, lock=task.lock), lock=self.timeout(task)))
                 for task in tasks]
        with write_gate(), transaction.atomic(using=Conf.ORM):
            return [(task.pk, task.payload) for task, lock in locks if lock.run()]

    def _idle(self) -> None:
        """Wait before looking again: on SQLite until the web says it queued a job (or the safety
        poll's time passes), elsewhere the ORM broker's short poll."""
        if self._waiter is None and wakeups.enabled():
            self._waiter = wakeups.Waiter(wakeups.QUEUE)
        if self._waiter is not None and self._waiter.listening:
            self._waiter.wait(settings.Q_SAFETY_POLL_SECONDS)
        else:
            time.sleep(Conf.POLL)  # as the ORM broker: spare the CPU

    def delete(self, task_id):
        remove = prepared.delete(self.get_connection().filter(pk=task_id))
        with write_gate():
            remove.run()
