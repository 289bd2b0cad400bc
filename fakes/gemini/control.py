"""The control / inspection API under ``/_fake/`` (a prefix the real site does not use)."""

from __future__ import annotations

import time
from dataclasses import asdict

from werkzeug.wrappers import Request, Response

from . import failures
from .web import PSID, AppBase, json_response, request_body


class ControlRoutes(AppBase):
    def ctl_index(self, req: Request) -> Response:
        base = self.base(req)
        return json_response({
            "app": f"{base}/app",
            "hosts": self.hosts(req),
            "control": {
                "GET /_fake/state": "everything recorded (submissions, uploads, images, cookies, counts)",
                "POST /_fake/reset": "forget everything; {\"keep_settings\": true} keeps settings",
                "POST /_fake/delay": "{\"seconds\": 1.5}",
                "GET|POST /_fake/settings": "read / change settings (JSON object of fields)",
                "POST /_fake/psid/invalidate": "{\"psid\": \"…\", \"mode\": \"redirect|link|consent|sorry\"}",
                "POST /_fake/psid/restore": "{\"psid\": \"…\"}",
                "GET /_fake/failures": "failure catalog and queue",
                "POST /_fake/failures": "{\"mode\": \"busy\", \"count\": 2, \"arg\": null}",
                "DELETE /_fake/failures": "clear the queue (also POST /_fake/failures/clear)",
            },
            "failures": failures.catalog_rows(),
        })

    def ctl_state(self, req: Request) -> Response:
        return json_response(self.state.snapshot())

    def ctl_reset(self, req: Request) -> Response:
        keep = bool(request_body(req).get("keep_settings"))
        self.state.reset(settings=not keep)
        self.cache.clear()
        return json_response({"ok": True})

    def ctl_delay(self, req: Request) -> Response:
        body = request_body(req)
        try:
            seconds = float(body.get("seconds", body.get("delay_seconds")))
        except (TypeError, ValueError):
            return json_response({"error": "seconds must be a number"}, 400)
        if seconds < 0:
            return json_response({"error": "seconds must be >= 0"}, 400)
        with self.state.lock:
            self.state.settings.delay_seconds = seconds
        return json_response({"delay_seconds": seconds})

    def ctl_settings(self, req: Request) -> Response:
        if req.method == "POST":
            try:
                with self.state.lock:
                    self.state.settings.update(request_body(req))
            except (KeyError, ValueError, TypeError) as exc:
                return json_response({"error": str(exc)}, 400)
        with self.state.lock:
            return json_response(asdict(self.state.settings))

    def ctl_invalidate(self, req: Request) -> Response:
        body = request_body(req)
        psid = body.get("psid")
        if not psid:
            return json_response({"error": "psid is required"}, 400)
        try:
            self.state.invalidate(psid, body.get("mode") or "redirect")
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response({"ok": True, "psid": psid, "mode": body.get("mode") or "redirect"})

    def ctl_restore(self, req: Request) -> Response:
        psid = request_body(req).get("psid")
        if not psid:
            return json_response({"error": "psid is required"}, 400)
        self.state.restore(psid)
        return json_response({"ok": True, "psid": psid})

    def ctl_failures(self, req: Request) -> Response:
        if req.method == "DELETE":
            self.state.clear_failures()
        elif req.method == "POST":
            body = request_body(req)
            mode = body.get("mode")
            if mode not in failures.CATALOG:
                return json_response({"error": f"unknown mode {mode!r}", "modes": sorted(failures.CATALOG)}, 400)
            try:
                count = int(body.get("count") or 1)
            except (TypeError, ValueError):
                return json_response({"error": "count must be an integer"}, 400)
            arg = body.get("arg")
            entry = self.state.queue_failure(mode, count, None if arg is None else str(arg))
            return json_response({"queued": entry})
        with self.state.lock:
            queue = [dict(e) for e in self.state.failure_queue]
        return json_response({"catalog": failures.catalog_rows(), "queue": queue})

    def ctl_failures_clear(self, req: Request) -> Response:
        self.state.clear_failures()
        return json_response({"ok": True})

    def ui_event(self, req: Request) -> Response:
        body = request_body(req)
        psid = req.cookies.get(PSID) or None
        event = {"type": str(body.get("type")), "detail": body, "psid": psid, "at": time.time()}
        with self.state.lock:
            self.state.page_events.append(event)
            if body.get("type") == "overlay_dismissed" and body.get("overlay") == "upload_agree" \
                    and body.get("choice") == "agree" and psid:
                self.state.upload_agreed.add(psid)
        self.state.count(psid, event["type"])
        return Response(status=204)
