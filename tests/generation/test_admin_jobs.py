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


def test_the_admin_finds_a_job_or_video_by_the_id_clients_were_given(db, client, django_user_model):
    from videos.models import VideoTask

    jobs = [Generation.objects.create(provider="sleepy", model="sleepy-image", deadline_at=timezone.now())
            for _ in range(2)]
    videos = [VideoTask.objects.create(provider="sleepy", model="sleepy-video", prompt=f"clip {i}",
                                       deadline_at=timezone.now()) for i in range(2)]
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))

    def listed(url, term):  # the rows' change links (the search box echoes the term itself)
        page = client.get(url, {"q": term}).content.decode()
        return [obj for obj in (*jobs, *videos) if f"{url}{obj.pk}/change/" in page]

    assert listed("/admin/generation/generation/", jobs[0].public_id) == [jobs[0]]
    assert listed("/admin/generation/generation/", str(jobs[1].pk)) == [jobs[1]]  # the bare id still works
    for public in (videos[1].openai_id, videos[1].task_id):
        assert listed("/admin/videos/videotask/", public) == [videos[1]]
