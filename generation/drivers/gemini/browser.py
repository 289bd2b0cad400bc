"""One warm Chromium per worker process, owned by a dedicated thread.

Why a thread: a live sync-Playwright instance marks its thread's asyncio loop as running, and from
then on every Django ORM call in that thread raises SynchronousOnlyOperation (django-stack.md §2.2).
The runner makes ORM calls in the worker's main thread right before and after `driver.run()`, and
the browser must stay warm between jobs, so Playwright never runs on the main thread: every job is
handed to this host's thread as a callable and the caller waits on a Future.

Lifecycle rules (django-stack.md §2.4):
  * nothing starts before the first job, and hosts are keyed by os.getpid(): a process forked from
    one that had a host (django-q2 reincarnating a worker) builds its own, never reuses the parent's;
  * a disconnected or crashed browser is relaunched before the next job; a dead node driver is
    restarted with it;
  * a host whose thread is stuck past a job's deadline is retired: the next job gets a fresh host,
    and the stuck thread shuts its browser down as soon as it gets control back;
  * if the process dies, the node driver sees EOF on its stdin pipe and exits, taking Chromium
    with it (experiment in §2.4), so nothing outlives the worker.
"""

from __future__ import annotations

import atexit
import itertools
import json
import logging
import os
import queue
import threading
from concurrent.futures import Future
from pathlib import Path

logger = logging.getLogger(__name__)

_hosts: dict[int, "BrowserHost"] = {}
_lock = threading.Lock()
_serial = itertools.count(1)


def pinned_chromium_version() -> str:
    """The Chromium this Playwright release was built against (Debian's differs, §2.1)."""
    try:
        import playwright

        path = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
        for entry in json.loads(path.read_text())["browsers"]:
            if entry["name"] == "chromium":
                return entry["browserVersion"]
    except Exception:
        pass
    return "unknown"


class BrowserHost:
    def __init__(self, chromium_path: str, headless: bool, args: tuple[str, ...]):
        self.key = (chromium_path, bool(headless), tuple(args))
        self.pid = os.getpid()
        self.version: str | None = None
        self.launches = 0
        self.cold = True
        self.retired = False
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=f"gemini-browser-{next(_serial)}", daemon=True)
        self._thread.start()

    # --- caller side -------------------------------------------------------------------------

    def submit(self, fn) -> Future:
        """Run fn(browser) on the browser thread; the Future carries its result or exception."""
        future: Future = Future()
        self._queue.put((future, fn))
        return future

    def stop(self, wait: float = 10.0) -> None:
        self.retired = True
        self._queue.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(wait)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self.retired

    # --- browser thread ----------------------------------------------------------------------

    def _serve(self) -> None:
        pw = browser = None
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                future, fn = item
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    pw, browser = self._ready(pw, browser)
                    result = fn(browser)
                except BaseException as exc:  # handed to the caller, who decides
                    future.set_exception(exc)
                else:
                    future.set_result(result)
                if self.retired:
                    return
        finally:
            _quietly(browser.close if browser is not None else None)
            _quietly(pw.stop if pw is not None else None)
            self._fail_pending()

    def _ready(self, pw, browser):
        if browser is not None and browser.is_connected():
            return pw, browser
        if browser is not None:
            logger.warning("gemini browser was disconnected; relaunching")
            _quietly(browser.close)
        from playwright.sync_api import sync_playwright

        if pw is None:
            pw = sync_playwright().start()
        try:
            browser = self._launch(pw)
        except Exception:
            # The node driver itself may have died with the browser; start both again once.
            _quietly(pw.stop)
            pw = sync_playwright().start()
            browser = self._launch(pw)
        return pw, browser

    def _launch(self, pw):
        path, headless, args = self.key
        browser = pw.chromium.launch(executable_path=path, headless=headless, args=list(args))
        self.launches += 1
        self.cold = True  # the next job is the first on this browser (reported in its meta)
        self.version = browser.version
        logger.info("gemini browser launched in pid %s: Chromium %s at %s (Playwright pins Chromium %s)",
                    self.pid, browser.version, path, pinned_chromium_version())
        return browser

    def _fail_pending(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None and item[0].set_running_or_notify_cancel():
                item[0].set_exception(RuntimeError("the browser host stopped before running this job"))


def _quietly(fn) -> None:
    if fn is None:
        return
    try:
        fn()
    except Exception:
        pass


def get_host(chromium_path: str, headless: bool = True, args: tuple[str, ...] = ()) -> BrowserHost:
    """This process's host, started on first use (never before a fork: keyed on the pid)."""
    key = (chromium_path, bool(headless), tuple(args))
    pid = os.getpid()
    with _lock:
        host = _hosts.get(pid)
        if host is not None and host.alive and host.key == key:
            return host
        if host is not None and host.pid == pid:
            host.stop(wait=0)  # launch options changed or it was retired: let it wind down
        for other in [p for p in _hosts if p != pid]:
            del _hosts[other]  # inherited across fork; its thread does not exist here
        host = BrowserHost(chromium_path, headless, args)
        _hosts[pid] = host
        return host


def current_host() -> BrowserHost | None:
    """This process's host if one is running (for diagnostics and tests); never starts one."""
    with _lock:
        host = _hosts.get(os.getpid())
    return host if host is not None and host.alive else None


def retire(host: BrowserHost) -> None:
    """Stop handing jobs to a host whose thread is stuck; it cleans up when it gets control back."""
    host.retired = True
    host._queue.put(None)
    with _lock:
        if _hosts.get(host.pid) is host:
            del _hosts[host.pid]


def shutdown(wait: float = 10.0) -> None:
    with _lock:
        host = _hosts.pop(os.getpid(), None)
    if host is not None:
        host.stop(wait)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # the parent's lock may have been held by another thread at fork
    _hosts.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(shutdown, 5.0)
