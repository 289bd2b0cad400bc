"""What /files/ (and a video's content) tell the browser: a failed job's captured page is shown
sandboxed, never as a live page on the gateway's origin; the API's images stay plain images.

Requests go through the API's own middleware only, as in production (gateway.asgi routes /files/
and /v1/ there): Django's SecurityMiddleware, which would add nosniff by itself, is not on that path.
"""

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.utils import timezone

from generation.media import signed_url
from generation.models import FailureArtifact, Generation

pytestmark = pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous iterators")

PAGE = (b"<html><head><script>fetch('/admin/').then(r => r.text()).then(alert)</script></head>"
        b"<body><p>Sign in to continue</p><img src='https://www.gstatic.com/x.png'></body></html>")
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture
def api_only(settings, tmp_path):
    settings.MIDDLEWARE = settings.API_MIDDLEWARE
    settings.MEDIA_ROOT = str(tmp_path / "media")


def _artifact(job, kind, name, data):
    record = FailureArtifact(job=job, kind=kind, attempt=1, account_name="acc-1")
    record.file.save(name, ContentFile(data), save=False)
    record.save()
    return record


@pytest.fixture
def failed_job(db, api_only):
    job = Generation.objects.create(provider="gemini", model="gemini-image", status="failed",
                                    deadline_at=timezone.now())
    return {
        "html": _artifact(job, "html", "attempt1_gemini-page.html", PAGE),
        "console": _artifact(job, "console", "attempt1_gemini-console.log", b"[error] signed out\n"),
        "screenshot": _artifact(job, "screenshot", "attempt1_gemini-page.png", PNG),
    }


def _path(name: str) -> str:
    url = signed_url(name, ttl=3600)
    return url[len(settings.PUBLIC_BASE_URL):]


def _body(response) -> bytes:
    return b"".join(response)


def _assert_sandboxed(response):
    assert response["X-Content-Type-Options"] == "nosniff"
    csp = [part.strip() for part in response["Content-Security-Policy"].split(";")]
    assert "sandbox" in csp  # a bare sandbox: no allow-scripts, no allow-same-origin
    assert "default-src 'none'" in csp
    assert not any("script-src" in part or "allow-" in part for part in csp)
    assert "frame-ancestors 'none'" in csp


def test_captured_page_is_shown_sandboxed(client, failed_job):
    response = client.get(_path(failed_job["html"].file.name))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    _assert_sandboxed(response)
    assert response["Content-Disposition"].startswith("inline")  # readable in place, not a download
    assert _body(response) == PAGE


def test_captured_page_range_request_is_sandboxed_too(client, failed_job):
    response = client.get(_path(failed_job["html"].file.name), HTTP_RANGE="bytes=0-9")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 0-9/{len(PAGE)}"
    assert response["Content-Type"] == "text/html; charset=utf-8"
    _assert_sandboxed(response)
    assert _body(response) == PAGE[:10]


def test_console_log_is_plain_text(client, failed_job):
    response = client.get(_path(failed_job["console"].file.name))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    _assert_sandboxed(response)
    assert response["Content-Disposition"].startswith("inline")
    assert _body(response) == b"[error] signed out\n"


def test_svg_and_unknown_files_are_sandboxed_downloads(client, db, api_only):
    from django.core.files.storage import default_storage

    for name, data in (("jobs/x/drawing.svg", b"<svg xmlns='http://www.w3.org/2000/svg'><script>1</script></svg>"),
                       ("jobs/x/blob.bin", b"\0\1\2")):
        stored = default_storage.save(name, ContentFile(data))
        response = client.get(_path(stored))
        assert response.status_code == 200
        _assert_sandboxed(response)
        assert response["Content-Disposition"].startswith("attachment")


def test_images_keep_their_type_with_nosniff(client, failed_job):
    for headers in ({}, {"HTTP_RANGE": "bytes=0-7"}):
        response = client.get(_path(failed_job["screenshot"].file.name), **headers)
        assert response.status_code in (200, 206)
        assert response["Content-Type"] == "image/png"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" not in response
        assert not response.get("Content-Disposition", "").startswith("attachment")
        assert _body(response) == (PNG if not headers else PNG[:8])


def test_unsatisfiable_range_says_nosniff(client, failed_job):
    response = client.get(_path(failed_job["html"].file.name), HTTP_RANGE=f"bytes={len(PAGE) + 10}-")
    assert response.status_code == 416
    assert response["X-Content-Type-Options"] == "nosniff"


def test_video_content_shares_the_policy(client, api_only, transactional_db):
    from api.models import ApiKey
    from videos.models import VideoAsset, VideoTask

    key, raw = ApiKey.issue("media headers")
    task = VideoTask.objects.create(api_key=key, provider="sleepy", model="sleepy-video", status="succeeded",
                                    deadline_at=timezone.now())
    video = VideoAsset(task=task, kind=VideoAsset.Kind.VIDEO, mime="video/mp4", size_bytes=16)
    video.file.save("video.mp4", ContentFile(b"\0\0\0\x18ftypmp42" + b"\0" * 4), save=False)
    video.save()
    # A thumbnail whose recorded type is not one the API writes is sandboxed like any upstream file.
    odd = VideoAsset(task=task, kind=VideoAsset.Kind.THUMBNAIL, mime="text/html", size_bytes=len(PAGE))
    odd.file.save("thumbnail.html", ContentFile(PAGE), save=False)
    odd.save()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    for headers in ({}, {"HTTP_RANGE": "bytes=0-3"}):
        response = client.get(f"/v1/videos/{task.openai_id}/content", **auth, **headers)
        assert response.status_code in (200, 206)
        assert response["Content-Type"] == "video/mp4"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" not in response
        assert response["Content-Disposition"] == f'inline; filename="{task.openai_id}.mp4"'
        _body(response)

    response = client.get(f"/v1/videos/{task.openai_id}/content?variant=thumbnail", **auth)
    assert response.status_code == 200
    _assert_sandboxed(response)
    _body(response)
