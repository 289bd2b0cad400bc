"""The Gemini web flow for one job, run in the browser service's event loop (gemini-web.md §1.7, §2.3-2.5).

Open the app, make sure the account is signed in, clear overlays, switch the image tool on, attach
the reference images for edits, send the prompt, wait for the answer, fetch the images at full
size. No fixed sleeps: every wait is on a page condition, bounded by the job's deadline. Waiting
for the answer uses the in-page probe of answers.py, which returns as soon as the page's state
changes, so every transition (streaming, images loaded, refusal text, the silent "jump-back" to
idle) is seen without polling.
"""

from __future__ import annotations

import io
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from generation.drivers.base import (
    CredentialsRejected,
    DeadlineExceeded,
    GenerationBlocked,
    OutputFile,
    RateLimited,
    UpstreamFailure,
)

from . import answers
from .answers import short as _short
from .download import fetch_full_size, image_file

logger = logging.getLogger(__name__)

_NAVIGATED = ("Execution context was destroyed", "navigation")
_IMAGE_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "GIF": ".gif"}


@dataclass
class Round:
    """One submitted prompt and what came back."""

    base: int
    images: list[dict] = field(default_factory=list)
    turn_index: int = -1
    resubmits: int = 0


class Session:
    """One job's page. Built by the browser service for one job; every step is a coroutine."""

    def __init__(self, page, context, cfg, task, cancel, trail: list[str]):
        self.page = page
        self.context = context
        self.cfg = cfg
        self.task = task
        self.cancel = cancel
        self.trail = trail            # step log, shipped with the console artifact on failure
        self.step = "start"
        self.nav_urls: list[str] = []
        self.image_urls: list[str] = []
        self._signin_rx = cfg.rx("SIGNIN_URL_PATTERN")
        self._sorry_rx = cfg.rx("SORRY_URL_PATTERN")
        self._image_rx = cfg.rx("IMAGE_URL_PATTERN")
        self.on_waiting = lambda: None  # called once the prompt is sent: the idle moment of a job
        page.on("request", self._on_request)

    # --- time -------------------------------------------------------------------------------

    def left(self) -> float:
        return self.task.deadline - self.cfg.DEADLINE_MARGIN - time.time()

    def check(self) -> None:
        if self.cancel.is_set():
            raise DeadlineExceeded(f"The job was stopped while {self.step}.")
        if self.left() <= 0:
            raise DeadlineExceeded(f"The job's deadline passed while {self.step}.")

    def ms(self, seconds: float) -> float:
        """A Playwright timeout for one wait: its own limit, never beyond the job's deadline."""
        self.check()
        return max(1.0, min(seconds, self.left()) * 1000)

    def enter(self, step: str) -> None:
        self.check()
        self.step = step
        self.trail.append(f"{time.strftime('%H:%M:%S')} {step}")
        logger.debug("gemini job %s: %s", self.task.job_id, step)

    # --- helpers ----------------------------------------------------------------------------

    def loc(self, selectors):
        """A locator for one selector or the union of a tuple of alternatives."""
        if isinstance(selectors, str):
            return self.page.locator(selectors)
        found = None
        for sel in selectors:
            part = self.page.locator(sel)
            found = part if found is None else found.or_(part)
        return found

    async def visible(self, selectors) -> bool:
        try:
            loc = self.loc(selectors)
            return any([await loc.nth(i).is_visible() for i in range(min(await loc.count(), 5))])
        except PlaywrightError:
            return False

    def _on_request(self, request) -> None:
        try:
            if request.is_navigation_request() and request.frame == self.page.main_frame:
                self.nav_urls.append(request.url)
            elif self._image_rx.search(request.url) and request.url not in self.image_urls:
                self.image_urls.append(request.url)
        except PlaywrightError:
            pass

    async def probe(self, base: int, last: str | None, slice_s: float | None = None) -> dict:
        cfg = self.cfg
        slice_ms = min(slice_s or cfg.PROBE_SLICE, max(0.05, self.left())) * 1000
        args = answers.probe_args(cfg, base, last, slice_ms)
        self.check()
        try:
            return await self.page.evaluate(answers.PROBE_JS, args)
        except PlaywrightError as exc:
            if any(m in str(exc) for m in _NAVIGATED):
                # The page navigated (e.g. to a sign-in page) while the probe was waiting.
                self.guard_url(history=True)
                try:
                    await self.page.wait_for_load_state("domcontentloaded", timeout=self.ms(self.cfg.NAVIGATION_TIMEOUT))
                except PlaywrightTimeout:
                    pass
                self.guard_url()
                return {"url": self.page.url, "turns": base, "turn": None, "stop": False, "send": False,
                        "progress": True, "editor": None, "overlay": False, "pageError": "", "key": "nav"}
            raise

    # --- signed-out and blocked pages ---------------------------------------------------------

    def guard_url(self, url: str | None = None, history: bool = False) -> None:
        """Raise if the page is on a sign-in, consent or "sorry" page.

        Only the current URL counts normally: Google may pass through a *passive* ServiceLogin
        hop to refresh a session and land back in the app signed in. The redirect history is
        consulted only when a navigation failed (an unreachable sign-in host, a dead context).
        """
        for candidate in [url or self.page.url] + (self.nav_urls[-3:] if history else []):
            if "consent." in candidate and self._signin_rx.search(candidate):
                raise CredentialsRejected("Gemini sent the browser to Google's consent page: the exported cookies "
                                          "lack the account's consent state; export them again after "
                                          "accepting it.")
            if self._signin_rx.search(candidate) or _host_of(candidate) in self._signin_only_hosts():
                raise CredentialsRejected("Gemini sent the browser to the Google sign-in page: the cookies "
                                          "are expired or were signed out.")
            if self._sorry_rx.search(candidate):
                raise RateLimited("Google answered with its 'unusual traffic' page (IP temporarily blocked).",
                                  code="upstream_rate_limited")

    def _signin_only_hosts(self) -> set[str]:
        # A derived sign-in host equal to the app's own host says nothing by itself.
        return {h for h in self.cfg.signin_hosts if h != self.cfg.app_host}

    async def guard_signed_out(self) -> None:
        self.guard_url()
        if await self.visible(self.cfg.SIGNIN_LINK):
            raise CredentialsRejected("Gemini shows a 'Sign in' link: the account's cookies are no longer "
                                      "signed in.")

    # --- steps ------------------------------------------------------------------------------

    async def open_app(self) -> None:
        cfg = self.cfg
        self.enter("opening the app")
        try:
            response = await self.page.goto(cfg.app_url, wait_until="domcontentloaded",
                                      timeout=self.ms(cfg.NAVIGATION_TIMEOUT))
        except PlaywrightError:
            self.guard_url(history=True)  # a redirect to an unreachable sign-in host fails the navigation
            raise
        self.guard_url()
        if response is not None and response.status == 429:
            raise RateLimited("Gemini answered HTTP 429 to the app page.")
        if response is not None and response.status >= 500:
            raise UpstreamFailure(f"Gemini answered HTTP {response.status} to the app page.",
                                  code="upstream_unavailable")
        self.enter("waiting for the app")
        ready = self.loc(cfg.COMPOSER).or_(self.loc(cfg.SIGNIN_LINK)).first
        try:
            await ready.wait_for(state="visible", timeout=self.ms(cfg.APP_READY_TIMEOUT))
        except PlaywrightTimeout:
            await self.guard_signed_out()
            raise
        await self.guard_signed_out()

    async def top_dialog(self):
        """The visible dialog on top (the CDK container stacks them in DOM order), or None."""
        dialogs = self.loc(self.cfg.OVERLAY_PANE)
        try:
            for i in reversed(range(min(await dialogs.count(), 10))):
                if await dialogs.nth(i).is_visible():
                    return dialogs.nth(i)
        except PlaywrightError:
            pass
        return None

    async def dismiss_overlays(self, agree: bool = False) -> None:
        """Close promo / first-visit dialogs, top one first; with agree, accept the upload terms."""
        cfg = self.cfg
        for _ in range(4):
            top = await self.top_dialog()
            if top is None:
                return
            target = None
            if agree and await top.locator(cfg.UPLOAD_AGREE_BUTTON).count():
                self.enter("accepting the upload terms")
                target = top.locator(cfg.UPLOAD_AGREE_BUTTON).first
            else:
                self.enter("dismissing an overlay")
                buttons = top.locator(cfg.OVERLAY_DISMISS)
                for i in range(min(await buttons.count(), 5)):
                    if await buttons.nth(i).is_visible():
                        target = buttons.nth(i)
                        break
            try:
                if target is None:
                    raise PlaywrightError("no dismiss button")
                await target.click(timeout=self.ms(3))
            except PlaywrightError:
                await self.page.keyboard.press("Escape")  # closes the top dialog
            try:
                await top.wait_for(state="hidden", timeout=self.ms(3))
            except PlaywrightTimeout:
                pass

    async def click(self, locator, timeout: float | None = None) -> None:
        """Click, clearing a dialog that popped up over the target meanwhile (§5.3 "Overlays")."""
        limit = self.cfg.ACTION_TIMEOUT if timeout is None else timeout
        first_try = min(limit, self.cfg.CLICK_FIRST_TRY)
        try:
            await locator.click(timeout=self.ms(first_try))
            return
        except PlaywrightTimeout:
            if await self.top_dialog() is not None:
                await self.dismiss_overlays()
            elif limit <= first_try:
                raise
        await locator.click(timeout=self.ms(max(1.0, limit - first_try)))

    async def optional_steps(self) -> None:
        cfg = self.cfg
        if cfg.TEMPORARY_CHAT:
            self.enter("switching to a temporary chat")
            button = self.loc(cfg.TEMPORARY_CHAT_BUTTON).first
            try:
                if await button.get_attribute("aria-pressed", timeout=self.ms(cfg.ACTION_TIMEOUT)) != "true":
                    await self.click(button)
            except PlaywrightError:
                logger.warning("gemini: no temporary-chat button; continuing in a normal chat")
        if cfg.MODE:
            self.enter(f"choosing the {cfg.MODE} mode")
            try:
                await self.click(self.loc(cfg.MODE_BUTTON).first)
                await self.click(self.loc(cfg.MODE_ITEM.format(mode=re.escape(cfg.MODE))).first)
            except PlaywrightError:
                logger.warning("gemini: could not choose mode %s; continuing", cfg.MODE)
                await self.page.keyboard.press("Escape")

    async def choose_image_tool(self) -> bool:
        """Tools -> "Create image". Best effort, like every project that drives the UI."""
        cfg = self.cfg
        self.enter("choosing the image tool")
        if await self.visible(cfg.IMAGE_TOOL_ACTIVE):
            return True
        if await self.visible(cfg.IMAGE_TOOL_PILL) and await self._image_tool_pill():
            return True  # the seed's order: landing pill, then the tools menu
        item = self.loc(cfg.IMAGE_TOOL_ITEM).first
        if not await self.visible(cfg.IMAGE_TOOL_ITEM):
            for sel in cfg.TOOLS_BUTTONS:
                button = self.page.locator(sel).first
                if await self.visible(sel):
                    await self.click(button)
                    break
            try:
                await item.wait_for(state="visible", timeout=self.ms(cfg.ACTION_TIMEOUT / 3))
            except PlaywrightTimeout:
                await self.page.keyboard.press("Escape")
                logger.warning("gemini job %s: no 'Create image' tool found; sending the prompt without it",
                               self.task.job_id)
                return False
        if await item.is_disabled() or await item.get_attribute("aria-disabled") == "true":
            await self.guard_signed_out()
            raise GenerationBlocked("Gemini's image tool is disabled for this account (signed out, "
                                    "under-18 or unsupported region).")
        if await item.get_attribute("aria-checked") != "true":
            await self.click(item)
        try:
            await self.loc(cfg.IMAGE_TOOL_ACTIVE).first.wait_for(state="visible", timeout=self.ms(5))
        except PlaywrightTimeout:
            logger.warning("gemini job %s: the image tool did not confirm itself", self.task.job_id)
        if await self.visible(cfg.IMAGE_TOOL_ITEM):
            await self.page.keyboard.press("Escape")  # menus that stay open after a pick
        return True

    async def _image_tool_pill(self) -> bool:
        """The landing page's "Create image" suggestion (seed step 7a), when the menu is missing."""
        cfg = self.cfg
        if await self.visible(cfg.IMAGE_TOOL_PILL):
            await self.click(self.loc(cfg.IMAGE_TOOL_PILL).first)
            try:
                await self.loc(cfg.IMAGE_TOOL_ACTIVE).first.wait_for(state="visible", timeout=self.ms(5))
                return True
            except PlaywrightTimeout:
                pass
        return False

    async def attach(self, paths: list[Path]) -> None:
        """Upload menu -> "Upload files" -> file chooser (the reliable path, §2.4)."""
        cfg = self.cfg
        self.enter(f"attaching {len(paths)} reference image(s)")
        payloads = [_payload(p) for p in paths]
        chips = self.page.locator(cfg.PREVIEW_CHIP)
        wanted = await chips.count() + len(payloads)
        pending = list(payloads)
        tries = 0
        while pending:
            await self.dismiss_overlays()
            chooser = await self._open_file_chooser()
            tries += 1
            if chooser is None and tries < 3:
                continue
            if chooser is None:
                self.enter("attaching through the page's file input")
                await self.page.locator(cfg.FILE_INPUT).first.set_input_files(pending, timeout=self.ms(cfg.ACTION_TIMEOUT))
                pending = []
            elif chooser.is_multiple():
                await chooser.set_files(pending, timeout=self.ms(cfg.ACTION_TIMEOUT))
                pending = []
            else:
                await chooser.set_files(pending.pop(0), timeout=self.ms(cfg.ACTION_TIMEOUT))
        self.enter("waiting for the attachment previews")
        try:
            await self.page.wait_for_function(
                "([css, n]) => document.querySelectorAll(css).length >= n", arg=[cfg.PREVIEW_CHIP, wanted],
                timeout=self.ms(cfg.ACTION_TIMEOUT * 2))
        except PlaywrightTimeout:
            raise UpstreamFailure("Gemini did not show the attached image(s); the upload failed.",
                                  code="upload_failed") from None

    async def _open_file_chooser(self):
        cfg = self.cfg
        await self.click(self.loc(cfg.UPLOAD_MENU_BUTTON).first)
        item = self.loc(cfg.UPLOAD_FILES_ITEM).first
        try:
            await item.wait_for(state="visible", timeout=self.ms(cfg.ACTION_TIMEOUT / 3))
        except PlaywrightTimeout:
            await self.page.keyboard.press("Escape")
            return None
        # The chooser event, or first (on an account's first upload) a terms dialog whose "Agree"
        # opens it (femini): whichever comes first.
        page = self.page
        choosers: list = []

        def on_chooser(chooser):
            choosers.append(chooser)

        page.on("filechooser", on_chooser)
        try:
            await self.click(item)
            until = time.time() + cfg.ACTION_TIMEOUT
            while not choosers and time.time() < until:
                if await self.top_dialog() is not None:
                    await self.dismiss_overlays(agree=True)
                try:
                    await page.wait_for_event("filechooser", timeout=self.ms(min(0.5, until - time.time())))
                except PlaywrightTimeout:
                    pass
        finally:
            page.remove_listener("filechooser", on_chooser)
        return choosers[0] if choosers else None

    async def type_prompt(self, prompt: str) -> None:
        cfg = self.cfg
        self.enter("typing the prompt")
        editor = self.loc(cfg.COMPOSER).first
        await self.click(editor)
        await editor.fill(prompt, timeout=self.ms(cfg.ACTION_TIMEOUT))
        send = self.loc(cfg.SEND_BUTTON).first
        try:
            await send.wait_for(state="visible", timeout=self.ms(5))
        except PlaywrightTimeout:
            # Some editor builds ignore a programmatic fill; real key presses always count.
            self.enter("typing the prompt key by key")
            await editor.fill("", timeout=self.ms(cfg.ACTION_TIMEOUT))
            await editor.press_sequentially(prompt, timeout=self.ms(max(cfg.ACTION_TIMEOUT, len(prompt) * 0.05)))
            await send.wait_for(state="visible", timeout=self.ms(cfg.ACTION_TIMEOUT))

    async def send(self) -> int:
        """Click Send; returns the number of answer turns before this submission."""
        cfg = self.cfg
        self.enter("sending the prompt")
        base = await self.page.locator(cfg.RESPONSE_TURN).count()
        await self.click(self.loc(cfg.SEND_BUTTON).first)
        if await self._submitted(base):
            return base
        self.enter("sending the prompt with Enter")
        await self.loc(cfg.COMPOSER).first.press("Enter", timeout=self.ms(cfg.ACTION_TIMEOUT))
        if await self._submitted(base):
            return base
        raise UpstreamFailure("Gemini did not accept the prompt (the Send button had no effect).",
                              code="prompt_not_sent")

    async def _submitted(self, base: int) -> bool:
        """Accepted once the editor empties, Stop shows up, or a new answer turn appears."""
        limit = time.time() + min(self.cfg.SUBMIT_CONFIRM_TIMEOUT, max(0.0, self.left()))
        last = None
        while time.time() < limit:
            s = await self.probe(base, last, slice_s=limit - time.time())
            last = s["key"]
            self.guard_url(s["url"])
            if s["stop"] or s["turn"] is not None or not s["editor"]:
                return True
        return False

    # --- waiting for the answer ---------------------------------------------------------------

    async def await_answer(self, rnd: Round, resubmit) -> None:
        """Wait until our turn holds loaded images; raise for any other ending."""
        cfg = self.cfg
        self.enter("waiting for the answer")
        self.on_waiting()
        last = None
        idle_since = images_since = jump_since = None
        while True:
            s = await self.probe(rnd.base, last)
            last = s["key"]
            self.guard_url(s["url"])
            now = time.time()
            turn = s["turn"]
            busy = s["stop"] or s["progress"]
            if s["pageError"]:
                # Page-level toasts also say harmless things ("Downloading full size…"): only a
                # recognised error counts.
                answers.classify_error(self.cfg, s["pageError"], strict=False)
            if turn is not None and turn["images"]:
                finished = not s["stop"] or turn["feedback"]
                rnd.turn_index = s["turns"] - 1
                if all(i["loaded"] for i in turn["images"]):
                    # The image can show before the turn ends (§2.3 step 7): give it a moment.
                    images_since = images_since or now
                    if finished or now - images_since > cfg.FINISH_GRACE:
                        rnd.images = turn["images"]
                        return
                    continue
                if finished and not busy:
                    # A preview that never loads (revoked blob:, CDN hiccup): its URL may still work.
                    idle_since = idle_since or now
                    if now - idle_since >= cfg.IDLE_SETTLE:
                        rnd.images = turn["images"]
                        return
                else:
                    idle_since = None
                continue
            if turn is not None:
                if turn["error"]:
                    answers.classify_error(self.cfg, turn["error"])
                if turn["feedback"] and not busy:
                    answers.classify_text(self.cfg, turn["text"])
            if not busy and s["editor"] and (turn is None or (not turn["text"] and not turn["images"])):
                # Jump-back: the turn vanished and the prompt is back in the editor (§1.7 step 10).
                # Only once the page has stayed that way for a moment, so a slow UI update right
                # after sending is not mistaken for one (a re-submit would duplicate the prompt).
                jump_since = jump_since or now
                if now - jump_since < cfg.JUMP_BACK_SETTLE:
                    continue
                jump_since = None
                rnd.resubmits += 1
                if rnd.resubmits > cfg.MAX_RESUBMITS:
                    raise UpstreamFailure(
                        f"Gemini cancelled the generation {rnd.resubmits} times and returned to the prompt "
                        "(jump-back).", code="generation_cancelled")
                logger.info("gemini job %s: jump-back, re-submitting (%s/%s)", self.task.job_id,
                            rnd.resubmits, cfg.MAX_RESUBMITS)
                self.trail.append(f"{time.strftime('%H:%M:%S')} jump-back #{rnd.resubmits}")
                rnd.base = await resubmit()
                self.enter("waiting for the answer")
                last, idle_since, images_since = None, None, None
                continue
            jump_since = None
            if busy:
                idle_since = None
                continue
            idle_since = idle_since or now
            if now - idle_since >= cfg.IDLE_SETTLE:
                if turn is not None and turn["text"]:
                    answers.classify_text(self.cfg, turn["text"])
                raise UpstreamFailure("Gemini's answer ended without an image (empty or truncated answer).",
                                      code="generation_failed")

    # --- the whole job ------------------------------------------------------------------------

    async def prepare(self, paths: list[Path]) -> None:
        await self.dismiss_overlays()
        await self.choose_image_tool()
        if paths:
            await self.attach(paths)
        await self.dismiss_overlays()

    async def submit(self, prompt: str, paths: list[Path], first: bool) -> int:
        if not first:
            # After a jump-back the tool and attachments may be gone (§5.3); put them back.
            if not await self.visible(self.cfg.IMAGE_TOOL_ACTIVE):
                await self.choose_image_tool()
            if paths and await self.page.locator(self.cfg.PREVIEW_CHIP).count() < len(paths):
                await self.attach(paths)
            await self.dismiss_overlays()
        await self.type_prompt(prompt)
        return await self.send()

    async def run(self) -> tuple[list[OutputFile], dict]:
        task, cfg = self.task, self.cfg
        paths = [Path(p) for p in task.inputs]
        prompt = (cfg.EDIT_PROMPT_PREFIX if paths else cfg.GENERATE_PROMPT_PREFIX) + str(task.params.get("prompt", ""))
        wanted = max(1, int(task.params.get("n") or 1))
        await self.open_app()
        await self.optional_steps()
        await self.prepare(paths)
        files: list[OutputFile] = []
        meta: dict = {"rounds": 0, "resubmits": 0, "download": []}
        first_round = True
        while len(files) < wanted:
            if not first_round and self.left() < cfg.MIN_ROUND_SECONDS:
                logger.warning("gemini job %s: returning %s of %s images, too little time for another round",
                               task.job_id, len(files), wanted)
                break
            try:
                # Later rounds (n > 1) stay in the same chat, where the tool and the uploaded image
                # remain in effect (hamlog), so nothing is attached again.
                rnd = Round(base=await self.submit(prompt, [], first=not first_round))
                again = paths if first_round else []
                await self.await_answer(rnd, lambda: self.submit(prompt, again, first=False))
                meta["rounds"] += 1
                meta["resubmits"] += rnd.resubmits
                for index in range(len(rnd.images)):
                    if len(files) >= wanted:
                        break
                    output, how = await self.download(rnd, index)
                    files.append(output)
                    meta["download"].append(how)
            except (CredentialsRejected, DeadlineExceeded):
                raise
            except Exception as exc:
                if not files:
                    raise
                meta["partial_error"] = getattr(exc, "code", type(exc).__name__)
                logger.warning("gemini job %s: round %s failed after %s image(s): %s", task.job_id,
                               meta["rounds"] + 1, len(files), exc)
                break
            first_round = False
        meta["requested"], meta["returned"] = wanted, len(files)
        return files, meta

    # --- getting the bytes --------------------------------------------------------------------

    async def download(self, rnd: Round, index: int) -> tuple[OutputFile, str]:
        cfg = self.cfg
        self.enter(f"downloading image {index + 1}")
        await self.dismiss_overlays()
        turn = self.page.locator(cfg.RESPONSE_TURN).nth(rnd.turn_index)
        scope = None
        for css in cfg.IMAGE_SCOPE:
            if await turn.locator(css).count() > index:
                scope = turn.locator(css).nth(index)
                break
        button = scope.locator(cfg.DOWNLOAD_BUTTON).first if scope is not None else None
        if button is not None and await button.count():
            try:
                return await self._download_button(scope, button), "button"
            except DeadlineExceeded:
                raise
            except Exception as exc:  # the click may crash or never produce a download (§2.5)
                logger.info("gemini job %s: download button failed (%s); fetching the URL", self.task.job_id,
                            _short(str(exc), 200))
                self.trail.append(f"download button failed: {_short(str(exc), 200)}")
        self.enter(f"fetching image {index + 1} at full size")
        src = rnd.images[index]["src"]
        candidates = [src] if src.startswith("http") else []
        # A blob: src hides the CDN URL; the page's own request for it was recorded (§2.5).
        gg = [u for u in self.image_urls if "/gg-dl/" in u]
        if index < len(gg) and gg[index] not in candidates:
            candidates.append(gg[index])
        found = await fetch_full_size(self.context.request, candidates, cfg, self.ms, referer=cfg.app_origin + "/")
        if found is None and cfg.ALLOW_PREVIEW_FALLBACK and candidates:
            found = await fetch_full_size(self.context.request, candidates, cfg, self.ms,
                                    referer=cfg.app_origin + "/", suffixes=("",))
        if found is None:
            raise UpstreamFailure("Could not download the generated image at full size (button and URL both "
                                  "failed).", code="download_failed")
        return found, "url"

    async def _download_button(self, scope, button) -> OutputFile:
        cfg, page = self.cfg, self.page
        await scope.locator("img").first.hover(timeout=self.ms(cfg.ACTION_TIMEOUT))  # a real hover reveals it
        # Wait for the download, but stop early if the click navigated the tab instead (an error
        # page served without Content-Disposition): no download will come then.
        got: list = []
        navigated: list = []

        def on_nav(frame):
            if frame == page.main_frame:
                navigated.append(frame.url)

        def on_download(download):
            got.append(download)

        page.on("download", on_download)
        page.on("framenavigated", on_nav)
        try:
            await self.click(button)
            until = time.time() + cfg.DOWNLOAD_EVENT_TIMEOUT
            while not got and not navigated and time.time() < until:
                try:
                    await page.wait_for_event("download", timeout=self.ms(min(cfg.PROBE_SLICE, until - time.time())))
                except PlaywrightTimeout:
                    pass
        finally:
            page.remove_listener("download", on_download)
            page.remove_listener("framenavigated", on_nav)
        if not got:
            why = (f"the page navigated to {_short(navigated[0].split('?')[0], 80)}" if navigated
                   else "no download started")
            raise UpstreamFailure(f"The download button did not deliver a file ({why}).", code="download_failed")
        download = got[0]
        failure = await download.failure()
        if failure:
            raise UpstreamFailure(f"The browser download failed: {failure}", code="download_failed")
        data = Path(await download.path()).read_bytes()
        output = image_file(data)
        if output is None:
            raise UpstreamFailure("The downloaded file is not an image.", code="download_failed")
        return output


def _host_of(url: str) -> str:
    match = re.match(r"^[a-z]+://([^/:?#]+)", url or "", re.IGNORECASE)
    return match.group(1).lower() if match else ""



def _payload(path: Path) -> dict:
    """The file as the chooser should present it: a name and MIME type matching its real format.

    Inputs are stored under neutral names; Gemini refuses files whose type it cannot tell (PR #198).
    """
    data = path.read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or ""
    except Exception:
        fmt = ""
    suffix = _IMAGE_SUFFIX.get(fmt, path.suffix or ".png")
    mime = Image.MIME.get(fmt, "image/png")
    name = path.stem + suffix if path.suffix.lower() != suffix else path.name
    return {"name": name, "mimeType": mime, "buffer": data}
