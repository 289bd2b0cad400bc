"""What an operator sees of a failed job: artifacts inline, the upstream exchange redacted."""

from django.core.files.base import ContentFile
from django.utils import timezone

from generation.models import FailureArtifact, Generation


def test_failed_job_page_shows_artifacts_and_redacted_exchange(db, client, django_user_model):
    job = Generation.objects.create(
        provider="jimeng", model="jimeng-4.0", status="failed", error_code="upstream_rate_limited",
        error_message="Jimeng is throttling this account", deadline_at=timezone.now(),
        upstream_log=[{"attempt": 1, "account": "acc-1", "code": "upstream_rate_limited",
                       "exchanges": [{"path": "/mweb/v1/aigc_draft/generate", "status": 200,
                                      "response": {"ret": "1014", "errmsg": "system busy"},
                                      "cookie": "[redacted]"}]}])
    for kind, name, data in (("screenshot", "page.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64),
                             ("html", "page.html", b"<html>signed out</html>"),
                             ("console", "console.log", b"[log] ready")):
        artifact = FailureArtifact(job=job, kind=kind, attempt=1, account_name="acc-1")
        artifact.file.save(name, ContentFile(data), save=False)
        artifact.save()
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    page = client.get(f"/admin/generation/generation/{job.pk}/change/").content.decode()
    assert "system busy" in page and "/mweb/v1/aigc_draft/generate" in page
    assert page.count("/files/") >= 3  # signed links to the three artifacts
    assert "<img" in page  # the screenshot is shown inline
    listing = client.get("/admin/generation/generation/").content.decode()
    assert "upstream_rate_limited" in listing
