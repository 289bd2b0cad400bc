"""HTTP side of the fake: routing for every emulated host, and the ``FakeGemini`` handle.

One origin serves all hosts. The real host name becomes the first path segment
(``/accounts.google.com/ServiceLogin``, ``/lh3.googleusercontent.com/gg-dl/…``), so
URL checks that look for the host name (``"accounts.google.com" in page.url``,
``img[src*="googleusercontent"]``) behave as on the real site, and one cookie jar
covers everything. The Gemini app itself lives at the root (``/app``).

Usage from tests::

    from fakes.gemini.server import FakeGemini
    with FakeGemini(delay_seconds=0.3) as fake:
        context.add_cookies(fake.playwright_cookies())
        page.goto(fake.app_url)
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
import traceback
from urllib.parse import quote, urlsplit

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from . import failures, page
from .accounts import AccountRoutes
from .control import ControlRoutes
from .generation import GenerationRoutes
from .imagehost import ImageHostRoutes
from .state import FakeState, Settings
from .web import BUILD_LABEL, CONSENT_COOKIE, DEFAULT_PUSH_ID, HOSTS, PSID, PSIDTS, SIGNED_IN_STATUSES

__all__ = ["FakeGemini", "GeminiApp", "HOSTS"]


class GeminiApp(AccountRoutes, GenerationRoutes, ImageHostRoutes, ControlRoutes):
    """The WSGI application. All state lives in ``FakeState``; this class only routes."""

    def __init__(self, state: FakeState) -> None:
        super().__init__(state)
        u = r"(?:/u/(?P<user>\d+))?"
        table = [
            ("GET", r"/", self.root),
            ("GET", u + r"/app(?:/(?P<conv>[0-9a-f]{8,32}))?/?", self.app_page),
            ("POST", u + r"/_/BardChatUi/data/assistant\.lamda\.BardFrontendService/StreamGenerate",
             self.stream_generate),
            ("POST", u + r"/_/BardChatUi/data/batchexecute", self.batchexecute),
            ("GET", r"(?:/accounts\.google\.com)?/ServiceLogin", self.service_login),
            ("GET", r"/accounts\.google\.com/v3/signin/identifier", self.service_login),
            ("POST", r"/accounts\.google\.com/v3/signin/identifier", self.signin_identifier),
            ("POST", r"/accounts\.google\.com/v3/signin/challenge/pwd", self.signin_password),
            ("GET", r"/accounts\.google\.com/SignOutOptions", self.sign_out_options),
            ("POST", r"/accounts\.google\.com/RotateCookies", self.rotate_cookies),
            ("GET", r"/consent\.google\.com(?:/ml)?/?", self.consent_page),
            ("POST", r"/consent\.google\.com/save", self.consent_save),
            ("GET", r"/www\.google\.com/?", self.google_home),
            ("GET", r"/www\.google\.com/sorry/index", self.sorry_page),
            ("POST", r"/content-push\.googleapis\.com/upload/?", self.push_upload),
            ("POST", r"/push\.clients6\.google\.com/upload/?", self.resumable_upload),
            ("GET", r"/lh3\.googleusercontent\.com/gg-dl/(?P<rest>.+)", self.gg_dl),
            ("GET", r"/work\.fife\.usercontent\.google\.com/rd-gg-dl/(?P<rest>.+)", self.fife_hop),
            ("GET", r"/lh3\.googleusercontent\.com/rd-gg-dl/(?P<rest>.+)", self.rd_gg_dl),
            ("GET", r"/lh3\.googleusercontent\.com/a/(?P<rest>.+)", self.avatar),
            ("GET", r"/favicon\.ico", lambda req: Response(status=204)),
            # control / inspection API (a prefix the real site does not use)
            ("GET", r"/_fake/?", self.ctl_index),
            ("GET", r"/_fake/state", self.ctl_state),
            ("POST", r"/_fake/reset", self.ctl_reset),
            ("POST", r"/_fake/delay", self.ctl_delay),
            ("GET", r"/_fake/settings", self.ctl_settings),
            ("POST", r"/_fake/settings", self.ctl_settings),
            ("POST", r"/_fake/psid/invalidate", self.ctl_invalidate),
            ("POST", r"/_fake/psid/restore", self.ctl_restore),
            ("GET", r"/_fake/failures", self.ctl_failures),
            ("POST", r"/_fake/failures", self.ctl_failures),
            ("DELETE", r"/_fake/failures", self.ctl_failures),
            ("POST", r"/_fake/failures/clear", self.ctl_failures_clear),
            ("POST", r"/_fake/ui/event", self.ui_event),
        ]
        self.routes = [(m, re.compile(p + r"\Z"), fn) for m, p, fn in table]

    # ------------------------------------------------------------------ plumbing

    def __call__(self, environ, start_response):
        req = Request(environ)
        try:
            resp = self.dispatch(req)
        except Exception:  # show the traceback to whoever is debugging a test
            resp = Response(traceback.format_exc(), 500, mimetype="text/plain")
        self.state.log_request(req.method, req.full_path.rstrip("?"), resp.status_code)
        return resp(environ, start_response)

    def dispatch(self, req: Request) -> Response:
        method = "GET" if req.method == "HEAD" else req.method
        path_matched = False
        for route_method, pattern, handler in self.routes:
            match = pattern.match(req.path)
            if not match:
                continue
            path_matched = True
            if route_method == method:
                return handler(req, **{k: v for k, v in match.groupdict().items()})
        if path_matched:
            return Response("Method Not Allowed", 405)
        return Response("Not Found", 404, mimetype="text/plain")

    # ------------------------------------------------------------------ app page

    def root(self, req: Request) -> Response:
        return redirect(self.base(req) + "/app", 302)

    def app_page(self, req: Request, user: str | None = None, conv: str | None = None) -> Response:
        psid, status = self.session(req)
        here = self.base(req) + req.full_path.rstrip("?")
        if status == "redirect":
            self.state.count(psid, "signin_redirects")
            return redirect(self.sign_in_url(req, here), 302)
        if status == "sorry":
            self.state.count(psid, "sorry_redirects")
            resp = redirect(self.sorry_url(req, here), 302)
            return resp
        needs_consent = status == "consent" or (self.settings.require_consent and status in SIGNED_IN_STATUSES)
        if needs_consent and not req.cookies.get(CONSENT_COOKIE):
            self.state.count(psid, "consent_redirects")
            return redirect(f"{self.host(req, 'consent')}/ml?continue={quote(here, safe='')}", 302)

        signed_in = status in SIGNED_IN_STATUSES
        self.state.count(psid, "page_loads")
        hl = (req.args.get("hl") or "en").split("-")[0] or "en"
        app_prefix = f"/u/{user}" if user else ""
        settings = self.settings
        blob = None
        if signed_in and status != "notoken" and settings.include_config_blob:
            blob = {
                "SNlM0e": f"AJvLN6{secrets.token_urlsafe(24)}:{int(time.time() * 1000)}",
                "cfb2h": BUILD_LABEL,
                "FdrFJe": str(secrets.randbelow(10**19)),
                "TuX5cc": hl,
                "qKIAYe": DEFAULT_PUSH_ID,
            }
        with self.state.lock:
            on_load = []
            if "first_visit" in settings.overlays and signed_in and psid not in self.state.first_visit_seen:
                self.state.first_visit_seen.add(psid)
                on_load.append("first_visit")
            if "promo" in settings.overlays:
                on_load.append("promo")
            upload_agreed = psid in self.state.upload_agreed
            conversation, chat = [], None
            convo = self.state.conversations.get(f"c_{conv}") if conv else None
            if convo and convo["psid"] == psid and signed_in:
                conversation = [t for t in convo["turns"] if t.get("final")]
                if conversation:
                    last = conversation[-1]
                    chat = [convo["cid"], last["rid"], last["rcid"]]
            recent = [
                {"id": c["cid"][2:], "title": c["title"]}
                for c in sorted(self.state.conversations.values(), key=lambda c: -c["created"])
                if c["psid"] == psid and signed_in and not c["temporary"] and c["turns"]
            ][:10]
        avatar = None
        if psid:
            avatar = f"{self.host(req, 'lh3')}/a/ACg8oc{hashlib.sha256(psid.encode()).hexdigest()[:24]}=s64-c"
        body = page.render_app(
            base=self.base(req), app_prefix=app_prefix, hl=hl, signed_in=signed_in,
            sign_in_url=self.sign_in_url(req, here) + "&passive=true", avatar_url=avatar,
            config_blob=blob, tool_label=settings.tool_label, overlays_on_load=on_load,
            overlays_enabled=list(settings.overlays), upload_agreed=upload_agreed,
            conversation=[self._turn_for_page(t) for t in conversation], chat=chat, recent=recent,
            control=self.base(req) + "/_fake", hosts=self.hosts(req),
            display_suffix=f"=s{settings.preview_long_side}-rj",
        )
        resp = Response(body, 200, mimetype="text/html")
        resp.headers["Cache-Control"] = "no-cache, no-store, max-age=0, must-revalidate"
        if signed_in and settings.rotate_on_page_load:
            self.rotate(resp, psid, "page_load")
        return resp

    def _turn_for_page(self, turn: dict) -> dict:
        return {k: turn[k] for k in ("prompt", "text", "images", "rid", "rcid", "cid", "ui")}


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code="-", size="-") -> None:  # tests do not want one line per request
        pass


class FakeGemini:
    """A running fake of gemini.google.com and the Google hosts around it.

    ``FakeGemini(delay_seconds=0.5).start()`` binds a free port (``port=0``); ``url`` is the
    base URL. Extra keyword arguments are ``Settings`` fields (see ``state.Settings``).
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, delay_seconds: float = 3.0,
                 log_requests: bool = False, ssl_context=None, **settings) -> None:
        self._host = host
        self._port = port
        self._log_requests = log_requests
        self._ssl_context = ssl_context
        self._store = FakeState(Settings(delay_seconds=delay_seconds, **settings))
        self.app = GeminiApp(self._store)
        self._server = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> "FakeGemini":
        if self._server is not None:
            return self
        handler = WSGIRequestHandler if self._log_requests else _QuietHandler
        self._store.stopping.clear()
        self._server = make_server(self._host, self._port, self.app, threaded=True,
                                   request_handler=handler, ssl_context=self._ssl_context)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-gemini", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._store.stopping.set()  # ends open generation streams
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> "FakeGemini":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeGemini is not started")
        return self._server.server_port

    @property
    def url(self) -> str:
        host = self._host
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def app_url(self) -> str:
        return self.url + "/app"

    def host_url(self, key: str) -> str:
        """Base URL of an emulated host: accounts, consent, www, lh3, fife, push, resumable."""
        return f"{self.url}/{HOSTS[key]}"

    # --- inspection / control (same operations as the /_fake/ HTTP API) ----------

    def state(self) -> dict:
        return self._store.snapshot()

    def reset(self, *, keep_settings: bool = False) -> None:
        self._store.reset(settings=not keep_settings)
        self.app.cache.clear()

    def set_delay(self, seconds: float) -> None:
        with self._store.lock:
            self._store.settings.delay_seconds = float(seconds)

    def configure(self, **settings) -> None:
        with self._store.lock:
            self._store.settings.update(settings)

    def invalidate_psid(self, psid: str, mode: str = "redirect") -> None:
        self._store.invalidate(psid, mode)

    def restore_psid(self, psid: str) -> None:
        self._store.restore(psid)

    def queue_failure(self, mode: str, count: int = 1, arg=None) -> dict:
        if mode not in failures.CATALOG:
            raise ValueError(f"unknown failure mode {mode!r}; known: {sorted(failures.CATALOG)}")
        return self._store.queue_failure(mode, count, None if arg is None else str(arg))

    def clear_failures(self) -> None:
        self._store.clear_failures()

    def upload_bytes(self, ref: str) -> bytes:
        """The exact bytes received for an upload reference (``/contrib_service/ttl_1d/…``)."""
        with self._store.lock:
            return self._store.uploads[ref].data

    def wait_for(self, predicate, timeout: float = 10.0, interval: float = 0.05) -> dict:
        """Poll ``predicate(state_dict)`` until true; returns that state or raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            snap = self.state()
            if predicate(snap):
                return snap
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met within %.1fs" % timeout)
            time.sleep(interval)

    def wait_for_submissions(self, count: int, timeout: float = 10.0) -> dict:
        return self.wait_for(lambda s: s["submissions_count"] >= count, timeout)

    # --- cookies for clients ---------------------------------------------------------

    def playwright_cookies(self, psid: str = "g.a000fake-session", psidts: str | None = "sidts-initial",
                           extra: dict | None = None) -> list[dict]:
        """Cookies for ``BrowserContext.add_cookies`` that sign in to this fake."""
        values = {PSID: psid}
        if psidts:
            values[PSIDTS] = psidts
        values.update(extra or {})
        split = urlsplit(self.url)
        return [{"name": name, "value": value, "domain": split.hostname, "path": "/",
                 "secure": True, "httpOnly": True, "sameSite": "Lax"} for name, value in values.items()]

    def cookies(self, psid: str = "g.a000fake-session", psidts: str | None = "sidts-initial") -> dict:
        """Name → value, for ``requests.get(url, cookies=fake.cookies())`` (kept across redirects)."""
        values = {PSID: psid}
        if psidts:
            values[PSIDTS] = psidts
        return values

    def cookie_header(self, psid: str = "g.a000fake-session", psidts: str | None = "sidts-initial") -> dict:
        """``{"Cookie": …}`` for one-shot requests; clients drop this header on redirects."""
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies(psid, psidts).items())}
