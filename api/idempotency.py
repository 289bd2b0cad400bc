"""Deduplicating job-starting POSTs.

The OpenAI SDK sends no idempotency key and retries a timed-out or 5xx request up to twice, so a
slow generation could be paid for three times. An `Idempotency-Key` header dedupes for
IDEMPOTENCY_HOURS; without one, a request marked as an SDK retry (`x-stainless-retry-count > 0`)
joins the job of an identical earlier request from the same key within RETRY_JOIN_SECONDS.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from api.errors import ApiError

MAX_KEY_LENGTH = 200


def fingerprint(api_key, path: str, fields: dict, files: list[bytes] = ()) -> str:
    """Stable across retries: built from parsed fields and file contents, not the raw body
    (a multipart boundary changes on every attempt)."""
    digest = hashlib.sha256()
    digest.update(f"{getattr(api_key, 'pk', None)}|{path}|".encode())
    digest.update(json.dumps(fields, sort_keys=True, default=str).encode())
    for data in files:
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()


def idempotency_key(request) -> str:
    key = (request.headers.get("Idempotency-Key") or "").strip()
    if len(key) > MAX_KEY_LENGTH:
        raise ApiError.invalid(f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters.",
                               param="Idempotency-Key")
    return key


def is_sdk_retry(request) -> bool:
    try:
        return int(request.headers.get("x-stainless-retry-count") or 0) > 0
    except ValueError:
        return False


def find_existing(model, request, api_key, fp: str):
    """The job this request should join, or None to start a new one.

    A job that failed for a reason a retry can cure (429: the pool was cooling or out of
    credits; 5xx: the upstream failed, the job timed out) is not joined: the SDK retries exactly
    those, and joining would hand it the same failure again."""
    key = idempotency_key(request)
    now = timezone.now()
    if key:
        existing = (model.objects.filter(api_key=api_key, idempotency_key=key,
                                         created_at__gte=now - timedelta(hours=settings.IDEMPOTENCY_HOURS))
                    .order_by("-created_at").first())
        if existing is not None and existing.request_fingerprint != fp:
            raise ApiError(422, "This Idempotency-Key was already used with different parameters.",
                           code="idempotency_key_reused", param="Idempotency-Key")
        return None if existing is not None and _retry_may_cure(existing) else existing
    if is_sdk_retry(request):
        existing = (model.objects.filter(api_key=api_key, request_fingerprint=fp,
                                         created_at__gte=now - timedelta(seconds=settings.RETRY_JOIN_SECONDS))
                    .order_by("-created_at").first())
        return None if existing is not None and _retry_may_cure(existing) else existing
    return None


def _retry_may_cure(job) -> bool:
    return job.status == "failed" and (job.error_status is None or job.error_status == 429
                                       or job.error_status >= 500)
