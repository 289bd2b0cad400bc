"""Credits of one account (jimeng-protocol.md §4.8), and the daily claim over the whole pool.

`balance` / `claim` work on a job's client; `get_balance` / `claim_daily` are the same for bare
credentials (no ORM). `claim_all` is the daily schedule's entry point and the only ORM user here.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from generation.drivers.base import (CredentialsRejected, CredentialsUnreadable, DeadlineExceeded, DriverError,
                                     QuotaExhausted, account_secrets)

from . import config
from .client import JimengClient
from .errors import credits_short, insufficient_credits

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _int(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class Balance:
    gift: int = 0
    purchase: int = 0
    vip: int = 0

    @property
    def total(self) -> int:
        return self.gift + self.purchase + self.vip

    def as_dict(self) -> dict:
        return {"gift": self.gift, "purchase": self.purchase, "vip": self.vip, "total": self.total}


@dataclass(frozen=True)
class Claim:
    received: int
    total: int | None = None
    first: bool | None = None
    refused: str = ""         # why nothing was granted, when the upstream said so

    def as_dict(self) -> dict:
        return {"received": self.received, "total": self.total, "first": self.first, "refused": self.refused}


def balance(client: JimengClient) -> Balance:
    """The account's credits. The call takes no query parameters at all (§4.8)."""
    site = client.site
    referer = site.web + config.get("REFERER_CREDIT")["intl" if site.international else "cn"]
    data = client.api(config.get("PATH_USER_CREDIT"), {}, service="commerce", default_query=False,
                      referer=referer)
    credit = (data or {}).get("credit") or {} if isinstance(data, dict) else {}
    return Balance(gift=_int(credit.get("gift_credit")), purchase=_int(credit.get("purchase_credit")),
                   vip=_int(credit.get("vip_credit")))


def claim(client: JimengClient) -> Claim:
    """Claim today's free credits.

    "Nothing to claim" answers (RET_CLAIM_REFUSED, e.g. a second claim the same day) come back as
    a Claim with `refused` set; anti-bot refusals and other failures raise the mapped error.
    """
    referer = client.site.web + config.get("REFERER_CREDIT_RECEIVE")
    try:
        data = client.api(config.get("PATH_CREDIT_RECEIVE"), {"time_zone": config.get("CREDIT_RECEIVE_TIME_ZONE")},
                          service="commerce", referer=referer, idempotent=False)
    except DriverError as err:
        ret = getattr(err, "upstream_ret", None)
        if ret is not None and ret in config.get("RET_CLAIM_REFUSED"):
            return Claim(received=0, refused=err.message)
        raise
    data = data if isinstance(data, dict) else {}
    total = data.get("cur_total_credits")
    first = data.get("is_first_receive")
    return Claim(received=_int(data.get("receive_quota")), total=None if total is None else _int(total),
                 first=None if first is None else bool(first))


def image_cost() -> int:
    """The price of an image job (CREDIT_COST_IMAGE): the cheapest thing an account serves, so an
    account whose balance stays below it after the daily claim is out of credits."""
    return max(1, _int(config.get("CREDIT_COST_IMAGE")))


def video_cost(seconds) -> int:
    """The estimated price of a video of `seconds` seconds (CREDIT_COST_VIDEO_PER_SECOND)."""
    return max(1, _int(config.get("CREDIT_COST_VIDEO_PER_SECOND")) * max(1, _int(seconds)))


def ensure_credits(client: JimengClient) -> tuple[Balance | None, Claim | None]:
    """Before a job (CREDIT_PRECHECK): the balance, claiming the daily credits when it is below the
    price of the cheapest job (an image).

    QuotaExhausted when it is below that and there is nothing to claim; a balance endpoint that
    misbehaves in another way only skips the check (generation will tell).
    """
    try:
        before = balance(client)
    except (CredentialsRejected, QuotaExhausted, DeadlineExceeded):
        raise
    except DriverError as err:
        logger.info("jimeng balance check skipped: %s", err.message)
        return None, None
    cheapest = image_cost()
    if before.total >= cheapest:
        return before, None
    got = claim_or_exhausted(client, f"balance {before.total}, below the {cheapest} credits of the cheapest "
                                     "job (an image)")
    return Balance(gift=got.total if got.total is not None else before.total + got.received), got


def _granted(got: Claim | None) -> bool:
    return got is not None and (got.received > 0 or (got.total or 0) > 0)


def _try_claim(client: JimengClient) -> Claim | None:
    """Today's claim, or None when the upstream refused it in a way that is not the account's
    death (anti-bot on the claim, a broken answer): logged, and the caller goes on without it."""
    try:
        return claim(client)
    except (CredentialsRejected, DeadlineExceeded):
        raise
    except DriverError as err:
        logger.info("jimeng daily claim refused: %s", err.message)
        return None


def claim_or_exhausted(client: JimengClient, why: str) -> Claim:
    """Claim today's free credits for an account that cannot pay for the cheapest job: the Claim
    when it granted some, else QuotaExhausted (the account is parked until the next daily claim)."""
    got = _try_claim(client)
    if _granted(got):
        return got
    raise insufficient_credits(f"{why}, and the daily claim gave nothing", log=client.log)


def submit_paying(client: JimengClient, submit: Callable[[], T], *, cost: int | None = None,
                  what: str = "image", claimed: bool = False) -> tuple[T, Claim | None]:
    """Run `submit` (one generate call); when the upstream answers that the account has too few
    credits, claim the daily credits and submit once more.

    The generate call checks the balance itself (1006 / 5000, §8) and a refused call creates no
    job, so this costs a job one round trip less than reading the balance first; only an account
    that really is short pays the claim. `cost` is the job's estimated price and `what` names it
    (for the error); `claimed` says the daily claim was already made for this job (the precheck).
    Returns the submit's result and the claim, if one was made.

    Still refused: QuotaExhausted (the account is parked) when the balance is below the cheapest
    job's price, or unknown while this job is no dearer than the cheapest; otherwise CreditsShort:
    the job moves on to another account and this one keeps serving cheaper jobs.
    """
    try:
        return submit(), None
    except QuotaExhausted as err:
        refused = err
    got = None
    if not claimed:
        got = _try_claim(client)
        if _granted(got):
            try:
                return submit(), got
            except QuotaExhausted as err:
                refused = err
    raise short_of_credits(client, refused, cost=image_cost() if cost is None else cost, what=what, got=got,
                           claimed=claimed)


def _balance_or_none(client: JimengClient) -> int | None:
    try:
        return balance(client).total
    except (CredentialsRejected, DeadlineExceeded):
        raise
    except DriverError as err:
        logger.info("jimeng balance unknown after a refusal for credits: %s", err.message)
        return None


def short_of_credits(client: JimengClient, refused: DriverError, *, cost: int, what: str, got: Claim | None,
                     claimed: bool) -> QuotaExhausted:
    """The error for a generate call refused for credits after the daily claim was tried: whether
    the account is out of credits (parked) or only short for this job (the job fails over)."""
    total = got.total if got is not None and got.total is not None else _balance_or_none(client)
    ret = getattr(refused, "upstream_ret", None)
    said = f"the generate call answered ret {ret}" if ret else "the generate call was refused for credits"
    if claimed:
        claim_note = "today's claim was made before the job"
    elif _granted(got):
        claim_note = f"after claiming {got.received} today"
    else:
        claim_note = "the daily claim gave nothing"
    cheapest = image_cost()
    if (total is not None and total >= cheapest) or (total is None and cost > cheapest):
        return credits_short(balance=total, cost=cost, what=what, detail=f"{said}; {claim_note}", log=client.log)
    if total is None:
        detail = (f"balance unknown, and this {what} of about {cost} credits is no dearer than an image, the "
                  f"cheapest job; {said}; {claim_note}")
    else:
        detail = (f"balance {total}, below the {cheapest} credits of an image, the cheapest job; this {what} "
                  f"costs about {cost}; {said}; {claim_note}")
    return insufficient_credits(detail, log=client.log)


def session_alive(client: JimengClient) -> bool | None:
    """Liveness of the session (§4.9): True / False, or None when the site cannot tell.

    The Dreamina SG host answers this call with HTTP 404, so international accounts often get None.
    """
    try:
        data = client.api(config.get("PATH_ACCOUNT_INFO"), None, query={"account_sdk_source": "web"})
    except CredentialsRejected:
        return False
    except DriverError:
        return None
    return bool(isinstance(data, dict) and data.get("user_id"))


def _client(credentials, proxy: str, region: str | None) -> JimengClient:
    return JimengClient(credentials, region=region, proxy=proxy,
                        deadline=time.time() + float(config.get("CREDIT_TIMEOUT")))


def get_balance(credentials, *, proxy: str = "", region: str | None = None) -> Balance:
    """The balance of one account's credentials. Raises DriverError subclasses on failure."""
    with _client(credentials, proxy, region) as client:
        return balance(client)


def check_session(credentials, *, proxy: str = "", region: str | None = None) -> bool | None:
    """Whether one account's sessionid is still signed in (None: the site cannot tell)."""
    with _client(credentials, proxy, region) as client:
        return session_alive(client)


def claim_daily(credentials, *, proxy: str = "", region: str | None = None) -> Claim:
    """Claim one account's daily free credits. Raises DriverError subclasses on failure."""
    with _client(credentials, proxy, region) as client:
        return claim(client)


# Account.state_reason values that mean "out of credits" (the runner stores the error code).
CREDIT_REASONS = (QuotaExhausted.code, "insufficient_credits")


def claim_all() -> list[dict]:
    """Daily schedule: claim every enabled Jimeng account's free credits.

    An account parked as out of credits goes back to active when the claim gave it some. Failures
    are reported per account and never stop the loop. Returns one summary dict per account.
    """
    from accounts.models import Account, AccountState

    accounts = list(Account.objects.filter(provider="jimeng", credentials__isnull=False)
                    .exclude(state=AccountState.DISABLED))
    report = []
    for account in accounts:
        entry: dict = {"account": account.name}
        report.append(entry)
        try:
            creds, proxy = account_secrets(account)
            if creds is None or not creds.sessionid():
                entry["error"] = "no sessionid"
                continue
            got = claim_daily(creds, proxy=proxy, region=account.region or creds.region)
        except CredentialsUnreadable as err:  # no key decrypts them: only the operator can help
            entry["error"] = err.message
            logger.warning("jimeng daily claim for %s skipped: %s", account.name, err.message)
            continue
        except DriverError as err:
            entry["error"] = f"{err.code}: {err.message}"
            logger.info("jimeng daily claim for %s failed: %s", account.name, entry["error"])
            continue
        except Exception as exc:  # one broken account must not cost the others their claim
            entry["error"] = f"{type(exc).__name__}"
            logger.exception("jimeng daily claim for %s crashed", account.name)
            continue
        entry.update(got.as_dict())
        entry["reactivated"] = False
        if got.received > 0:
            entry["reactivated"] = bool(
                Account.objects.filter(pk=account.pk, state=AccountState.EXHAUSTED,
                                       state_reason__in=CREDIT_REASONS)
                .update(state=AccountState.ACTIVE, state_reason="", state_until=None, probation=False)
            )
    return report
