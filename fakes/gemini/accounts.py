"""Google account pages around the app: sign-in, RotateCookies, consent wall, IP-block page."""

from __future__ import annotations

import secrets
import time

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from . import page
from .web import CONSENT_COOKIE, PSID, SIGNED_IN_STATUSES, AppBase


class AccountRoutes(AppBase):
    def service_login(self, req: Request) -> Response:
        cont = self.safe_continue(req, req.args.get("continue"))
        action = f"{self.host(req, 'accounts')}/v3/signin/identifier"
        return Response(page.render_identifier(action, cont), 200, mimetype="text/html")

    def signin_identifier(self, req: Request) -> Response:
        cont = self.safe_continue(req, req.form.get("continue"))
        identifier = (req.form.get("identifier") or "").strip()
        if not identifier:
            action = f"{self.host(req, 'accounts')}/v3/signin/identifier"
            return Response(page.render_identifier(action, cont, "Enter an email or phone number"), 200,
                            mimetype="text/html")
        action = f"{self.host(req, 'accounts')}/v3/signin/challenge/pwd"
        return Response(page.render_password(action, cont, identifier), 200, mimetype="text/html")

    def signin_password(self, req: Request) -> Response:
        cont = self.safe_continue(req, req.form.get("continue"))
        identifier = (req.form.get("identifier") or "").strip()
        password = req.form.get("Passwd") or ""
        if not password or password.startswith("wrong"):
            action = f"{self.host(req, 'accounts')}/v3/signin/challenge/pwd"
            return Response(page.render_password(
                action, cont, identifier,
                "Wrong password. Try again or click Forgot password to reset it."), 200, mimetype="text/html")
        psid = "g.a000" + secrets.token_urlsafe(54)
        with self.state.lock:
            self.state.logins.append({"identifier": identifier, "psid": psid, "at": time.time()})
        resp = redirect(cont, 302)
        self.set_cookie(resp, PSID, psid)
        self.state.issue_cookie(psid, PSID, psid, "login")
        self.rotate(resp, psid, "login")
        return resp

    def sign_out_options(self, req: Request) -> Response:
        return Response(page._simple_page("Google Account", "<h1>Fake User</h1><p>fake.user@example.com</p>"),
                        200, mimetype="text/html")

    def rotate_cookies(self, req: Request) -> Response:
        psid, status = self.session(req)
        settings = self.settings
        if status not in SIGNED_IN_STATUSES or settings.rotation_mode == "unauthorized":
            self.state.count(psid, "rotation_401")
            return Response("Unauthorized", 401, mimetype="text/plain")
        with self.state.lock:
            last = self.state.last_rotation.get(psid or "")
        too_soon = (settings.rotation_min_interval > 0 and last is not None
                    and time.monotonic() - last < settings.rotation_min_interval)
        if settings.rotation_mode == "too_many" or too_soon:
            self.state.count(psid, "rotation_429")
            return Response("Too Many Requests", 429, mimetype="text/plain")
        resp = Response(')]}\'\n\n[["identity.hfcr",600],["di",57]]', 200, mimetype="application/json")
        if settings.rotation_mode != "no_cookie":
            self.rotate(resp, psid, "RotateCookies")
        else:
            self.state.count(psid, "rotation_without_cookie")
        return resp

    def consent_page(self, req: Request) -> Response:
        cont = self.safe_continue(req, req.args.get("continue"))
        return Response(page.render_consent(f"{self.host(req, 'consent')}/save", cont), 200,
                        mimetype="text/html")

    def consent_save(self, req: Request) -> Response:
        cont = self.safe_continue(req, req.form.get("continue"))
        resp = redirect(cont, 302)
        choice = "rejected" if req.form.get("set_eom") == "true" else "accepted"
        self.set_cookie(resp, CONSENT_COOKIE, f"CAISfake{choice}{secrets.token_hex(6)}", httponly=False)
        with self.state.lock:
            self.state.page_events.append({"type": "consent", "choice": choice, "at": time.time()})
        return resp

    def google_home(self, req: Request) -> Response:
        resp = Response(page.render_google_home(), 200, mimetype="text/html")
        resp.set_cookie("NID", "fake" + secrets.token_urlsafe(32), max_age=180 * 86400, path="/",
                        httponly=True)
        return resp

    def sorry_page(self, req: Request) -> Response:
        cont = req.args.get("continue") or ""
        return Response(page.render_sorry(cont), 429, mimetype="text/html")
