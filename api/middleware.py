"""Request ids, size limits, and the OpenAI envelope for whatever Django answers outside DRF.

These run on every API request, so each works natively in both modes (no thread hop under
ASGI): the API's own handler (gateway/asgi.py) runs only these.
"""

from __future__ import annotations

import logging
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings

from api.errors import ApiError, as_api_error, request_too_large

logger = logging.getLogger(__name__)

# The signed media links (`/files/…`) answer apps too: a bad or expired link says so in JSON.
API_PREFIXES = ("/v1/", "/v2/", "/files/")


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path in ("/v1", "/v2")


class DualMiddleware:
    """Base for middleware with a plain `before(request)` / `after(request, response)` pair."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        response = self.before(request)
        if response is None:
            response = self.get_response(request)
        return self.after(request, response)

    async def __acall__(self, request):
        response = self.before(request)
        if response is None:
            response = await self.get_response(request)
        return self.after(request, response)

    def before(self, request):
        return None

    def after(self, request, response):
        return response


class RequestIdMiddleware(DualMiddleware):
    """Every response carries `x-request-id`, which the SDK exposes as `e.request_id`."""

    def before(self, request):
        request.request_id = "req_" + uuid.uuid4().hex

    def after(self, request, response):
        response["x-request-id"] = getattr(request, "request_id", None) or "req_" + uuid.uuid4().hex
        return response


class RequestSizeLimitMiddleware(DualMiddleware):
    """Refuse an oversized body from its Content-Length before anything reads it."""

    def before(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAX_REQUEST_BYTES and is_api_path(request.path):
            return request_too_large().response()
        return None


class OpenAIErrorMiddleware(DualMiddleware):
    """Unknown routes, Django's own 4xx/5xx pages and uncaught exceptions become the envelope."""

    def process_exception(self, request, exception):
        if not is_api_path(request.path):
            return None
        error = as_api_error(exception)
        if error is None:
            logger.exception("unhandled error on %s %s", request.method, request.path)
            error = ApiError.server_error()
        return error.response()

    def after(self, request, response):
        if not is_api_path(request.path) or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        status = response.status_code
        if status == 404:
            error = ApiError.not_found(f"Unknown route: {request.method} {request.path}")
        elif status == 405:
            error = ApiError(405, f"Method {request.method} is not allowed on {request.path}.", code="method_not_allowed")
        elif status == 413:
            error = request_too_large()
        elif status >= 500:
            error = ApiError.server_error(status=status)
        else:
            error = ApiError(status, response.reason_phrase or "Bad request.", code="bad_request")
        new = error.response()
        for header in ("Allow", "x-request-id"):
            if header in response:
                new[header] = response[header]
        return new
