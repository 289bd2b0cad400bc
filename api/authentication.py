from rest_framework import authentication

from api.errors import ApiError
from api.models import ApiKey


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
        key = ApiKey.authenticate(raw)
        if key is None:
            raise ApiError.unauthorized("Incorrect, disabled or expired API key provided.")
        return (key, key)

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) when no credentials were sent.
        return 'Bearer realm="api"'
