"""The OpenAI error envelope: `{"error": {"message", "type", "param", "code"}}` with a non-2xx status.

Every error path of the API ends here: DRF exceptions through `exception_handler`, everything
Django answers on its own (unknown routes, oversized bodies, crashes) through the middleware.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf

logger = logging.getLogger(__name__)

TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiError(Exception):
    """An error the client should see, already in OpenAI's terms."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None,
                 type: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type or TYPE_BY_STATUS.get(status, "server_error" if status >= 500 else "invalid_request_error")
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JsonResponse:
        resp = JsonResponse(self.body(), status=self.status)
        for name, value in self.headers.items():
            resp[name] = value
        return resp

    # Constructors for the errors every view needs, so their codes stay consistent.
    @classmethod
    def invalid(cls, message: str, param: str | None = None, code: str | None = "invalid_value") -> "ApiError":
        return cls(400, message, code=code, param=param)

    @classmethod
    def unauthorized(cls, message: str) -> "ApiError":
        return cls(401, message, code="invalid_api_key")

    @classmethod
    def forbidden(cls, message: str, code: str = "permission_denied", param: str | None = None) -> "ApiError":
        return cls(403, message, code=code, param=param)

    @classmethod
    def not_found(cls, message: str, param: str | None = None) -> "ApiError":
        return cls(404, message, code="not_found", param=param)

    @classmethod
    def rate_limited(cls, message: str, retry_after_seconds: float, code: str = "rate_limit_exceeded") -> "ApiError":
        retry_ms = max(1, int(retry_after_seconds * 1000))
        headers = {"retry-after-ms": str(retry_ms), "retry-after": str(max(1, int(retry_after_seconds + 0.999)))}
        if retry_after_seconds > 120:
            # The SDK would otherwise retry at once and hammer a pool that cannot recover soon.
            headers["x-should-retry"] = "false"
        return cls(429, message, code=code, headers=headers)

    @classmethod
    def server_error(cls, message: str = "The server had an error while processing your request.",
                     status: int = 500, code: str = "server_error") -> "ApiError":
        return cls(status, message, code=code, type="server_error")


def _first_validation_error(detail, prefix: str = "") -> tuple[str | None, object]:
    """The first error's param and message (a DRF ErrorDetail, whose `code` says what kind)."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            name = field if field != "non_field_errors" else None
            param, message = _first_validation_error(value, _path(prefix, name) if name is not None else prefix)
            return param or (prefix or name), message
    if isinstance(detail, list) and detail:
        return _first_validation_error(detail[0], prefix)
    return (prefix or None), detail


def _path(prefix: str, name) -> str:
    """A param as OpenAI writes one: `images[1]` for a list's item (DRF keys it by its index),
    `input.file` for a nested field."""
    if isinstance(name, int):
        return f"{prefix}[{name}]"
    return f"{prefix}.{name}" if prefix else str(name)


def as_api_error(exc: BaseException) -> ApiError | None:
    """Translate any exception a view can raise into an ApiError; None means 'unexpected'."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, drf.ValidationError):
        param, message = _first_validation_error(exc.detail)
        code = "missing_required_parameter" if getattr(message, "code", None) == "required" else "invalid_value"
        message = str(message)
        return ApiError.invalid(f"{param}: {message}" if param else message, param=param, code=code)
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        return ApiError.unauthorized(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <API key>'."
            if isinstance(exc, drf.NotAuthenticated) else str(exc.detail)
        )
    if isinstance(exc, (drf.PermissionDenied, PermissionDenied)):
        return ApiError.forbidden(str(getattr(exc, "detail", "")) or "Permission denied.")
    if isinstance(exc, (drf.NotFound, Http404)):
        return ApiError.not_found(str(getattr(exc, "detail", "")) or "Not found.")
    if isinstance(exc, drf.MethodNotAllowed):
        return ApiError(405, str(exc.detail), code="method_not_allowed")
    if isinstance(exc, drf.UnsupportedMediaType):
        return ApiError(415, str(exc.detail), code="unsupported_media_type")
    if isinstance(exc, drf.ParseError):
        return ApiError.invalid(f"The request body could not be parsed: {exc.detail}", code="invalid_json")
    if isinstance(exc, RequestDataTooBig):
        return request_too_large()
    if isinstance(exc, drf.Throttled):
        return ApiError.rate_limited(str(exc.detail), exc.wait or 1)
    if isinstance(exc, SuspiciousOperation):
        return ApiError.invalid(str(exc) or "Bad request.", code="bad_request")
    if isinstance(exc, drf.APIException):
        return ApiError(exc.status_code, str(exc.detail), code=exc.default_code)
    return None


def request_too_large() -> ApiError:
    from django.conf import settings

    return ApiError(413, f"The request is larger than the limit of {settings.MAX_REQUEST_BYTES} bytes.",
                    code="request_too_large")


def exception_handler(exc, context):
    """DRF's hook: every exception a DRF view raises becomes the envelope."""
    error = as_api_error(exc)
    if error is None:
        logger.exception("unhandled error in %s", context.get("view").__class__.__name__)
        error = ApiError.server_error()
    return error.response()
