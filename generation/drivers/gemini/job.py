"""One Gemini job in the browser service: a fresh context with the account's cookies, the flow,
and on failure the screenshot, page HTML and console log (secrets scrubbed).

Runs as a coroutine on the service's event loop, many jobs at once on one browser. It takes and
returns plain data (DriverTask in, DriverResult or a DriverError out), so the service can ship the
outcome back to the worker that asked for it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from urllib.parse import unquote, urlsplit

from gateway.redaction import MASK, redact
from generation.drivers.base import (
    Artifact,
    DeadlineExceeded,
    DriverError,
    DriverResult,
    UpstreamFailure,
)

from . import cookiejar, flow
from .pinned import pinned_chromium_version

logger = logging.getLogger(__name__)

ARTIFACT_TIMEOUT_MS = 3000
MAX_CONSOLE_LINES = 2000
# Tokens in the app's config blob that act like credentials (gemini-web.md §3 step 2).
_PAGE_TOKENS = re.compile(r'((?:\\?")(?:SNlM0e|FdrFJe|qKIAYe)(?:\\?")\s*:\s*(?:\\?"))[^"\\]*')


async def fresh_page(browser, options: dict):
    """A new context with these options and one blank page in it."""
    context = await browser.new_context(**options)
    try:
        return context, await context.new_page()
    except BaseException:
        await context.close()
        raise


class FreshPages:
    """Where a job's context and page come from: made on the spot. The service's Spares makes the
    next one while a job waits for its answer."""

    async def open(self, browser, options: dict):
        return await fresh_page(browser, options)

    def prepare(self, browser, options: dict) -> None:
        pass


async def run_job(browser, *, task, cfg, cancel, warm: bool, pages: FreshPages | None = None) -> DriverResult:
    """Everything Playwright does for one job, in a context and page of its own from `pages`."""
    started = time.time()
    if cancel.is_set():
        raise DeadlineExceeded("The job was stopped before the browser got to it.")
    logger.info("gemini job %s on account %s: Chromium %s (%s browser)", task.job_id, task.account_name or "?",
                browser.version, "warm" if warm else "new")
    trail: list[str] = []
    console: list[str] = []
    context = page = session = None
    try:
        pages = pages or FreshPages()
        options = _context_options(cfg, task, browser.version)
        context, page = await pages.open(browser, options)
        left = max(1.0, task.deadline - cfg.DEADLINE_MARGIN - time.time())
        context.set_default_timeout(min(cfg.ACTION_TIMEOUT, left) * 1000)  # the page inherits both
        context.set_default_navigation_timeout(min(cfg.NAVIGATION_TIMEOUT, left) * 1000)
        await context.add_cookies(cookiejar.to_browser(task.credentials, cfg))
        _listen(page, console)
        session = flow.Session(page, context, cfg, task, cancel, trail)
        session.on_waiting = lambda: pages.prepare(browser, options)
        files, meta = await session.run()
        meta.update(chromium=browser.version, pinned_chromium=pinned_chromium_version(),
                    warm_browser=warm, seconds=round(time.time() - started, 2))
        logger.info("gemini job %s: %s image(s) in %.1f s", task.job_id, len(files), time.time() - started)
        return DriverResult(files=files, credentials=await _read_back(context, task, cfg), meta=meta)
    except Exception as exc:
        err = _as_driver_error(exc, session, cancel)
        secrets = cookiejar.secret_values(task.credentials)
        err.artifacts = list(err.artifacts) + await _artifacts(page, console, trail, secrets, err)
        if err.credentials is None:
            err.credentials = await _read_back(context, task, cfg)
        logger.info("gemini job %s failed after %.1f s while %s: %s", task.job_id, time.time() - started,
                    session.step if session else "starting", err.code)
        if err is exc:
            raise
        raise err from exc
    finally:
        if context is not None:
            # Closed in the background: the worker has its answer ~25 ms sooner, and nothing of
            # the job is read from the context after this point.
            closing = asyncio.ensure_future(quietly(context.close()))
            _closing.add(closing)
            closing.add_done_callback(_closing.discard)


_closing: set = set()  # the loop keeps only weak references to tasks


async def quietly(awaitable, timeout: float = 10.0) -> None:
    """Await a clean-up step (closing a context, a browser, the driver) that may fail or hang
    when the browser is already gone; neither may stop what comes after it."""
    try:
        await asyncio.wait_for(awaitable, timeout)
    except Exception:
        pass


def _as_driver_error(exc: Exception, session, cancel) -> DriverError:
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    if isinstance(exc, DriverError):
        return exc
    step = session.step if session else "starting the browser context"
    out_of_time = cancel.is_set() or (session is not None and session.left() <= 0.5)
    if isinstance(exc, PlaywrightTimeout):
        if out_of_time:
            return DeadlineExceeded(f"The job's deadline passed while {step}.")
        # omni: treat selector timeouts as terminal; say which step so an operator can fix selectors.
        return UpstreamFailure(f"Gemini's page did not respond as expected while {step} "
                               f"(the page may have changed): {first_line(exc)}", code="page_changed")
    if isinstance(exc, PlaywrightError):
        if out_of_time:
            return DeadlineExceeded(f"The job's deadline passed while {step}.")
        text = str(exc)
        if "has been closed" in text or "crash" in text.lower() or "disconnected" in text.lower():
            return UpstreamFailure(f"The browser crashed while {step}.", code="browser_crashed")
        if "net::ERR_" in text:
            return UpstreamFailure(f"Network error while {step}: {first_line(exc)}", code="upstream_unavailable")
        return UpstreamFailure(f"Browser error while {step}: {first_line(exc)}")
    logger.exception("gemini driver bug while %s", step)
    return UpstreamFailure(f"The Gemini driver failed while {step}: {type(exc).__name__}: {first_line(exc)}")


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


async def _read_back(context, task, cfg):
    """Refreshed cookies (e.g. a rotated __Secure-1PSIDTS) merged into the account's credentials."""
    if context is None or task.credentials is None:
        return None
    try:
        return cookiejar.merge_back(task.credentials, await context.cookies(), cfg)
    except Exception as exc:
        logger.warning("gemini: could not read the context's cookies back: %s", first_line(exc))
        return None


async def _artifacts(page, console: list[str], trail: list[str], secrets: list[str], err: DriverError) -> list[Artifact]:
    out: list[Artifact] = []
    url = ""
    if page is not None and not page.is_closed():
        url = page.url
        try:
            out.append(Artifact("screenshot", "gemini-page.png",
                                await page.screenshot(timeout=ARTIFACT_TIMEOUT_MS, animations="disabled")))
        except Exception as exc:
            console.append(f"(screenshot failed: {first_line(exc)})")
        try:
            out.append(Artifact("html", "gemini-page.html", scrub(await page.content(), secrets).encode()))
        except Exception as exc:
            console.append(f"(page html failed: {first_line(exc)})")
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


def first_line(exc) -> str:
    text = str(exc).strip()
    return redact(text.splitlines()[0][:300]) if text else type(exc).__name__
