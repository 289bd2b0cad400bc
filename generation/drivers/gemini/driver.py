"""The Gemini web driver: image generation and editing in gemini.google.com with exported cookies.

`GeminiDriver.run()` is called by the job runner in a django-q2 worker's main thread. It never
touches Playwright itself: the job is handed to the process's browser thread (browser.py), so the
runner's ORM calls before and after stay legal while Chromium stays warm. Each job gets a fresh
browser context holding only its account's cookies (and proxy), which is closed on every path.
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
import threading
import time
from functools import partial
from urllib.parse import unquote, urlsplit

from gateway.redaction import MASK, redact
from generation.drivers.base import (
    Artifact,
    DeadlineExceeded,
    DriverError,
    DriverResult,
    UpstreamFailure,
)

from . import browser as browser_host
from . import cookiejar, flow
from . import selectors as selector_module

logger = logging.getLogger(__name__)

# How long past the deadline run() waits for the browser thread before giving up on it. The flow
# itself stops DEADLINE_MARGIN seconds before the deadline, so this is only a backstop.
RUN_GRACE = 8.0
ARTIFACT_TIMEOUT_MS = 3000
MAX_CONSOLE_LINES = 2000
# Tokens in the app's config blob that act like credentials (gemini-web.md §3 step 2).
_PAGE_TOKENS = re.compile(r'((?:\\?")(?:SNlM0e|FdrFJe|qKIAYe)(?:\\?")\s*:\s*(?:\\?"))[^"\\]*')


class GeminiDriver:
    provider = "gemini"

    def run(self, task) -> DriverResult:
        cfg = selector_module.load()  # settings are read here, in the caller's thread
        host = browser_host.get_host(cfg.chromium_path, cfg.HEADLESS, tuple(cfg.EXTRA_LAUNCH_ARGS))
        cancel = threading.Event()
        future = host.submit(partial(_job, task=task, cfg=cfg, cancel=cancel, host=host))
        try:
            done, _ = concurrent.futures.wait([future], timeout=max(0.0, task.deadline - time.time()) + RUN_GRACE)
            if not done:
                cancel.set()
                done, _ = concurrent.futures.wait([future], timeout=5)
        except BaseException:
            # django-q2's SIGALRM lands in this (main) thread; the browser thread must stop as well.
            cancel.set()
            future.cancel()  # if it has not started yet, it never will
            raise
        if not done:
            browser_host.retire(host)
            raise DeadlineExceeded("The browser did not finish by the job's deadline and was replaced.")
        exc = future.exception()
        if exc is None:
            return future.result()
        if isinstance(exc, DriverError):
            raise exc
        if isinstance(exc, Exception):
            # Raised before the job started: Chromium missing or failing to launch.
            logger.error("gemini browser could not start: %s", exc)
            err = UpstreamFailure(f"The browser could not be started: {_first_line(exc)}", code="browser_unavailable")
            err.failover = False  # another account would hit the same broken install
            raise err from exc
        raise exc


def _job(browser, *, task, cfg, cancel, host) -> DriverResult:
    """Everything Playwright does for one job; runs on the browser thread."""
    started = time.time()
    if cancel.is_set():
        raise DeadlineExceeded("The job was stopped before the browser got to it.")
    cold, host.cold = getattr(host, "cold", True), False
    logger.info("gemini job %s on account %s: Chromium %s (%s browser)", task.job_id, task.account_name or "?",
                browser.version, "new" if cold else "warm")
    trail: list[str] = []
    console: list[str] = []
    context = page = session = None
    try:
        context = browser.new_context(**_context_options(cfg, task, browser.version))
        left = max(1.0, task.deadline - cfg.DEADLINE_MARGIN - time.time())
        context.set_default_timeout(min(cfg.ACTION_TIMEOUT, left) * 1000)
        context.set_default_navigation_timeout(min(cfg.NAVIGATION_TIMEOUT, left) * 1000)
        context.add_cookies(cookiejar.to_browser(task.credentials, cfg))
        page = context.new_page()
        _listen(page, console)
        session = flow.Session(page, context, cfg, task, cancel, trail)
        files, meta = session.run()
        meta.update(chromium=browser.version, pinned_chromium=browser_host.pinned_chromium_version(),
                    warm_browser=not cold, seconds=round(time.time() - started, 2))
        logger.info("gemini job %s: %s image(s) in %.1f s", task.job_id, len(files), time.time() - started)
        return DriverResult(files=files, credentials=_read_back(context, task, cfg), meta=meta)
    except Exception as exc:
        err = _as_driver_error(exc, session, cancel)
        secrets = cookiejar.secret_values(task.credentials)
        err.artifacts = list(err.artifacts) + _artifacts(page, console, trail, secrets, err)
        if err.credentials is None:
            err.credentials = _read_back(context, task, cfg)
        logger.info("gemini job %s failed after %.1f s while %s: %s", task.job_id, time.time() - started,
                    session.step if session else "starting", err.code)
        if err is exc:
            raise
        raise err from exc
    finally:
        if context is not None:
            try:
                context.close()
            except Exception:
                pass


def _as_driver_error(exc: Exception, session, cancel) -> DriverError:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    if isinstance(exc, DriverError):
        return exc
    step = session.step if session else "starting the browser context"
    out_of_time = cancel.is_set() or (session is not None and session.left() <= 0.5)
    if isinstance(exc, PlaywrightTimeout):
        if out_of_time:
            return DeadlineExceeded(f"The job's deadline passed while {step}.")
        # omni: treat selector timeouts as terminal; say which step so an operator can fix selectors.
        return UpstreamFailure(f"Gemini's page did not respond as expected while {step} "
                               f"(the page may have changed): {_first_line(exc)}", code="page_changed")
    if isinstance(exc, PlaywrightError):
        if out_of_time:
            return DeadlineExceeded(f"The job's deadline passed while {step}.")
        text = str(exc)
        if "has been closed" in text or "crash" in text.lower() or "disconnected" in text.lower():
            return UpstreamFailure(f"The browser crashed while {step}.", code="browser_crashed")
        if "net::ERR_" in text:
            return UpstreamFailure(f"Network error while {step}: {_first_line(exc)}", code="upstream_unavailable")
        return UpstreamFailure(f"Browser error while {step}: {_first_line(exc)}")
    logger.exception("gemini driver bug while %s", step)
    return UpstreamFailure(f"The Gemini driver failed while {step}: {type(exc).__name__}: {_first_line(exc)}")


def _context_options(cfg, task, version: str) -> dict:
    width, height = cfg.VIEWPORT
    options = {
        "viewport": {"width": int(width), "height": int(height)},
        "locale": cfg.LOCALE,
        "accept_downloads": True,
        # The default UA says "HeadlessChrome", which no real visitor sends.
        "user_agent": cfg.USER_AGENT or (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{version.split('.')[0]}.0.0.0 Safari/537.36"),
    }
    if cfg.TIMEZONE:
        options["timezone_id"] = cfg.TIMEZONE
    proxy = proxy_option(task.proxy)
    if proxy:
        options["proxy"] = proxy
    return options


def proxy_option(raw: str | None) -> dict | None:
    """A Playwright proxy dict from "scheme://user:pass@host:port" (scheme defaults to http)."""
    if not raw or not raw.strip():
        return None
    raw = raw.strip()
    parts = urlsplit(raw if "://" in raw else "http://" + raw)
    server = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    proxy = {"server": server}
    if parts.username:
        proxy["username"] = unquote(parts.username)
        proxy["password"] = unquote(parts.password or "")
    return proxy


def _listen(page, console: list[str]) -> None:
    def add(line: str) -> None:
        if len(console) < MAX_CONSOLE_LINES:
            console.append(f"{time.strftime('%H:%M:%S')} {line}")

    page.on("console", lambda m: add(f"console.{m.type}: {m.text}"))
    page.on("pageerror", lambda e: add(f"pageerror: {e}"))
    page.on("crash", lambda _p: add("page crashed"))
    page.on("requestfailed", lambda r: add(f"requestfailed: {r.method} {_bare(r.url)} {r.failure}"))
    page.on("response", lambda r: r.status >= 400 and add(f"http {r.status}: {r.request.method} {_bare(r.url)}"))


def _read_back(context, task, cfg):
    """Refreshed cookies (e.g. a rotated __Secure-1PSIDTS) merged into the account's credentials."""
    if context is None or task.credentials is None:
        return None
    try:
        return cookiejar.merge_back(task.credentials, context.cookies(), cfg)
    except Exception as exc:
        logger.warning("gemini: could not read the context's cookies back: %s", _first_line(exc))
        return None


def _artifacts(page, console: list[str], trail: list[str], secrets: list[str], err: DriverError) -> list[Artifact]:
    out: list[Artifact] = []
    url = ""
    if page is not None and not page.is_closed():
        url = page.url
        try:
            out.append(Artifact("screenshot", "gemini-page.png",
                                page.screenshot(timeout=ARTIFACT_TIMEOUT_MS, animations="disabled")))
        except Exception as exc:
            console.append(f"(screenshot failed: {_first_line(exc)})")
        try:
            out.append(Artifact("html", "gemini-page.html", scrub(page.content(), secrets).encode()))
        except Exception as exc:
            console.append(f"(page html failed: {_first_line(exc)})")
    lines = [f"# error: {err.code}: {err.message}", f"# url: {_bare(url)}", "# steps:", *trail,
             "# console and network:", *console]
    out.append(Artifact("console", "gemini-console.log", scrub("\n".join(lines), secrets).encode()))
    return out


def scrub(text: str, secrets: list[str]) -> str:
    """Redact secrets from page HTML and logs: known cookie values, page tokens, credential pairs."""
    for value in secrets:
        text = text.replace(value, MASK)
    text = _PAGE_TOKENS.sub(lambda m: m.group(1) + MASK, text)
    return redact(text) or ""


def _bare(url: str) -> str:
    # Query strings carry continue URLs and tokens; the path is enough to debug with.
    return (url or "").split("?", 1)[0]


def _first_line(exc) -> str:
    text = str(exc).strip()
    return redact(text.splitlines()[0][:300]) if text else type(exc).__name__
