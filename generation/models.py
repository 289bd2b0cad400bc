from __future__ import annotations

import uuid

from django.db import models
from django.db.models.signals import post_delete
from django.utils import timezone

from generation import files_cleanup


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
TERMINAL_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED)


class JobKind(models.TextChoices):
    GENERATE = "generate", "Text to image"
    EDIT = "edit", "Image edit"
    COMPOSE = "compose", "Composition"


def job_upload_to(instance, filename: str) -> str:
    return f"jobs/{instance.job_id}/{filename}"


class Generation(models.Model):
    """One image job: the source of truth for its status, attempts, outputs and errors.

    django-q2 only carries the id; everything a client or an operator sees is read from here.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    api_key = models.ForeignKey("api.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    provider = models.CharField(max_length=16, db_index=True)
    model = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=JobKind.choices, default=JobKind.GENERATE)
    # Request parameters as plain data. Never credentials: those stay on the account.
    params = models.JSONField(default=dict, blank=True)
    # Stored input files (relative media names), for edits and compositions.
    inputs = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    account = models.ForeignKey("accounts.Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    tried_accounts = models.JSONField(default=list, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    deliveries = models.PositiveSmallIntegerField(default=0, help_text="Times a worker picked the job up.")
    worker = models.CharField(max_length=100, blank=True, default="", help_text="host:pid of the last worker.")

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(db_index=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    error_status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="HTTP status a client gets.")
    error_param = models.CharField(max_length=64, blank=True, default="")
    # The upstream exchange of a failed attempt, secrets redacted, for the operator.
    upstream_log = models.JSONField(default=list, blank=True)
    result_meta = models.JSONField(default=dict, blank=True)

    idempotency_key = models.CharField(max_length=200, blank=True, default="", db_index=True)
    request_fingerprint = models.CharField(max_length=64, blank=True, default="", db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["provider", "status"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.model} {self.status}"

    @property
    def public_id(self) -> str:
        return f"gen_{self.id.hex}"

    @property
    def holder(self) -> str:
        return f"gen:{self.id}"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class GeneratedFile(models.Model):
    """A result file in the gateway's own storage; clients never see upstream URLs."""

    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        VIDEO = "video", "Video"
        THUMBNAIL = "thumbnail", "Thumbnail"
        INPUT = "input", "Input"

    job = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="files")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.IMAGE)
    index = models.PositiveSmallIntegerField(default=0)
    file = models.FileField(upload_to=job_upload_to, max_length=300)
    mime = models.CharField(max_length=64)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["job", "kind", "index"]

    @property
    def job_id_hex(self) -> str:
        return self.job_id.hex


class FailureArtifact(models.Model):
    """What a failed attempt left behind for diagnosis: screenshot, page HTML, console log."""

    class Kind(models.TextChoices):
        SCREENSHOT = "screenshot", "Screenshot"
        HTML = "html", "Page HTML"
        CONSOLE = "console", "Console log"
        UPSTREAM = "upstream", "Upstream exchange"

    job = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="artifacts")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    attempt = models.PositiveSmallIntegerField(default=1)
    account_name = models.CharField(max_length=100, blank=True, default="")
    file = models.FileField(upload_to=job_upload_to, max_length=300)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)


# A deleted job's files go with it, once the delete commits (generation.files_cleanup).
post_delete.connect(files_cleanup.generation_deleted, sender=Generation, dispatch_uid="generation.files_cleanup")
