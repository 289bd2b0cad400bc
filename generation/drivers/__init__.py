"""Upstream drivers. Each upstream is one package behind the small interface in `base`."""

from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string


@lru_cache(maxsize=None)
def get_driver(provider: str):
    path = settings.GATEWAY_DRIVERS.get(provider)
    if not path:
        raise LookupError(f"No driver is configured for provider {provider!r}")
    return import_string(path)()
