"""Turn a selected failure into what the client sees (an exception the app renders)."""

from __future__ import annotations

import time

from . import protocol as p
from .envelope import DropConnection, HttpFailure, UpstreamError
from .failures import CLAIM, HTTP, JOB, RET, UPLOAD, Failure

DEFERRED_KINDS = (JOB, UPLOAD, CLAIM)
DEFERRED_HTTP = ("lost_response",)


def is_deferred(failure: Failure) -> bool:
    """Failures the endpoint handler acts on itself, later in the request."""
    return failure.kind in DEFERRED_KINDS or failure.name in DEFERRED_HTTP


def generate_error_data(fail_code: str = "", starling_key: str = "", message: str = "") -> dict:
    return {"aigc_data": None, "fail_code": fail_code, "fail_starling_key": starling_key,
            "fail_starling_message": message}


def insufficient_credits(ret: str = "1006", reason: str = "") -> UpstreamError:
    message = p.RET_MESSAGES["1006"]
    return UpstreamError(ret, message, generate_error_data(
        "1006", p.INSUFFICIENT_CREDITS_STARLING_KEY, message), reason=reason)


def login_error(family: str, site: str | None, reason: str) -> UpstreamError:
    if family == "commerce" and p.is_intl(site):
        return UpstreamError("34010105", "login error", None, reason=reason)
    return UpstreamError("1015", "check login error", {}, reason=reason)


def apply(failure: Failure, arg: str | None, family: str, site: str | None,
          slow_default: float, endpoint: str = ""):
    """Raise for immediate failures; return normally for `slow` (after sleeping)."""
    why = f"injected failure {failure.name}" + (f":{arg}" if arg else "")
    if failure.kind == HTTP:
        if failure.name == "slow":
            try:
                time.sleep(float(arg) if arg else slow_default)
            except ValueError:
                time.sleep(slow_default)
            return
        if failure.name == "reset":
            raise DropConnection(why)
        raise HttpFailure(failure.http_status or 500, why)
    if failure.kind != RET:
        return
    if failure.name == "login":
        raise login_error(family, site, why)
    if failure.name == "no_credits":
        raise insufficient_credits(reason=why)
    if failure.name in ("benefit", "version") and endpoint == "generate":
        raise UpstreamError(failure.ret, failure.errmsg, generate_error_data(), reason=why)
    if failure.name == "ret":
        code = (arg or "1000").strip()
        raise UpstreamError(code, p.RET_MESSAGES.get(code, "error"), None, reason=why)
    raise UpstreamError(failure.ret, failure.errmsg, None, reason=why)
