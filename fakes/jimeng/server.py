"""FakeJimeng: run the fake upstream in a background thread (tests) or in the foreground.

    from fakes.jimeng.server import FakeJimeng
    with FakeJimeng(delay_seconds=0.5) as fake:      # port 0 = any free port
        requests.post(fake.url + "/mweb/v1/...", ...)
        fake.state()["submissions"]["total"]
"""

from __future__ import annotations

import threading

from werkzeug.serving import WSGIRequestHandler, make_server

from .app import JimengApp
from .config import FakeConfig
from .state import FakeState


class _QuietHandler(WSGIRequestHandler):
    verbose = False

    def log_request(self, code="-", size="-"):
        if self.verbose:
            super().log_request(code, size)


class FakeJimeng:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, delay_seconds: float = 3.0,
                 verbose: bool = False, **settings):
        """`settings` are FakeConfig fields (initial_credits, check_sign, image_format, ...)."""
        self.host, self.port = host, port
        self._state = FakeState(FakeConfig(delay_seconds=delay_seconds).update(**settings))
        self.app = JimengApp(self._state)
        self._verbose = verbose
        self._server = None
        self._thread = None

    # --- lifecycle -------------------------------------------------------------

    def _make_server(self):
        handler = type("Handler", (_QuietHandler,), {"verbose": self._verbose})
        self._server = make_server(self.host, self.port, self.app, threaded=True,
                                   request_handler=handler)
        self.port = self._server.server_port

    def start(self) -> "FakeJimeng":
        if self._server is None:
            self._make_server()
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            kwargs={"poll_interval": 0.1},
                                            name=f"fake-jimeng-{self.port}", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self):
        """Serve in the calling thread until stop() is called from elsewhere."""
        if self._server is None:
            self._make_server()
        self._server.serve_forever(poll_interval=0.2)

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> "FakeJimeng":
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    # --- in-process control (same effects as the /_fake/ endpoints) -------------

    @property
    def config(self) -> FakeConfig:
        return self._state.config

    def state(self) -> dict:
        return self._state.snapshot()

    def reset(self):
        self._state.reset()

    def configure(self, **settings) -> "FakeJimeng":
        with self._state.lock:
            self._state.config.update(**settings)
        return self

    def set_delay(self, seconds: float):
        self.configure(delay_seconds=max(0.0, float(seconds)))

    def set_credits(self, session: str, gift: int | None = None, purchase: int | None = None,
                    vip: int | None = None, daily_quota: int | None = ...,
                    claimed_today: bool | None = None):
        state = self._state
        ledger, now = state.session(session).ledger, state.now()
        with state.lock:
            ledger.set(now, gift, purchase, vip)
            if daily_quota is not ...:
                ledger.daily_quota = daily_quota
            if claimed_today is not None:
                ledger.set_claimed_today(now, claimed_today)
        return ledger.snapshot(now)

    def credits(self, session: str) -> dict:
        with self._state.lock:
            return self._state.session(session).ledger.balance(self._state.now())

    def invalidate_session(self, session: str, invalid: bool = True):
        with self._state.lock:
            self._state.session(session).invalid = invalid

    def bind_session(self, session: str, site: str | None):
        with self._state.lock:
            self._state.session(session).site = site

    def queue_failure(self, name: str, count: int = 1, endpoint: str | None = None,
                      session: str | None = None, arg: str | None = None) -> dict:
        return self._state.failures.add(name, count, endpoint, session, arg).as_dict()

    def clear_failures(self):
        self._state.failures.clear()

    def advance_clock(self, seconds: float):
        with self._state.lock:
            self._state.clock_offset += float(seconds)

    def submissions(self, session: str | None = None, prompt: str | None = None) -> int:
        """Jobs created upstream, optionally only those of a session and/or prompt."""
        with self._state.lock:
            return sum(1 for job in self._state.jobs.values()
                       if (session is None or job.session == session)
                       and (prompt is None or job.text == prompt))

    def jobs(self) -> list[dict]:
        return self.state()["jobs"]

    def uploads(self) -> list[dict]:
        return self.state()["uploads"]
