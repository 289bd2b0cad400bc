import threading
import time

from rest_framework import authentication

from api.errors import ApiError
from api.models import ApiKey, hash_key

# A key's lookup is remembered this long per process: a poller sending many requests a second
# costs one query per interval. Disabling or expiring a key takes effect within it.
CACHE_SECONDS = 5.0
CACHE_MAX = 10_000
_cache: dict[str, tuple[float, ApiKey]] = {}
_cache_lock = threading.Lock()


def bearer_token(request) -> str | None:
    scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return raw.strip() if scheme.lower() == "bearer" and raw.strip() else None


def is_cached(raw: str) -> bool:
    hit = _cache.get(hash_key(raw))
    return hit is not None and hit[0] > time.monotonic()


def cached(raw: str) -> tuple[bool, ApiKey | None]:
    """(known, key) from the cache alone: no database, safe on the event loop."""
    hit = _cache.get(hash_key(raw))
    if hit is None or hit[0] <= time.monotonic():
        return False, None
    return True, (None if hit[1].is_expired else hit[1])


def lookup(raw: str) -> ApiKey | None:
    digest = hash_key(raw)
    now = time.monotonic()
    hit = _cache.get(digest)
    if hit is not None and hit[0] > now:
        return None if hit[1].is_expired else hit[1]
    key = ApiKey.authenticate(raw)
    with _cache_lock:
        if len(_cache) >= CACHE_MAX:
            _cache.clear()
        if key is not None:
            _cache[digest] = (now + CACHE_SECONDS, key)
        else:
            _cache.pop(digest, None)
    return key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>`, checked against the stored hashes."""

    keyword = "bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None  # IsAuthenticated then answers 401 with the same envelope
        scheme, _, raw = header.partition(" ")
        raw = raw.strip()
        if scheme.lower() != self.keyword or not raw:
            raise ApiError.unauthorized("The Authorization header must be 'Bearer <API key>'.")
        key = lookup(raw)
        if key is None:
            raise ApiError.unauthorized("Incorrect, disabled or expired API key provided.")
        return (key, key)

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) when no credentials were sent.
        return 'Bearer realm="api"'
