from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta

from django.db import models
from django.utils import timezone

from accounts.crypto import EncryptedTextField

KEY_PREFIX = "sk-gw-"
# last_used_at is advisory; writing it on every request would make every call a DB write.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def hash_key(raw: str) -> str:
    # Keys are 240 bits of randomness, so a fast hash is enough and lets lookups use an index.
    return hashlib.sha256(raw.encode()).hexdigest()


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class ApiKeyQuerySet(models.QuerySet):
    def usable(self):
        now = timezone.now()
        return self.filter(enabled=True).filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now))


class ApiKey(models.Model):
    """A key an app uses to call the gateway. Only its hash is stored."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, editable=False, help_text="First characters, to recognise the key.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    allowed_models = models.JSONField(
        default=list, blank=True, help_text="Model ids this key may use; empty means every model."
    )
    webhook_url = models.URLField(blank=True, default="", help_text="Where video events for this key are sent.")
    # Kept encrypted, not hashed: the gateway signs with it (Standard Webhooks, `whsec_…`).
    webhook_secret = EncryptedTextField(blank=True, default="", editable=False)

    objects = ApiKeyQuerySet.as_manager()

    # DRF treats the authenticated principal as a user; a key is always an authenticated one.
    is_authenticated = True

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, name: str, **fields) -> tuple["ApiKey", str]:
        """Create a key; the raw value is returned once and never stored."""
        if fields.get("webhook_url") and not fields.get("webhook_secret"):
            fields["webhook_secret"] = new_webhook_secret()
        raw = KEY_PREFIX + secrets.token_urlsafe(30)
        key = cls.objects.create(name=name, prefix=raw[: len(KEY_PREFIX) + 6], key_hash=hash_key(raw), **fields)
        return key, raw

    @classmethod
    def authenticate(cls, raw: str) -> "ApiKey | None":
        key = cls.objects.usable().filter(key_hash=hash_key(raw)).first()
        if key is not None:
            key.touch()
        return key

    def touch(self) -> None:
        now = timezone.now()
        if self.last_used_at is None or now - self.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    def may_use(self, model_id: str) -> bool:
        return not self.allowed_models or model_id in self.allowed_models
