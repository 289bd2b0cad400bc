"""What a failed or successful attempt means for the account, shared by image and video runners."""

from __future__ import annotations

import logging

from django.utils import timezone

from accounts import standing
from accounts.models import Account
from generation.drivers.base import DriverError
from gateway.redaction import redact_obj

logger = logging.getLogger(__name__)


def apply_failure(account: Account, err: DriverError) -> None:
    """Expire, cool down or exhaust the account as the error says, and keep rotated cookies."""
    message = f"{err.code}: {err.message}"
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
    logger.info("account %s failed an attempt: %s", account.name, message)


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
