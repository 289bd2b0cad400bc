"""Result images rendered while their job "generates", so the CDN serves stored bytes.

The real upstream renders during the job and its CDN only reads files. Rendering at download
time instead (a 1024 px JPEG is ~4 ms of the fake's CPU) puts that work in the burst when many
jobs finish together, and a benchmark on one machine counts it as the gateway's latency. So each
job's first image is rendered on a background thread during the job's generation time; the
other images (a caller wanting n = 1 never fetches them) are rendered when first asked for.
A request for an image being rendered waits for that render instead of doing it twice.

Rendering is the fake's costliest work (over half of the time its request threads hold the
GIL), and a real upstream does it on machines of its own. So the background renders run in one
helper process, at a lower CPU priority: they neither hold the server's GIL nor compete with
the gateway being measured for the CPU; they fill the idle moments of the generation time.
Renders a request waits for (`get`) stay in the server's own thread, at normal priority.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Hashable

IDLE_EXIT_SECONDS = 5.0  # the background thread ends when idle and starts again on demand
HELPER_NICENESS = 10
PARENT_CHECK_SECONDS = 1.0

_helper: ProcessPoolExecutor | None = None
_helper_lock = threading.Lock()


def _start_helper() -> None:
    try:
        os.nice(HELPER_NICENESS)
    except OSError:
        pass
    parent = os.getppid()

    # A fake killed outright (SIGKILL, an OOM kill) cannot stop its helper, which would otherwise
    # outlive it for good, idle: a stopped test run or benchmark must not leave processes behind.
    def leave_with_the_parent() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=leave_with_the_parent, name="parent-watch", daemon=True).start()


def _helper_pool() -> ProcessPoolExecutor:
    """The process's one render helper, started on first use (spawned: the server has threads)."""
    global _helper
    with _helper_lock:
        if _helper is None:
            _helper = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                          initializer=_start_helper)
        return _helper


def _drop_helper(broken: ProcessPoolExecutor) -> None:
    global _helper
    with _helper_lock:
        if _helper is broken:
            _helper = None
    broken.shutdown(wait=False, cancel_futures=True)


def render_in_helper(render: Callable[..., bytes], *args) -> bytes:
    """`render(*args)` in the helper process; here, if the helper cannot run it (it died, or
    processes cannot be started), so a render is never lost."""
    pool = _helper_pool()
    try:
        future = pool.submit(render, *args)
    except (BrokenProcessPool, OSError, RuntimeError):  # could not start it, or shut down
        _drop_helper(pool)
        return render(*args)
    try:
        return future.result()
    except BrokenProcessPool:  # it died; a render's own error is the caller's to see
        _drop_helper(pool)
        return render(*args)


class RenderedImages:
    def __init__(self, render: Callable[..., bytes], capacity: int = 256, offload: bool = False):
        """`offload`: background renders run in the helper process (`render` must be a
        module-level function of picklable arguments)."""
        self._render = render
        self._offload = offload
        self._capacity = capacity
        self._lock = threading.Lock()
        self._ready: OrderedDict[Hashable, bytes] = OrderedDict()
        self._running: dict[Hashable, threading.Event] = {}
        self._todo: queue.SimpleQueue = queue.SimpleQueue()
        self._worker: threading.Thread | None = None

    def prepare(self, key: tuple) -> None:
        """Render `key` (the render function's arguments) in the background, soon."""
        self._todo.put(key)
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._drain, name="fake-jimeng-render",
                                                daemon=True)
                self._worker.start()

    def get(self, key: tuple) -> bytes:
        while True:
            with self._lock:
                if key in self._ready:
                    self._ready.move_to_end(key)
                    return self._ready[key]
                event = self._running.get(key)
                if event is None:
                    event = self._running[key] = threading.Event()
                    break
            event.wait()  # someone else renders it; if that failed, the loop renders it here
        return self._make(key, event)

    def cached(self) -> list[tuple]:
        """The keys of the images ready to serve."""
        with self._lock:
            return list(self._ready)

    def clear(self) -> None:
        with self._lock:
            self._ready.clear()

    def _make(self, key: tuple, event: threading.Event, background: bool = False) -> bytes:
        try:
            if background and self._offload:
                data = render_in_helper(self._render, *key)
            else:
                data = self._render(*key)
            with self._lock:
                self._ready[key] = data
                while len(self._ready) > self._capacity:
                    self._ready.popitem(last=False)
            return data
        finally:
            with self._lock:
                self._running.pop(key, None)
            event.set()

    def _drain(self) -> None:
        while True:
            try:
                key = self._todo.get(timeout=IDLE_EXIT_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._todo.empty():
                        self._worker = None
                        return
                continue
            with self._lock:
                if key in self._ready or key in self._running:
                    continue
                event = self._running[key] = threading.Event()
            try:
                self._make(key, event, background=True)
            except Exception:  # a bad spec fails again, visibly, when the CDN is asked for it
                pass
