"""Upstream failures → the runner's DriverError taxonomy (jimeng-protocol.md §8, §6.2, §11.3).

The class decides the account's fate (expire, cool down, park until the daily credit claim, or
nothing) and whether another account is worth trying. Messages are for operators and clients:
they name the upstream code and what to do, and never carry a cookie, token or signed URL.
"""

from __future__ import annotations

import email.utils
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.redaction import redact
from generation.drivers.base import (
    ContentPolicy,
    CredentialsRejected,
    DriverError,
    GenerationBlocked,
    InvalidInput,
    QuotaExhausted,
    RateLimited,
    UpstreamFailure,
)

from . import config

# How long a message quoted from the upstream may be.
_QUOTE_CHARS = 200


def quote(text) -> str:
    """Upstream text made safe to embed in a message."""
    text = redact(str(text or "").strip()) or ""
    return text[:_QUOTE_CHARS]


def _has(text: str, fragments) -> bool:
    lowered = (text or "").lower()
    return any(f.lower() in lowered for f in fragments)


# --- the daily credit claim ---------------------------------------------------------------------


def _claim_zone():
    name = config.get("CREDIT_CLAIM_TIME_ZONE")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # A host without the tz database still knows Beijing time, the site's own clock.
        return timezone(timedelta(hours=8))


def next_claim_time(now: datetime | None = None) -> datetime:
    """When an account out of credits can next claim its daily free credits (aware, UTC)."""
    now = now or datetime.now(timezone.utc)
    local = now.astimezone(_claim_zone())
    hour = int(config.get("CREDIT_CLAIM_HOUR")) % 24
    at = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if at <= local:
        at += timedelta(days=1)
    margin = timedelta(seconds=float(config.get("CREDIT_CLAIM_MARGIN_SECONDS")))
    return (at + margin).astimezone(timezone.utc)


# --- errors built from upstream answers ---------------------------------------------------------


def retry_after(headers) -> float | None:
    """Seconds from a Retry-After header (delta or HTTP date), if the upstream sent one."""
    raw = (headers or {}).get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - time.time())


def insufficient_credits(detail: str, *, log=None) -> QuotaExhausted:
    """The account cannot pay for anything: parked (exhausted) until the next daily claim."""
    until = next_claim_time()
    return QuotaExhausted(
        f"The account is out of Jimeng credits ({detail}); it is parked until the daily claim at "
        f"{until.isoformat(timespec='minutes')}.",
        until=until, upstream_log=log,
    )


class CreditsShort(QuotaExhausted):
    """Too few credits for this job, enough for cheaper ones (a video on an account that can still
    pay for images): the job moves on to another account (failover, as for any QuotaExhausted) but
    this account is not parked, since its account action is none (outcomes.apply_failure only
    records the failure). The code stays quota_exhausted, so a job no account could pay for ends
    with the quota error."""

    account_action = None


def credits_short(*, balance: int | None, cost: int, what: str, detail: str, log=None) -> CreditsShort:
    """A job refused for credits on an account that can still pay for cheaper ones. `cost` is the
    driver's estimate (CREDIT_COST_*): the upstream never quotes the price."""
    if balance is None:
        said = f"The Jimeng account's balance is unknown and too low for this {what} (about {cost} credits"
    elif balance < cost:
        said = f"The Jimeng account holds {balance} credits, fewer than this {what} costs (about {cost} credits"
    else:
        said = (f"The Jimeng account holds {balance} credits, yet Jimeng found too few for this {what} "
                f"(estimated at {cost} credits; its real price may be higher")
    return CreditsShort(
        f"{said}; {detail}). The account stays in service for cheaper jobs; this job needs an account "
        "with more credits.",
        upstream_log=log,
    )


def from_ret(ret: str, errmsg: str, data=None, *, path: str = "", region: str = "", log=None) -> DriverError:
    """The error for an envelope whose `ret` is not "0"; the code stays on it as `upstream_ret`."""
    err = _from_ret(str(ret), errmsg, data, path=path, region=region, log=log)
    err.upstream_ret = str(ret)
    return err


def _from_ret(ret: str, errmsg: str, data, *, path: str, region: str, log) -> DriverError:
    said = quote(errmsg)
    where = f" on {path}" if path else ""
    fail_code = str((data or {}).get("fail_code") or "") if isinstance(data, dict) else ""
    detail = f"ret {ret} {said!r}{where}"

    if ret in config.get("RET_LOGIN") or (_has(errmsg, config.get("MSG_LOGIN")) and ret not in
                                          config.get("RET_CREDITS")):
        return CredentialsRejected(f"Jimeng rejected the session ({detail}); sign in again and "
                                   "replace the account's sessionid.", upstream_log=log)
    if ret in config.get("RET_CREDITS") or fail_code in config.get("FAIL_CREDITS") \
            or _has(errmsg, config.get("MSG_CREDITS")):
        return insufficient_credits(detail, log=log)
    if ret in config.get("RET_VERSION_GATE"):
        return GenerationBlocked(
            f"Jimeng refused the client version ({detail}): the Appvr / da_version / web_version the "
            "driver sends are outdated. Raise APPVR, DA_VERSION and WEB_VERSION through "
            "JIMENG_OVERRIDES.", upstream_log=log)
    if ret in config.get("RET_REGION_GATE"):
        return GenerationBlocked(
            f"Jimeng refused the network region ({detail}): the account's egress IP is not in its "
            f"site's region ({region or 'unknown'}). Give the account a proxy in that region.",
            upstream_log=log)
    if ret in config.get("RET_RATE_LIMIT") or _has(errmsg, config.get("MSG_RATE_LIMIT")):
        return RateLimited(f"Jimeng is throttling or challenging this account ({detail}).",
                           upstream_log=log)
    if ret in config.get("RET_CONTENT") or fail_code in config.get("FAIL_CONTENT") \
            or _has(errmsg, config.get("MSG_CONTENT")):
        return ContentPolicy(f"Jimeng refused the prompt or image under its content policy ({detail}).",
                             upstream_log=log)
    if ret in config.get("RET_BAD_PARAMS"):
        return InvalidInput(f"Jimeng rejected the request's parameters ({detail}).", upstream_log=log)
    if _has(errmsg, config.get("MSG_BENEFIT")):
        return GenerationBlocked(
            f"Jimeng could not charge the request ({detail}): the benefit type the driver sends does "
            "not match the model. Check the model table in JIMENG_OVERRIDES.", upstream_log=log)
    return UpstreamFailure(f"Jimeng answered with an error ({detail}).", upstream_log=log)


def from_fail_code(fail_code: str, *, history_id: str = "", log=None, what: str = "image") -> DriverError:
    """The error for a job that ended with status 30 and no usable image (or video: `what`)."""
    code = str(fail_code or "")
    detail = f"{what} job {history_id} failed with fail_code {code or '(none)'}"
    if code in config.get("FAIL_CONTENT"):
        return ContentPolicy(f"Jimeng refused the prompt or image under its content policy ({detail}).",
                             upstream_log=log)
    if code in config.get("FAIL_CREDITS"):
        return insufficient_credits(detail, log=log)
    return UpstreamFailure(f"Jimeng could not generate the {what} ({detail}).", upstream_log=log)


def from_http(status: int, headers=None, *, path: str = "", log=None) -> DriverError:
    """The error for an HTTP status that carries no usable envelope."""
    where = f" on {path}" if path else ""
    if status == 429:
        return RateLimited(f"Jimeng answered HTTP 429{where}.", retry_after=retry_after(headers),
                           upstream_log=log)
    if status in (401, 403) and path.startswith(("/mweb/", "/passport/", "/commerce/")):
        return CredentialsRejected(f"Jimeng answered HTTP {status}{where}; the session looks invalid.",
                                   upstream_log=log)
    if status == 503:
        return RateLimited(f"Jimeng is unavailable (HTTP 503){where}.", retry_after=retry_after(headers),
                           upstream_log=log)
    return UpstreamFailure(f"Jimeng answered HTTP {status}{where}.", upstream_log=log)
