from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from accounts.crypto import EncryptedJSONField, EncryptedTextField, reveal


class Provider(models.TextChoices):
    GEMINI = "gemini", "Google Gemini"
    JIMENG = "jimeng", "Jimeng / Dreamina"


class Region(models.TextChoices):
    CN = "cn", "China (Jimeng)"
    US = "us", "United States (Dreamina)"
    HK = "hk", "Hong Kong (Dreamina)"
    JP = "jp", "Japan (Dreamina)"
    SG = "sg", "Singapore (Dreamina)"


class AccountState(models.TextChoices):
    ACTIVE = "active", "Active"
    COOLING = "cooling", "Cooling down"
    EXPIRED = "expired", "Credentials expired"
    EXHAUSTED = "exhausted", "Out of credits or quota"
    DISABLED = "disabled", "Disabled by an operator"


class Account(models.Model):
    """One consumer web account the gateway schedules jobs onto."""

    name = models.CharField(max_length=100, unique=True)
    provider = models.CharField(max_length=16, choices=Provider.choices, db_index=True)
    region = models.CharField(max_length=4, choices=Region.choices, blank=True, default="",
                              help_text="Jimeng only: cn for Jimeng, us/hk/jp/sg for Dreamina.")
    credentials = EncryptedJSONField(null=True, editable=False)
    credentials_summary = models.JSONField(default=dict, blank=True, editable=False)
    credentials_updated_at = models.DateTimeField(null=True, blank=True, editable=False)
    proxy = EncryptedTextField(blank=True, default="", help_text="Outbound proxy URL, e.g. http://user:pass@host:port")
    max_concurrency = models.PositiveSmallIntegerField(default=1)

    active_leases = models.PositiveIntegerField(default=0, editable=False)
    state = models.CharField(max_length=16, choices=AccountState.choices, default=AccountState.ACTIVE, db_index=True)
    state_reason = models.CharField(max_length=64, blank=True, default="")
    state_until = models.DateTimeField(null=True, blank=True, help_text="End of a cooldown or of exhaustion.")
    # After a cooldown the account serves one job alone before it gets its full concurrency back.
    probation = models.BooleanField(default=False)
    cooldown_level = models.PositiveSmallIntegerField(default=0)

    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    jobs_succeeded = models.PositiveIntegerField(default=0)
    jobs_failed = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "name"]
        indexes = [models.Index(fields=["provider", "state", "active_leases"])]

    def __str__(self) -> str:
        return self.name

    # --- credentials ------------------------------------------------------------------------
    def set_credentials(self, creds) -> None:
        """Replace the credentials (an accounts.cookies.Credentials) and return to service."""
        self.credentials = creds.to_json()
        self.credentials_summary = creds.summary()
        self.credentials_updated_at = timezone.now()
        if creds.region:
            self.region = creds.region
        if self.state != AccountState.DISABLED:
            self.state = AccountState.ACTIVE
            self.state_reason = ""
            self.state_until = None
            self.probation = False
            self.cooldown_level = 0

    def get_credentials(self):
        from accounts.cookies import Credentials

        if not self.credentials:
            return None
        return Credentials.from_json(reveal(self.credentials))

    def get_proxy(self) -> str:
        """The proxy URL ("" for none); raises DecryptionError if it cannot be decrypted."""
        return reveal(self.proxy)

    # --- state as a user sees it ------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return self.state != AccountState.DISABLED

    def effective_state(self, now=None) -> str:
        now = now or timezone.now()
        if self.state in (AccountState.COOLING, AccountState.EXHAUSTED) and self.state_until and self.state_until <= now:
            return AccountState.ACTIVE
        return self.state

    def cooldown_remaining(self, now=None) -> float:
        now = now or timezone.now()
        if self.state in (AccountState.COOLING, AccountState.EXHAUSTED) and self.state_until:
            return max(0.0, (self.state_until - now).total_seconds())
        return 0.0

    def is_usable(self, now=None) -> bool:
        return self.effective_state(now) == AccountState.ACTIVE and bool(self.credentials_summary)


class AccountLease(models.Model):
    """A job's hold on one of an account's concurrency slots."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="leases")
    holder = models.CharField(max_length=80, db_index=True, help_text="The job holding the slot.")
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    acquired_at = models.DateTimeField(default=timezone.now)
    # A lease cannot legitimately outlive its job's deadline plus grace: the reaper frees it then.
    expires_at = models.DateTimeField(db_index=True)
    released_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-acquired_at"]

    def __str__(self) -> str:
        return f"{self.account} ← {self.holder}"

    @property
    def live(self) -> bool:
        return self.released_at is None
