"""Smoke test: the exact Playwright surface the Gemini driver uses, against Debian's Chromium.

Playwright only promises to work with the Chromium it pins; Debian's is a different build that
security updates move under us (django-stack.md §2.1). This test runs every call the driver makes
(launch options, context options, cookies in both forms, locators with role/regex/has-text
selectors, the in-page probe, file chooser, hover + download, context.request with redirects,
screenshot, content, cookies read-back) with the async API on one event loop, exactly like the
browser service, against a tiny local page, and reports the browser version.
"""

from __future__ import annotations

import asyncio
import http.server
import io
import logging
import os
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from generation.drivers.gemini import selectors
from generation.drivers.gemini.answers import PROBE_JS, probe_args
from generation.drivers.gemini.pinned import pinned_chromium_version

CHROMIUM = "/usr/bin/chromium"
logger = logging.getLogger(__name__)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's Chromium is not installed"),
]


def _png(size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


PAGE = """<!doctype html><html><body>
<div class="cdk-overlay-container"></div>
<rich-textarea><div class="ql-editor textarea" contenteditable="true" role="textbox"
  aria-label="Enter a prompt for Gemini"></div></rich-textarea>
<button class="tools">Tools</button>
<button role="menuitemcheckbox" aria-checked="false" id="tool">Create image</button>
<button class="upload-card-button" aria-label="Open upload file menu">+</button>
<div class="chips"></div>
<div class="send-slot"></div>
<model-response><generated-image><img class="image" src="/img=s1024-rj">
  <button data-test-id="download-generated-image-button" aria-label="Download full size image"
    onclick="location.href='/img=d'">Download</button></generated-image></model-response>
<script>
  const ed = document.querySelector('.ql-editor');
  ed.addEventListener('input', () => {
    document.querySelector('.send-slot').innerHTML =
      ed.innerText.trim() ? '<button class="send-button" aria-label="Send message">Send</button>' : '';
  });
  document.querySelector('#tool').onclick = (e) => e.target.setAttribute('aria-checked', 'true');
  document.querySelector('.upload-card-button').onclick = () => {
    const input = document.createElement('input');
    input.type = 'file'; input.multiple = true; input.name = 'Filedata';
    input.onchange = () => { for (const f of input.files) {
      const chip = document.createElement('uploader-file-preview'); chip.textContent = f.name + ':' + f.type;
      document.querySelector('.chips').appendChild(chip); } };
    input.click();
  };
  console.log('smoke page ready');
  setTimeout(() => document.querySelector('model-response').setAttribute('data-late', '1'), 150);
</script></body></html>"""


class _Handler(http.server.BaseHTTPRequestHandler):
    png = _png()

    def do_GET(self):
        if self.path.startswith("/app"):
            self._send(200, "text/html", PAGE.encode(), cookie="__Secure-1PSIDTS=rotated; Path=/; Secure; HttpOnly")
        elif self.path == "/img=s0":  # the CDN hop: a redirect, then the session cookie is checked
            self.send_response(302)
            self.send_header("Location", "/final=s0")
            self.end_headers()
        elif self.path == "/final=s0":
            ok = "__Secure-1PSID=smoke-psid" in (self.headers.get("Cookie") or "")
            self._send(200 if ok else 403, "image/png" if ok else "text/plain", self.png if ok else b"no")
        elif self.path.startswith("/img=d"):
            self._send(200, "image/png", self.png, disposition='attachment; filename="Gemini_Generated_Image_x.png"')
        elif self.path.startswith("/img"):
            self._send(200, "image/png", self.png)
        else:
            self._send(404, "text/plain", b"nope")

    def _send(self, status, kind, body, cookie=None, disposition=None):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        if cookie:
            self.send_header("Set-Cookie", cookie)
        if disposition:
            self.send_header("Content-Disposition", disposition)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def _exercise(browser, base: str, upload: Path) -> dict:
    """Runs on an event loop with the async API, like the browser service's jobs."""
    cfg = selectors.load()
    out = {"version": browser.version, "connected": browser.is_connected()}
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US", accept_downloads=True,
                                  user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0 Safari/537.36",
                                  timezone_id="UTC")
    try:
        context.set_default_timeout(10_000)
        context.set_default_navigation_timeout(10_000)
        await context.add_cookies([
            {"name": "__Secure-1PSID", "value": "smoke-psid", "domain": "127.0.0.1", "path": "/", "expires": -1,
             "httpOnly": True, "secure": True, "sameSite": "None"},
            {"name": "__Host-GAPS", "value": "host-only", "domain": "127.0.0.1", "path": "/", "expires": -1,
             "httpOnly": True, "secure": True, "sameSite": "Lax"},
        ])
        page = await context.new_page()
        events: dict[str, list] = {"console": [], "nav": [], "response": []}
        page.on("console", lambda m: events["console"].append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: events["console"].append(f"error: {e}"))
        page.on("crash", lambda _p: events["console"].append("crash"))
        page.on("requestfailed", lambda r: events["console"].append(f"failed {r.url} {r.failure}"))
        page.on("response", lambda r: events["response"].append(r.status))
        page.on("request", lambda r: r.is_navigation_request() and r.frame == page.main_frame
                and events["nav"].append(r.url))

        response = await page.goto(base + "/app?hl=en", wait_until="domcontentloaded", timeout=10_000)
        out["status"] = response.status
        await page.wait_for_load_state("domcontentloaded", timeout=5_000)

        composer = page.locator(cfg.COMPOSER).or_(page.locator("a[aria-label='Sign in']")).first
        await composer.wait_for(state="visible", timeout=5_000)
        out["role_item_visible"] = await page.locator(cfg.IMAGE_TOOL_ITEM).first.is_visible()
        tools = page.locator('button:has-text("Tools")')
        out["tools_count"] = await tools.count()
        item = page.locator(cfg.IMAGE_TOOL_ITEM).first
        out["disabled"] = await item.is_disabled()
        await item.click(timeout=5_000)
        out["checked"] = await item.get_attribute("aria-checked")

        # The probe: immediate answer, then a wait that ends on a DOM change.
        args = probe_args(cfg, base=0, last="", slice_ms=2000)
        first = await page.evaluate(PROBE_JS, args)
        started = time.time()
        second = await page.evaluate(PROBE_JS, {**args, "last": first["key"]})
        out["probe"] = (first["turns"], len(first["turn"]["images"]), second["key"] != first["key"] or
                        time.time() - started >= 1.9)

        editor = page.locator(cfg.COMPOSER).first
        await editor.click(timeout=5_000)
        await editor.fill("Generate an image of a smoke test", timeout=5_000)
        await page.locator(cfg.SEND_BUTTON).first.wait_for(state="visible", timeout=5_000)
        await editor.fill("", timeout=5_000)
        await editor.press_sequentially("typed", timeout=5_000)
        await editor.press("End", timeout=5_000)
        await page.keyboard.press("Escape")
        out["typed"] = await page.evaluate("() => document.querySelector('.ql-editor').innerText.trim()")

        choosers = []

        def on_chooser(chooser):
            choosers.append(chooser)

        page.on("filechooser", on_chooser)
        await page.locator(cfg.UPLOAD_MENU_BUTTON).first.click(timeout=5_000)
        try:
            await page.wait_for_event("filechooser", timeout=5_000)
        except Exception:
            pass
        page.remove_listener("filechooser", on_chooser)
        chooser = choosers[0]
        out["multiple"] = chooser.is_multiple()
        await chooser.set_files([{"name": "ref.png", "mimeType": "image/png", "buffer": upload.read_bytes()}])
        await page.wait_for_function("([css, n]) => document.querySelectorAll(css).length >= n",
                               arg=[cfg.PREVIEW_CHIP, 1], timeout=5_000)
        out["chip"] = await page.locator(cfg.PREVIEW_CHIP).first.inner_text()

        scope = page.locator(cfg.RESPONSE_TURN).nth(0).locator(cfg.IMAGE_SCOPE[0]).nth(0)
        out["parent_count"] = await scope.count()
        await scope.locator("img").first.hover(timeout=5_000)
        got = []

        def on_download(download):
            got.append(download)

        page.on("download", on_download)
        await scope.locator(cfg.DOWNLOAD_BUTTON).first.click(timeout=5_000)
        if not got:
            try:
                await page.wait_for_event("download", timeout=5_000)
            except Exception:
                pass
        page.remove_listener("download", on_download)
        download = got[0]
        out["download_failure"] = await download.failure()
        out["download_name"] = download.suggested_filename
        out["download_bytes"] = Path(await download.path()).read_bytes()

        fetched = await context.request.get(base + "/img=s0", headers={"Referer": base + "/"}, timeout=5_000,
                                      max_redirects=10)
        out["fetched"] = (fetched.status, fetched.headers.get("content-type"), await fetched.body())

        out["screenshot"] = await page.screenshot(timeout=5_000, animations="disabled")
        out["html_has_editor"] = "ql-editor" in await page.content()
        out["closed"] = page.is_closed()
        out["cookies"] = {c["name"]: c["value"] for c in await context.cookies()}
        out["console"] = events["console"]
        out["nav"] = events["nav"]
        out["contexts_during"] = len(browser.contexts)
    finally:
        await context.close()
    out["contexts_after"] = len(browser.contexts)
    return out


def test_driver_playwright_surface_on_debian_chromium(site, tmp_path, settings):
    settings.GEMINI_OVERRIDES = {}
    upload = tmp_path / "ref.png"
    upload.write_bytes(_png((32, 32)))
    cfg = selectors.load()

    async def run() -> dict:
        from playwright.async_api import async_playwright

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                               args=list(cfg.EXTRA_LAUNCH_ARGS))  # the service's launch
            try:
                return await asyncio.wait_for(_exercise(browser, site, upload), 60)
            finally:
                await browser.close()

    out = asyncio.run(run())
    print(f"Debian Chromium {out['version']}; Playwright pins {pinned_chromium_version()}")
    logger.info("browser.version = %s", out["version"])
    assert out["version"].split(".")[0].isdigit() and out["connected"]
    assert out["status"] == 200
    assert out["role_item_visible"] and out["tools_count"] == 1 and not out["disabled"]
    assert out["checked"] == "true"
    assert out["probe"] == (1, 1, True)
    assert out["typed"] == "typed"
    assert out["multiple"] is True and out["chip"] == "ref.png:image/png"
    assert out["parent_count"] == 1
    assert out["download_failure"] is None and out["download_name"] == "Gemini_Generated_Image_x.png"
    assert out["download_bytes"] == _Handler.png
    status, kind, body = out["fetched"]
    assert (status, kind, body) == (200, "image/png", _Handler.png)  # redirect followed, cookie sent
    assert out["screenshot"][:8] == b"\x89PNG\r\n\x1a\n" and out["html_has_editor"] and not out["closed"]
    assert out["cookies"]["__Secure-1PSIDTS"] == "rotated"  # Set-Cookie over http://127.0.0.1 kept
    assert out["cookies"]["__Host-GAPS"] == "host-only"
    assert any("smoke page ready" in line for line in out["console"])
    assert out["nav"] and out["nav"][0].endswith("/app?hl=en")
    assert out["contexts_during"] == 1 and out["contexts_after"] == 0
