"""Plumbing shared by the fake's route groups: host map, cookie names, session lookup.

Each route group (accounts, generation, image host, control) is a mixin on top of
``AppBase``; ``server.GeminiApp`` combines them and owns the routing table.
"""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import quote

from werkzeug.wrappers import Request, Response

from .state import FakeState, Settings, new_psidcc, new_psidts

PSID = "__Secure-1PSID"
PSIDTS = "__Secure-1PSIDTS"
PSIDCC = "__Secure-1PSIDCC"
CONSENT_COOKIE = "SOCS"

HOSTS = {
    "accounts": "accounts.google.com",
    "consent": "consent.google.com",
    "www": "www.google.com",
    "lh3": "lh3.googleusercontent.com",
    "fife": "work.fife.usercontent.google.com",
    "push": "content-push.googleapis.com",
    "resumable": "push.clients6.google.com",
}

BUILD_LABEL = "boq_assistant-bard-web-server_20260401.07_p0"
DEFAULT_PUSH_ID = "feeds/mcudyrk2a4khkz"

SIGNED_IN_STATUSES = ("ok", "region", "notoken", "consent")


def json_response(data, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, indent=1), status, mimetype="application/json")


def request_body(req: Request) -> dict:
    data = req.get_json(silent=True)
    if isinstance(data, dict):
        return data
    merged = dict(req.args.items())
    merged.update(req.form.items())
    return merged


class AppBase:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    @property
    def settings(self) -> Settings:
        return self.state.settings

    @staticmethod
    def base(req: Request) -> str:
        return req.host_url.rstrip("/")

    def host(self, req: Request, key: str) -> str:
        return f"{self.base(req)}/{HOSTS[key]}"

    def hosts(self, req: Request) -> dict:
        return {key: self.host(req, key) for key in HOSTS}

    def session(self, req: Request) -> tuple[str | None, str]:
        psid = req.cookies.get(PSID) or None
        status = self.state.psid_status(psid)
        if status in SIGNED_IN_STATUSES and self.state.psidts_expired(req.cookies.get(PSIDTS)):
            status = "redirect"
        return psid, status

    def sign_in_url(self, req: Request, continue_url: str) -> str:
        return f"{self.host(req, 'accounts')}/ServiceLogin?continue={quote(continue_url, safe='')}"

    def sorry_url(self, req: Request, continue_url: str) -> str:
        return (f"{self.host(req, 'www')}/sorry/index?continue={quote(continue_url, safe='')}"
                f"&q={secrets.token_urlsafe(24)}")

    def safe_continue(self, req: Request, value: str | None) -> str:
        base = self.base(req)
        if value and (value.startswith(base + "/") or (value.startswith("/") and not value.startswith("//"))):
            return value if value.startswith(base) else base + value
        return base + "/app"

    def set_cookie(self, resp: Response, name: str, value: str, *, httponly: bool = True,
                   max_age: int = 400 * 86400) -> None:
        secure = self.settings.secure_cookies
        resp.set_cookie(name, value, max_age=max_age, path="/", secure=secure, httponly=httponly,
                        samesite="None" if secure else "Lax")

    def rotate(self, resp: Response, psid: str | None, via: str) -> str:
        value = new_psidts()
        companion = new_psidcc()
        self.set_cookie(resp, PSIDTS, value)
        self.set_cookie(resp, PSIDCC, companion)
        self.state.issue_cookie(psid, PSIDTS, value, via)
        self.state.issue_cookie(psid, PSIDCC, companion, via)
        with self.state.lock:
            self.state.last_rotation[psid or ""] = time.monotonic()
        self.state.count(psid, "rotations")
        return value
