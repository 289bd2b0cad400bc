from __future__ import annotations

import uuid

from django.db import models
from django.db.models.signals import post_delete
from django.utils import timezone

from accounts.crypto import EncryptedTextField
from generation import files_cleanup
from generation.models import ACTIVE_STATUSES, TERMINAL_STATUSES, JobStatus  # noqa: F401 (re-exported)


def video_upload_to(instance, filename: str) -> str:
    return f"videos/{instance.task_id}/{filename}"


class VideoTask(models.Model):
    """One video job behind all three surfaces (OpenAI Videos, the seeds' v1 sync and v2 tasks).

    Pinned to the account that submitted it: polling and download must use that account. The
    upstream id is stored the moment it is known, so a crashed worker resumes polling it
    instead of paying for a second submission.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    api_key = models.ForeignKey("api.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    provider = models.CharField(max_length=16, db_index=True)
    model = models.CharField(max_length=64)
    requested_model = models.CharField(max_length=100, blank=True, default="")
    prompt = models.TextField(blank=True, default="")
    params = models.JSONField(default=dict, blank=True)
    inputs = models.JSONField(default=list, blank=True)  # stored frame images (media names), first then last
    seconds = models.CharField(max_length=8, default="5")
    size = models.CharField(max_length=16, default="")
    remixed_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0)
    account = models.ForeignKey("accounts.Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    tried_accounts = models.JSONField(default=list, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    deliveries = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=100, blank=True, default="")
    submit_id = models.CharField(max_length=64, blank=True, default="", help_text="Our id for the submission.")
    upstream_id = models.CharField(max_length=128, blank=True, default="", db_index=True)
    upstream_submissions = models.PositiveSmallIntegerField(default=0)
    next_poll_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(db_index=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    error_status = models.PositiveSmallIntegerField(null=True, blank=True)
    upstream_log = models.JSONField(default=list, blank=True)
    result_meta = models.JSONField(default=dict, blank=True)

    idempotency_key = models.CharField(max_length=200, blank=True, default="", db_index=True)
    request_fingerprint = models.CharField(max_length=64, blank=True, default="", db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["api_key", "created_at"]), models.Index(fields=["provider", "status"])]

    def __str__(self) -> str:
        return f"video {self.model} {self.status}"

    @property
    def openai_id(self) -> str:
        return f"video_{self.id.hex}"

    @property
    def task_id(self) -> str:
        return f"vtask_{self.id.hex}"

    @property
    def holder(self) -> str:
        return f"vid:{self.id}"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


def parse_public_id(value: str) -> uuid.UUID | None:
    """`video_<hex>`, `vtask_<hex>` or a bare UUID → the task's primary key."""
    for prefix in ("video_", "vtask_"):
        if value.startswith(prefix):
            value = value[len(prefix):]
            break
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


class VideoAsset(models.Model):
    class Kind(models.TextChoices):
        VIDEO = "video", "Video"
        THUMBNAIL = "thumbnail", "Thumbnail"

    task = models.ForeignKey(VideoTask, on_delete=models.CASCADE, related_name="assets")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    file = models.FileField(upload_to=video_upload_to, max_length=300)
    mime = models.CharField(max_length=64)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        unique_together = [("task", "kind")]


class WebhookDelivery(models.Model):
    """One event to one URL, retried with backoff until it is accepted or 24 h have passed."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Gave up"

    event_id = models.CharField(max_length=64, db_index=True)
    event_type = models.CharField(max_length=32)
    task = models.ForeignKey(VideoTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    url = models.URLField(max_length=500)
    secret = EncryptedTextField(blank=True, default="")
    payload = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    give_up_at = models.DateTimeField()
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"


# A deleted task's files go with it, once the delete commits (generation.files_cleanup).
post_delete.connect(files_cleanup.video_task_deleted, sender=VideoTask, dispatch_uid="videos.files_cleanup")
