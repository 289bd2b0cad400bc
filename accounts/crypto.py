"""Encryption at rest for credentials, with keys independent of SECRET_KEY (MultiFernet)."""

from __future__ import annotations

import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class DecryptionError(RuntimeError):
    """Stored ciphertext cannot be read with the configured keys; never yields ciphertext as data."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("COOKIE_ENCRYPTION_KEYS is empty")
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            "COOKIE_ENCRYPTION_KEYS must be comma-separated Fernet keys (32 url-safe base64 bytes each)"
        ) from None


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.COOKIE_ENCRYPTION_KEYS))


def encrypt_text(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt_text(token: str, *, what: str = "a stored secret") -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            f"Cannot decrypt {what}: none of COOKIE_ENCRYPTION_KEYS matches. Restore the key it was "
            "written with (keep old keys after the new one in the list) or re-import the credentials."
        ) from None


def rotate_text(token: str) -> str:
    return fernet().rotate(token.encode()).decode()


class EncryptedJSONField(models.TextField):
    """A JSON value stored as a Fernet token. Only `isnull` lookups make sense on it."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return None
        return json.loads(decrypt_text(value, what=f"{self.model.__name__}.{self.name}"))

    def to_python(self, value):
        return value

    def get_prep_value(self, value):
        if value is None:
            return None
        return encrypt_text(json.dumps(value, separators=(",", ":")))

    def value_to_string(self, obj):
        # Dumps and fixtures must not carry decrypted secrets.
        return ""


class EncryptedTextField(EncryptedJSONField):
    """A string stored as a Fernet token (proxy URLs may carry passwords)."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return ""
        return decrypt_text(value, what=f"{self.model.__name__}.{self.name}")

    def get_prep_value(self, value):
        if not value:
            return ""
        return encrypt_text(value)
