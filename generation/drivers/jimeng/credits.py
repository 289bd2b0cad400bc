"""Credits of one account (jimeng-protocol.md §4.8), and the daily claim over the whole pool.

`balance` / `claim` work on a job's client; `get_balance` / `claim_daily` are the same for bare
credentials (no ORM). `claim_all` is the daily schedule's entry point and the only ORM user here.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from generation.drivers.base import CredentialsRejected, DeadlineExceeded, DriverError, QuotaExhausted

from . import config
from .client import JimengClient
from .errors import insufficient_credits

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


def ensure_credits(client: JimengClient) -> tuple[Balance | None, Claim | None]:
    """Before a job (CREDIT_PRECHECK): the balance, claiming the daily credits when it is zero.

    QuotaExhausted when there is nothing to spend and nothing to claim; a balance endpoint that
    misbehaves in another way only skips the check (generation will tell).
    """
    try:
        before = balance(client)
    except (CredentialsRejected, QuotaExhausted, DeadlineExceeded):
        raise
    except DriverError as err:
        logger.info("jimeng balance check skipped: %s", err.message)
        return None, None
    if before.total > 0:
        return before, None
    got = claim_or_exhausted(client, "balance 0")
    return Balance(gift=got.total if got.total is not None else got.received), got


def claim_or_exhausted(client: JimengClient, why: str) -> Claim:
    """Claim today's free credits for an account that has too few: the Claim when it granted
    some, else QuotaExhausted (the account is parked until the next daily claim)."""
    got = None
    try:
        got = claim(client)
    except (CredentialsRejected, DeadlineExceeded):
        raise
    except DriverError as err:
        logger.info("jimeng daily claim refused: %s", err.message)
    if got is not None and (got.received > 0 or (got.total or 0) > 0):
        return got
    raise insufficient_credits(f"{why} and the daily claim gave nothing", log=client.log)


def submit_paying(client: JimengClient, submit: Callable[[], T]) -> tuple[T, Claim | None]:
    """Run `submit` (one generate call); when the upstream answers that the account is out of
    credits, claim the daily credits and submit once more.

    The generate call checks the balance itself (1006 / 5000, §8) and a refused call creates no
    job, so this costs a job one round trip less than reading the balance first; only an account
    that really is short pays the claim. Returns the submit's result and the claim, if one was made.
    """
    try:
        return submit(), None
    except QuotaExhausted:
        if config.get("CREDIT_PRECHECK"):
            raise  # the balance was read just before: a claim was already tried or not needed
    got = claim_or_exhausted(client, "the generate call found too few credits")
    return submit(), got


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
            creds = account.get_credentials()
            if creds is None or not creds.sessionid():
                entry["error"] = "no sessionid"
                continue
            got = claim_daily(creds, proxy=account.proxy, region=account.region or creds.region)
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
