"""The /_fake/ control and inspection API (no real upstream has this prefix)."""

from __future__ import annotations

import json

from werkzeug.wrappers import Request, Response

from . import envelope
from .failures import ALL_ENDPOINTS, CATALOGUE
from .protocol import SITES

PREFIX = "/_fake"


class ControlError(Exception):
    pass


def _body(request: Request) -> dict:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return dict(request.args)
    try:
        body = json.loads(raw)
    except ValueError:
        raise ControlError("body must be JSON")
    if not isinstance(body, dict):
        raise ControlError("body must be a JSON object")
    return body


def _session_of(body: dict) -> str:
    session = body.get("session") or body.get("sessionid")
    if not session:
        raise ControlError("'session' is required")
    return str(session)


def catalogue() -> list[dict]:
    return [{"name": f.name, "kind": f.kind, "endpoints": list(f.endpoints), "effect": f.effect,
             "ret": f.ret, "errmsg": f.errmsg, "http_status": f.http_status,
             "fail_code": f.fail_code} for f in CATALOGUE.values()]


def reset(state, body):
    state.reset()
    return {"ok": True}


def credits(state, body):
    session = state.session(_session_of(body))
    now = state.now()
    with state.lock:
        ledger = session.ledger
        ledger.set(now, body.get("gift"), body.get("purchase"), body.get("vip"))
        if "daily_quota" in body:
            quota = body["daily_quota"]
            ledger.daily_quota = None if quota is None else int(quota)
        if "claimed_today" in body:
            ledger.set_claimed_today(now, bool(body["claimed_today"]))
        return {"ok": True, "credits": ledger.snapshot(now)}


def delay(state, body):
    try:
        seconds = float(body.get("seconds", body.get("delay_seconds")))
    except (TypeError, ValueError):
        raise ControlError("'seconds' must be a number")
    with state.lock:
        state.config.delay_seconds = max(0.0, seconds)
    return {"ok": True, "delay_seconds": state.config.delay_seconds}


def config(state, body):
    with state.lock:
        try:
            state.config.update(**body)
        except ValueError as exc:
            raise ControlError(str(exc))
        return {"ok": True, "config": state.config.as_dict()}


def sessions(state, body):
    session = state.session(_session_of(body))
    with state.lock:
        if "invalid" in body:
            session.invalid = bool(body["invalid"])
        if "site" in body or "region" in body:
            site = body.get("site", body.get("region"))
            site = str(site).lower() if site else None
            if site is not None and site not in SITES:
                raise ControlError(f"site must be one of {sorted(SITES)} or null")
            session.site = site
        return {"ok": True, "session": session.public(state.now())}


def invalidate(state, body):
    return sessions(state, {**body, "invalid": True})


def failures(state, body):
    try:
        entry = state.failures.add(str(body.get("name", "")), int(body.get("count", 1)),
                                   body.get("endpoint"), body.get("session"), body.get("arg"))
    except (TypeError, ValueError) as exc:
        raise ControlError(str(exc))
    return {"ok": True, "queued": entry.as_dict(), "failures": state.failures.snapshot()}


def clear_failures(state, body):
    state.failures.clear()
    return {"ok": True}


def clock(state, body):
    try:
        seconds = float(body.get("advance_seconds", 0))
    except (TypeError, ValueError):
        raise ControlError("'advance_seconds' must be a number")
    with state.lock:
        state.clock_offset += seconds
        return {"ok": True, "offset_seconds": state.clock_offset, "now": state.now()}


POST_ROUTES = {
    "/reset": reset, "/credits": credits, "/delay": delay, "/config": config,
    "/sessions": sessions, "/sessions/invalid": invalidate, "/invalidate": invalidate,
    "/failures": failures, "/failures/clear": clear_failures, "/clock": clock,
}


def handle(request: Request, state) -> Response:
    path = request.path[len(PREFIX):].rstrip("/") or "/"
    try:
        if request.method == "GET":
            if path == "/state":
                return envelope.control(state.snapshot())
            if path in ("/failures", "/catalogue", "/catalog"):
                return envelope.control({"catalogue": catalogue(),
                                         "queued": state.failures.snapshot(),
                                         "endpoints": list(ALL_ENDPOINTS)})
            if path in ("/", "/health"):
                return envelope.control({"ok": True, "control": sorted(POST_ROUTES),
                                         "docs": "docs/fakes/jimeng.md"})
        elif request.method == "DELETE" and path == "/failures":
            return envelope.control(clear_failures(state, {}))
        elif request.method == "POST" and path in POST_ROUTES:
            return envelope.control(POST_ROUTES[path](state, _body(request)))
    except ControlError as exc:
        return envelope.control({"ok": False, "error": str(exc)}, status=400)
    return envelope.control({"ok": False, "error": f"no control route {request.method} {path}"},
                            status=404)
