"""Result images rendered while their job "generates", so the CDN serves stored bytes.

The real upstream renders during the job and its CDN only reads files. Rendering at download
time instead (a 1024 px JPEG is ~4 ms of the fake's CPU) puts that work in the burst when many
jobs finish together, and a benchmark on one machine counts it as the gateway's latency. So each
job's first image is rendered on a background thread during the job's generation time; the
other images (a caller wanting n = 1 never fetches them) are rendered when first asked for.
A request for an image being rendered waits for that render instead of doing it twice.
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from typing import Callable, Hashable

IDLE_EXIT_SECONDS = 5.0  # the background thread ends when idle and starts again on demand


class RenderedImages:
    def __init__(self, render: Callable[..., bytes], capacity: int = 256):
        self._render = render
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

    def _make(self, key: tuple, event: threading.Event) -> bytes:
        try:
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
                self._make(key, event)
            except Exception:  # a bad spec fails again, visibly, when the CDN is asked for it
                pass
