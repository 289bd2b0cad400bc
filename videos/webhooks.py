"""Signed webhooks for video events (`video.completed`, `video.failed`).

OpenAI's event envelope, signed with Standard Webhooks so receivers can verify it with the
official SDK's `client.webhooks.unwrap(body, headers, secret=...)`. A worker delivers each event;
failures are retried with exponential backoff for WEBHOOK_RETRY_HOURS.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta, timezone as dt_timezone

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from django_q.tasks import async_task
from standardwebhooks.webhooks import Webhook

from accounts.crypto import DecryptionError, reveal
from generation.queueing import sender
from generation.ssrf import UnsafeURL, post_public
from videos.models import VideoTask, WebhookDelivery

logger = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 3600
DELIVERY_TIMEOUT = 15.0


def endpoints_for(task: VideoTask) -> list[tuple[str, str]]:
    key = task.api_key
    if key is not None and key.webhook_url:
        return [(key.webhook_url, key.webhook_secret)]
    if settings.WEBHOOK_URL:
        return [(settings.WEBHOOK_URL, settings.WEBHOOK_SECRET)]
    return []


def queue_event(task_id, event_type: str) -> list[WebhookDelivery]:
    task = VideoTask.objects.select_related("api_key").filter(pk=task_id).first()
    if task is None:
        return []
    event_id = "evt_" + uuid.uuid4().hex
    now = timezone.now()
    payload = json.dumps({"id": event_id, "object": "event", "created_at": int(now.timestamp()),
                          "type": event_type, "data": {"id": task.openai_id}}, separators=(",", ":"))
    deliveries = []
    for url, secret in endpoints_for(task):
        delivery = WebhookDelivery.objects.create(
            event_id=event_id, event_type=event_type, task=task, url=url, secret=secret, payload=payload,
            next_attempt_at=now, give_up_at=now + timedelta(hours=settings.WEBHOOK_RETRY_HOURS))
        _send(delivery.pk)
        deliveries.append(delivery)
    return deliveries


def _send(delivery_id: int) -> None:
    """Queue one delivery attempt (through the process's one broker)."""
    async_task("videos.webhooks.deliver", delivery_id, task_name=f"webhook-{delivery_id}", broker=sender())


def signed_headers(event_id: str, payload: str, secret: str) -> dict[str, str]:
    now = datetime.now(tz=dt_timezone.utc)
    headers = {"content-type": "application/json", "webhook-id": event_id,
               "webhook-timestamp": str(int(now.timestamp()))}
    if secret:
        headers["webhook-signature"] = Webhook(secret).sign(event_id, now, payload)
    return headers


def deliver(delivery_id: int) -> str:
    """One attempt. Claimed by moving next_attempt_at forward, so two workers never both send it."""
    now = timezone.now()
    claim_until = now + timedelta(seconds=DELIVERY_TIMEOUT * 2)
    won = WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING,
                                         next_attempt_at__lte=now).update(next_attempt_at=claim_until,
                                                                          attempts=F("attempts") + 1)
    if not won:
        return "skipped"
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    error, status, permanent = "", None, False
    try:
        status = post_public(delivery.url, delivery.payload.encode(),
                             signed_headers(delivery.event_id, delivery.payload, reveal(delivery.secret)),
                             timeout=DELIVERY_TIMEOUT)
    except UnsafeURL as exc:
        error = str(exc)
    except DecryptionError as exc:  # no retry can sign it: the operator must restore the key
        error, permanent = str(exc), True
    if status is not None and 200 <= status < 300:
        WebhookDelivery.objects.filter(pk=delivery_id).update(status=WebhookDelivery.Status.DELIVERED,
                                                              delivered_at=timezone.now(), last_status_code=status,
                                                              last_error="")
        return "delivered"
    delay = min(FIRST_RETRY_SECONDS * 2 ** (delivery.attempts - 1), MAX_RETRY_SECONDS)
    next_at = timezone.now() + timedelta(seconds=delay)
    gave_up = permanent or next_at > delivery.give_up_at
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        status=WebhookDelivery.Status.FAILED if gave_up else WebhookDelivery.Status.PENDING,
        next_attempt_at=next_at, last_status_code=status, last_error=error or f"HTTP {status}")
    logger.info("webhook %s to %s failed (%s); %s", delivery.event_id, delivery.url, error or status,
                "giving up" if gave_up else f"retrying in {delay} s")
    return "failed"


def dispatch_due() -> int:
    """Schedule entry: send every pending delivery whose retry time has come."""
    due = list(WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING,
                                              next_attempt_at__lte=timezone.now()).values_list("pk", flat=True)[:500])
    for pk in due:
        _send(pk)
    return len(due)


def redeliver(queryset) -> int:
    """Admin action: send again now, with a fresh retry window."""
    now = timezone.now()
    count = queryset.update(status=WebhookDelivery.Status.PENDING, next_attempt_at=now,
                            give_up_at=now + timedelta(hours=settings.WEBHOOK_RETRY_HOURS))
    for pk in queryset.values_list("pk", flat=True):
        _send(pk)
    return count
