"""How an account's standing changes after a job: the cooldown ladder and terminal states."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Account, AccountState
from gateway.redaction import redact

ERROR_CHARS = 2000


def _clean(message: str) -> str:
    return (redact(message) or "")[:ERROR_CHARS]


def cooldown_seconds(level: int) -> int:
    return min(settings.COOLDOWN_BASE_SECONDS * (2 ** level), settings.COOLDOWN_MAX_SECONDS)


def success_update(now=None) -> dict:
    """What a successful job writes to its account (as update() arguments): the lease release
    joins it to the freed slot."""
    return dict(last_success_at=now or timezone.now(), jobs_succeeded=F("jobs_succeeded") + 1, probation=False,
                cooldown_level=0)


def record_success(account_id: int) -> None:
    Account.objects.filter(pk=account_id).update(**success_update())


def record_failure(account_id: int, message: str) -> None:
    """A job failed for a reason that says nothing bad about the account."""
    Account.objects.filter(pk=account_id).update(
        last_error=_clean(message), last_error_at=timezone.now(), jobs_failed=F("jobs_failed") + 1
    )


def cool_down(account_id: int, reason: str, message: str, *, retry_after: float | None = None) -> timedelta:
    """Rate limit, anti-bot, busy: out for a growing, capped while; upstream hints win if longer."""
    now = timezone.now()
    with transaction.atomic():
        account = Account.objects.filter(pk=account_id).only("cooldown_level", "state").first()
        if account is None:
            return timedelta(0)
        seconds = cooldown_seconds(account.cooldown_level)
        if retry_after:
            seconds = max(seconds, int(retry_after))
        delay = timedelta(seconds=seconds)
        updates = dict(last_error=_clean(message), last_error_at=now, jobs_failed=F("jobs_failed") + 1,
                       cooldown_level=F("cooldown_level") + 1, probation=False)
        if account.state != AccountState.DISABLED:
            updates.update(state=AccountState.COOLING, state_reason=reason, state_until=now + delay)
        Account.objects.filter(pk=account_id).update(**updates)
    return delay


def expire(account_id: int, reason: str, message: str) -> None:
    """Credentials rejected: out until an operator brings new ones."""
    Account.objects.filter(pk=account_id).exclude(state=AccountState.DISABLED).update(
        state=AccountState.EXPIRED, state_reason=reason, state_until=None, probation=False,
        last_error=_clean(message), last_error_at=timezone.now(),
    )
    Account.objects.filter(pk=account_id).update(jobs_failed=F("jobs_failed") + 1)


def exhaust(account_id: int, reason: str, message: str, *, until=None) -> None:
    """Out of credits or quota: out until the reset time (or a default when it is unknown)."""
    now = timezone.now()
    until = until or now + timedelta(seconds=settings.EXHAUSTED_DEFAULT_SECONDS)
    Account.objects.filter(pk=account_id).exclude(state=AccountState.DISABLED).update(
        state=AccountState.EXHAUSTED, state_reason=reason, state_until=until, probation=False,
        last_error=_clean(message), last_error_at=now,
    )
    Account.objects.filter(pk=account_id).update(jobs_failed=F("jobs_failed") + 1)


def enable(queryset) -> int:
    return queryset.filter(state=AccountState.DISABLED).update(
        state=AccountState.ACTIVE, state_reason="", state_until=None, probation=False
    )


def disable(queryset) -> int:
    return queryset.update(state=AccountState.DISABLED, state_reason="operator")


def clear_cooldown(queryset) -> int:
    return queryset.filter(state__in=(AccountState.COOLING, AccountState.EXHAUSTED)).update(
        state=AccountState.ACTIVE, state_reason="", state_until=None, probation=False, cooldown_level=0
    )
