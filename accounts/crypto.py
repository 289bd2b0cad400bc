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
        raise _cannot_decrypt(what) from None


def _cannot_decrypt(what: str) -> DecryptionError:
    return DecryptionError(
        f"Cannot decrypt {what}: none of COOKIE_ENCRYPTION_KEYS matches. Restore the key it was "
        "written with (keep old keys after the new one in the list) or re-import the credentials."
    )


class Unreadable:
    """A stored secret that none of COOKIE_ENCRYPTION_KEYS decrypts (a key was lost or changed).

    Its row still loads, so one such value does not take down the admin's lists, /v1/health, or
    authentication with the API key it belongs to; whatever needs the value calls `reveal`, which
    raises the DecryptionError naming the field. Saving the row writes the token back unchanged:
    restoring the old key later makes it readable again."""

    __slots__ = ("token", "what")

    def __init__(self, token: str, what: str):
        self.token, self.what = token, what

    def __bool__(self) -> bool:
        return True  # a value is stored

    def __repr__(self) -> str:
        return f"<unreadable {self.what}>"

    __str__ = __repr__

    def error(self) -> DecryptionError:
        return _cannot_decrypt(self.what)


def reveal(value):
    """The decrypted value, or the DecryptionError if it could not be decrypted."""
    if isinstance(value, Unreadable):
        raise value.error()
    return value


def rotate_text(token: str) -> str:
    return fernet().rotate(token.encode()).decode()


class EncryptedJSONField(models.TextField):
    """A JSON value stored as a Fernet token. Only `isnull` lookups make sense on it."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return None
        text = self._decrypt(value)
        return text if isinstance(text, Unreadable) else json.loads(text)

    def _decrypt(self, value: str) -> str | Unreadable:
        what = f"{self.model.__name__}.{self.name}"
        try:
            return decrypt_text(value, what=what)
        except DecryptionError:
            return Unreadable(value, what)

    def to_python(self, value):
        return value

    def get_prep_value(self, value):
        if value is None:
            return None
        if isinstance(value, Unreadable):
            return value.token
        return encrypt_text(json.dumps(value, separators=(",", ":")))

    def value_to_string(self, obj):
        # Dumps and fixtures must not carry decrypted secrets.
        return ""


class EncryptedTextField(EncryptedJSONField):
    """A string stored as a Fernet token (proxy URLs may carry passwords)."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return ""
        return self._decrypt(value)

    def get_prep_value(self, value):
        if not value:
            return ""
        if isinstance(value, Unreadable):
            return value.token
        return encrypt_text(value)
