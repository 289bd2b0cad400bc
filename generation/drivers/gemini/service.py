"""The machine's browser service: one Playwright driver and one warm Chromium for every Gemini job
that this machine's django-q2 workers run.

Why a service and not a browser per worker: a worker's own Playwright driver (node, ~90 MB PSS)
and Chromium (browser, GPU, network and storage processes, ~270 MB PSS) cost far more than the one
thing a job really needs, its browser context and renderer (~75 MB). Sharing them across the
machine's workers is what keeps memory per concurrent job low (bench/images_gemini.py).

Shape:
  * the worker's driver (driver.py, client.py) sends one job's DriverTask and selector config over
    an authenticated local socket and blocks for the DriverResult or DriverError; nothing here
    touches the ORM, and the worker stays the owner of the job, its lease and its account;
  * each job runs as a coroutine on this process's event loop with async Playwright, in a fresh
    context of the shared browser (disposed by Chromium if this process dies, and closed by us on
    every path);
  * a worker that goes away mid-job (SIGKILL, django-q2 timeout) closes its socket: the job is
    cancelled and its context closed at once, so nothing of it stays in Chromium;
  * the browser is launched on the first job, relaunched after a crash; if this process dies, the
    node driver sees EOF on its pipe and exits, taking Chromium with it;
  * started on demand by the first worker that needs it (never before django-q2 forks), it exits
    when the process that owns the worker pool ends or after an idle period; binding the socket's
    address is the single-instance lock.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import threading
import time
from multiprocessing.connection import Listener

from generation.drivers.base import DeadlineExceeded, DriverError, UpstreamFailure

from .job import FreshPages, first_line, fresh_page, quietly, run_job
from .pinned import pinned_chromium_version

logger = logging.getLogger(__name__)

AUTHKEY_ENV = "GEMINI_BROWSER_AUTHKEY"
# Past the job's own deadline the flow has already stopped itself; this only catches a hang.
JOB_GRACE = 5.0
HANGUP_CHECK = 0.2
# A job still running this long past its deadline was cancelled and did not stop: the browser hangs.
STUCK_AFTER = 3 * JOB_GRACE


def address_for(authkey: bytes) -> str:
    """An abstract-namespace socket name: no file to clean up, no path-length limit; the authkey
    (not the name) is what keeps other local users out."""
    return "\0gateway-gemini-browser-" + hashlib.sha256(b"address:" + authkey).hexdigest()[:24]


class BrowserService:
    def __init__(self, authkey: bytes, owner_pid: int | None, idle_seconds: float):
        self.authkey = authkey
        self.address = address_for(authkey)
        self.owner_pid = owner_pid
        self.idle_seconds = idle_seconds
        self.running = 0
        self.served = 0
        self.launches = 0
        self.last_activity = time.monotonic()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._pw = None
        self._browsers: dict[tuple, object] = {}
        self._lock = asyncio.Lock()  # one launch at a time (binds to the loop on first use)
        self.spares = Spares()
        self._deadlines: dict[str, float] = {}  # running job id -> its deadline

    # --- lifetime ---------------------------------------------------------------------------

    def serve(self) -> int:
        try:
            listener = Listener(self.address, family="AF_UNIX", authkey=self.authkey)
        except OSError as exc:
            logger.info("gemini browser service already running (%s)", exc.strerror or exc)
            return 0
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self._accept, args=(listener,), name="gemini-accept", daemon=True).start()
        logger.info("gemini browser service %s ready (owner pid %s, idle exit after %.0f s)", os.getpid(),
                    self.owner_pid, self.idle_seconds)
        try:
            self.loop.run_until_complete(self._live())
        finally:
            listener.close()
            self.loop.run_until_complete(self._close())
            self.loop.close()
        return 0

    async def _live(self) -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, stop.set)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except asyncio.TimeoutError:
                pass
            stuck = [job for job, deadline in self._deadlines.items() if time.time() > deadline + STUCK_AFTER]
            if stuck:
                # A job that ignored its own deadline and its cancellation means the node driver
                # or Chromium hangs: start over rather than let every later job hang too. Exiting
                # takes node and Chromium down; the next job starts a fresh service.
                logger.error("gemini browser service: job(s) %s stuck past their deadline; restarting",
                             ", ".join(stuck))
                os._exit(3)
            if self.owner_pid and not _alive(self.owner_pid):
                logger.info("gemini browser service: owner %s ended; stopping", self.owner_pid)
                return
            if not self.running and time.monotonic() - self.last_activity > self.idle_seconds:
                logger.info("gemini browser service: idle for %.0f s; stopping", self.idle_seconds)
                return

    async def _close(self) -> None:
        await self.spares.close()
        for browser in self._browsers.values():
            await quietly(browser.close())
        if self._pw is not None:
            await quietly(self._pw.stop())

    # --- connections (one thread each; the jobs themselves run on the loop) --------------------

    def _accept(self, listener: Listener) -> None:
        while True:
            try:
                conn = listener.accept()
            except OSError:
                return  # closed on shutdown
            except Exception as exc:  # a failed handshake (wrong key) must not stop the service
                logger.warning("gemini browser service refused a connection: %s", type(exc).__name__)
                continue
            threading.Thread(target=self._serve_one, args=(conn,), daemon=True).start()

    def _serve_one(self, conn) -> None:
        with conn:
            try:
                request = conn.recv()
            except (EOFError, OSError):
                return
            if request.get("kind") == "status":
                conn.send(asyncio.run_coroutine_threadsafe(self._status(), self.loop).result(10))
            elif request.get("kind") == "run":
                self._run_for(conn, request)

    def _run_for(self, conn, request: dict) -> None:
        cancel = threading.Event()
        future = asyncio.run_coroutine_threadsafe(self._run(request, cancel), self.loop)
        while not future.done():
            try:
                hung_up = conn.poll(HANGUP_CHECK)  # the worker sends nothing more: readable means gone
            except (EOFError, OSError):
                hung_up = True
            if hung_up:
                logger.info("gemini job %s: its worker went away; closing its browser context",
                            request["task"].job_id)
                cancel.set()
                future.cancel()
                return
        try:
            outcome = future.result()
        except BaseException as exc:  # a bug here must still answer the worker
            logger.exception("gemini browser service failed a job")
            outcome = ("error", UpstreamFailure(f"The browser service failed: {first_line(exc)}"))
        try:
            conn.send(outcome)
        except (OSError, ValueError):
            pass

    # --- on the loop -------------------------------------------------------------------------

    async def _run(self, request: dict, cancel: threading.Event):
        task, cfg = request["task"], request["cfg"]
        self.running += 1
        self._deadlines[task.job_id] = task.deadline
        try:
            try:
                browser, warm = await self._browser(cfg)
            except Exception as exc:
                logger.error("gemini browser could not start: %s", first_line(exc))
                err = UpstreamFailure(f"The browser could not be started: {first_line(exc)}",
                                      code="browser_unavailable")
                err.failover = False  # another account would hit the same broken install
                return "error", err
            budget = max(0.0, task.deadline - time.time()) + JOB_GRACE
            try:
                result = await asyncio.wait_for(
                    run_job(browser, task=task, cfg=cfg, cancel=cancel, warm=warm, pages=self.spares),
                    budget)
            except asyncio.TimeoutError:
                cancel.set()
                return "error", DeadlineExceeded("The browser did not finish by the job's deadline.")
            except DriverError as err:
                return "error", err
            return "ok", result
        finally:
            self._deadlines.pop(task.job_id, None)
            self.running -= 1
            self.served += 1
            self.last_activity = time.monotonic()

    async def _browser(self, cfg):
        """The browser for these launch options, and whether it was already running (warm) or
        is launched for this job."""
        key = (cfg.chromium_path, bool(cfg.HEADLESS), tuple(cfg.EXTRA_LAUNCH_ARGS))
        async with self._lock:
            browser = self._browsers.get(key)
            if browser is not None and browser.is_connected():
                return browser, True
            if browser is not None:
                logger.warning("gemini browser was disconnected; relaunching")
                await self.spares.close()
                await quietly(browser.close())
            self._browsers[key] = await self._launch(key)
            return self._browsers[key], False

    async def _launch(self, key: tuple):
        from playwright.async_api import async_playwright

        path, headless, args = key
        if self._pw is None:
            self._pw = await async_playwright().start()
        try:
            browser = await self._pw.chromium.launch(executable_path=path, headless=headless, args=list(args))
        except Exception:
            # The node driver itself may have died with the browser; start both again once.
            await quietly(self._pw.stop())
            self._pw = await async_playwright().start()
            browser = await self._pw.chromium.launch(executable_path=path, headless=headless, args=list(args))
        self.launches += 1
        logger.info("gemini browser launched in the service (pid %s): Chromium %s at %s (Playwright pins "
                    "Chromium %s)", os.getpid(), browser.version, path, pinned_chromium_version())
        return browser

    async def _status(self) -> dict:
        browsers = [b for b in self._browsers.values() if b.is_connected()]
        return {"pid": os.getpid(), "running": self.running, "served": self.served, "launches": self.launches,
                # contexts of jobs; the spare made for the next job is not one
                "browsers": len(browsers),
                "contexts": sum(len([c for c in b.contexts if c not in self.spares.contexts]) for b in browsers),
                "spares": len(self.spares.contexts),
                "chromium": browsers[0].version if browsers else None}


class Spares(FreshPages):
    """The next job's context and blank page, made ahead of time.

    Creating them (a new renderer process) is about 150 ms of a warm job's overhead; made while
    the previous job runs, the next job only adds its cookies and navigates. A spare has never
    loaded anything, so it carries nothing from one account to another. Jobs with a proxy get a
    fresh context (the proxy is a context option).
    """

    def __init__(self):
        self._next: dict[tuple, asyncio.Future] = {}
        self.contexts: set = set()   # spares made and not yet handed out

    @staticmethod
    def _key(browser, options: dict) -> tuple:
        return id(browser), repr(sorted(options.items()))

    def prepare(self, browser, options: dict) -> None:
        """Start making the next spare. Called while a job waits for Gemini's answer, so the new
        renderer does not compete with a job's page load for the CPU."""
        key = self._key(browser, options)
        if not options.get("proxy") and key not in self._next:
            self._next[key] = asyncio.ensure_future(self._make(browser, options))

    async def open(self, browser, options: dict):
        if options.get("proxy"):
            return await fresh_page(browser, options)
        ready = self._next.pop(self._key(browser, options), None)
        if ready is not None:
            try:
                context, page = await ready
            except Exception:
                pass
            else:
                self.contexts.discard(context)
                if not page.is_closed():
                    return context, page
                await quietly(context.close())
        return await fresh_page(browser, options)

    async def _make(self, browser, options: dict):
        context = await browser.new_context(**options)
        self.contexts.add(context)  # counted as a spare from the start, never as a job's
        try:
            return context, await context.new_page()
        except BaseException:
            self.contexts.discard(context)
            await quietly(context.close())
            raise

    async def close(self) -> None:
        for future in self._next.values():
            future.cancel()
        for context in list(self.contexts):
            await quietly(context.close())
        self._next.clear()
        self.contexts.clear()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
