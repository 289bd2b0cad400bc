"""What a failed or successful attempt means for the account, shared by image and video runners,
and what a failed job means for its client.

The client's side follows OpenAI's conventions, which SDK users already handle: a job that ended
because the pool's accounts were rate-limited, busy or cooling down is a 429
`rate_limit_exceeded` with `retry-after-ms` / `retry-after` from the soonest account recovery;
one that ended because they were out of credits is a 429 `insufficient_quota`; expired
credentials on every account tried is a 503 asking the operator to re-import cookies; an
unreachable upstream stays a 502 `upstream_unavailable`.
"""

from __future__ import annotations

import logging
import re

from django.utils import timezone

from accounts import standing
from accounts.models import Account, AccountState, Provider
from generation.drivers.base import CredentialsRejected, DriverError, QuotaExhausted, RateLimited
from gateway.redaction import redact_obj

logger = logging.getLogger(__name__)

# The account-level failures: another account may succeed where this one failed.
ACCOUNT_ACTIONS = ("cooldown", "exhaust", "expire")

# What a client reads of a job that failed for account-level reasons.
RATE_LIMITED = "rate_limit_exceeded"
NO_QUOTA = "insufficient_quota"
EXPIRED = "account_expired"
# Rows stored before the codes above were the client's: read as their successors.
LEGACY_CODES = {"upstream_rate_limited": RATE_LIMITED, "quota_exhausted": NO_QUOTA}

# Hosts, ports, URLs and exception reprs have no place in what a client or /v1/health reads;
# the full detail is in the job's upstream log and the worker's log.
_URL = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s'\"<>()]+")
_REPR = re.compile(r"\b\w*(?:Connection|ConnectionPool|Error|Exception)\(")
_HOST_PORT = re.compile(r"(?i)\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b|\bhost='[^']*'|\bport=\d+|"
                        r"\b(?:localhost|[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}):\d{2,5}\b")


def _without_reprs(text: str) -> str:
    """`text` without `SomeError(...)` / `HTTPConnectionPool(...)`, parentheses balanced."""
    while (match := _REPR.search(text)) is not None:
        depth, end = 0, len(text)
        for index in range(match.end() - 1, len(text)):
            depth += {"(": 1, ")": -1}.get(text[index], 0)
            if depth == 0:
                end = index + 1
                break
        text = text[:match.start()] + text[end:]
    return text


def plain(message: str) -> str:
    """`message` without URLs, host:port pairs or exception reprs (a safety net: drivers already
    word their messages plainly)."""
    text = _without_reprs(_URL.sub("<url>", message or ""))
    text = _HOST_PORT.sub("<host>", text)
    text = re.sub(r"\(\s*\)", "", re.sub(r"\s{2,}", " ", text))
    return re.sub(r"\s+([.,;:)])", r"\1", text).strip()


def apply_failure(account: Account, err: DriverError, job: str = "") -> None:
    """Expire, cool down or exhaust the account as the error says, and keep rotated cookies.
    `job` (the client's id of it) goes into the log line, to find the job from the log."""
    message = f"{err.code}: {plain(err.message)}"
    if err.account_action == "expire":
        standing.expire(account.pk, err.code, message)
    elif err.account_action == "cooldown":
        standing.cool_down(account.pk, err.code, message, retry_after=err.retry_after)
    elif err.account_action == "exhaust":
        standing.exhaust(account.pk, err.code, message, until=err.until)
    else:
        standing.record_failure(account.pk, message)
    if err.credentials is not None:
        save_credentials(account, err.credentials)
    logger.info("account %s failed an attempt%s: %s", account.name, f" of {job}" if job else "", message)


def log_entry(account: Account, err: DriverError, attempt: int) -> dict:
    return {"attempt": attempt, "account": account.name, "code": err.code, "exchanges": redact_obj(err.upstream_log)}


def save_credentials(account: Account, creds) -> None:
    """Write back refreshed credentials (a rotated cookie), encrypted like the originals."""
    account.credentials = creds.to_json()
    account.credentials_summary = creds.summary()
    account.credentials_updated_at = timezone.now()
    Account.objects.filter(pk=account.pk).update(
        credentials=account.credentials, credentials_summary=account.credentials_summary,
        credentials_updated_at=account.credentials_updated_at,
    )


# --- the job's end, as the worker stores it -----------------------------------------------------

def provider_label(provider: str) -> str:
    try:
        return Provider(provider).label
    except ValueError:
        return provider


def _rate_limited(provider: str) -> DriverError:
    return DriverError(f"Every {provider_label(provider)} account that could take this job is rate-limited or "
                       "busy upstream and cooling down; retry later (the retry-after header says when).",
                       code=RATE_LIMITED, status=429)


def _no_quota(provider: str) -> DriverError:
    return DriverError(f"Every {provider_label(provider)} account that could take this job is out of credits, "
                       "has too few for it, or is over its quota.", code=NO_QUOTA, status=429)


def _expired(provider: str) -> DriverError:
    return DriverError(f"{provider_label(provider)} rejected the credentials of every account this job tried "
                       "(signed out or expired). An operator must re-import those accounts' cookies "
                       "(manage.py import_cookies, or the admin).", code=EXPIRED, status=503)


def _account_reason(err: DriverError) -> str | None:
    """"cooldown", "exhaust" or "expire" for an account-level failure (by its class or its code:
    a job too costly for one account's credits parks nothing yet is a quota failure), else None."""
    if isinstance(err, RateLimited) or err.code == "upstream_rate_limited":
        return "cooldown"
    if isinstance(err, QuotaExhausted) or err.code == "quota_exhausted":
        return "exhaust"
    if isinstance(err, CredentialsRejected) or err.code == "account_expired":
        return "expire"
    return err.account_action if err.account_action in ACCOUNT_ACTIONS else None


def job_failure(provider: str, attempts: list[DriverError]) -> DriverError:
    """The error a failed job keeps for its client: the last attempt's (what ended it) in the
    client's terms.

    When an account-level failure ended it, the attempts' failures together decide: a
    rate-limited account comes back soonest, so any rate limit makes it a 429 to retry; else
    credits (429 `insufficient_quota`); else every account was signed out (503)."""
    last = attempts[-1]
    if _account_reason(last) is None:
        return DriverError(plain(last.message), code=last.code, status=last.status, param=last.param)
    reasons = {_account_reason(err) for err in attempts}
    if "cooldown" in reasons:
        return _rate_limited(provider)
    if "exhaust" in reasons:
        return _no_quota(provider)
    return _expired(provider)


def no_account_failure(provider: str, model: str, regions=None) -> DriverError:
    """The error of a job that found no account to try (none left, or none back before its
    deadline): a 429 when the pool is cooling down or out of credits, else a 503."""
    states = recovering_states(provider, regions)
    if AccountState.COOLING in states:
        return _rate_limited(provider)
    if AccountState.EXHAUSTED in states:
        return _no_quota(provider)
    return DriverError(f"No usable {provider_label(provider)} account can serve model {model!r} right now. "
                       "Add or re-import an account.", code="no_available_account", status=503)


def recovering_states(provider: str, regions=None) -> set[str]:
    """The states (cooling, exhausted) of the provider's accounts that are out for a while yet."""
    accounts = Account.objects.filter(provider=provider, state__in=(AccountState.COOLING, AccountState.EXHAUSTED),
                                      state_until__gt=timezone.now())
    if regions:
        accounts = accounts.filter(region__in=regions)
    return set(accounts.values_list("state", flat=True).distinct())


# --- the job's end, as the client reads it ------------------------------------------------------

def client_code(code: str | None) -> str:
    return LEGACY_CODES.get(code or "", code or "") or "upstream_error"


def needs_recovery_time(code: str | None) -> bool:
    """Whether the client's error for this stored code reads the pool's soonest recovery."""
    return client_code(code) in (RATE_LIMITED, NO_QUOTA)


def recovery_seconds(provider: str, regions=None) -> float | None:
    """Seconds until the first cooling or exhausted account of this pool is back (at least 1),
    or None when none is out for a known time. Reads the database."""
    from accounts import leasing

    when = leasing.soonest_recovery(provider, regions=regions)
    if when is None:
        return None
    return max(1.0, (when - timezone.now()).total_seconds())


def model_recovery_seconds(model: str) -> float | None:
    """`recovery_seconds` of the pool serving `model` (None for a model no longer configured)."""
    from generation import catalog

    spec = catalog.resolve(model)
    return None if spec is None else recovery_seconds(spec.provider, spec.regions)


def client_error(code: str | None, status: int | None, message: str | None, *, param: str | None = None,
                 model: str = "", lookup: bool = True):
    """The ApiError for a failed job's stored error. `lookup` False reads no database (an event
    loop's caller, or a stream whose headers are sent): the retry hint is then 1 s."""
    from api.errors import ApiError

    code = client_code(code)
    message = message or "The generation failed."
    if code in (RATE_LIMITED, NO_QUOTA):
        wait = model_recovery_seconds(model) if lookup and model else None
        if code == RATE_LIMITED:
            return ApiError.rate_limited(message, wait if wait is not None else 1.0)
        if wait is not None:
            error = ApiError.rate_limited(message, wait, code=NO_QUOTA)  # x-should-retry: false past 2 min
        else:
            error = ApiError(429, message, code=NO_QUOTA, headers={"x-should-retry": "false"})
        error.type = "insufficient_quota"  # as OpenAI's own
        return error
    return ApiError(status or 502, message, code=code, param=param or None)


def snapshot_error(snap, *, lookup: bool = True):
    """`client_error` for a watcher's snapshot of a failed job (an image job or a video task)."""
    return client_error(snap.error_code, snap.error_status, snap.error_message, param=snap.error_param or None,
                        model=snap.model, lookup=lookup)
