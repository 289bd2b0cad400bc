"""Deleting a job or a video task, however it is done, removes its files once the delete commits,
and only then; nothing outside MEDIA_ROOT is ever touched.

transactional_db: the deletes really commit (or roll back), so the on_commit callbacks run as
they do in production.
"""

import logging
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from generation import files_cleanup
from generation.models import FailureArtifact, GeneratedFile, Generation
from videos.models import VideoAsset, VideoTask

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def admin_client(client, django_user_model, transactional_db):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def make_job(*, created_at=None) -> tuple[Generation, list[Path]]:
    job = Generation(provider="gemini", model="gemini-image", status="failed", deadline_at=timezone.now(),
                     created_at=created_at or timezone.now())
    job.inputs = [default_storage.save(f"inputs/{job.id}/input_0.png", ContentFile(PNG))]
    job.save()
    image = GeneratedFile(job=job, kind="image", index=0, mime="image/png", size_bytes=len(PNG))
    image.file.save("image_0.png", ContentFile(PNG), save=False)
    image.save()
    for kind, name, data in (("html", "attempt1_gemini-page.html", b"<html></html>"),
                             ("console", "attempt1_gemini-console.log", b"[log]"),
                             ("screenshot", "attempt1_gemini-page.png", PNG)):
        artifact = FailureArtifact(job=job, kind=kind, attempt=1)
        artifact.file.save(name, ContentFile(data), save=False)
        artifact.save()
    names = [image.file.name, *job.inputs, *job.artifacts.values_list("file", flat=True)]
    return job, [Path(default_storage.path(name)) for name in names]


def make_video(*, created_at=None) -> tuple[VideoTask, list[Path]]:
    task = VideoTask(provider="sleepy", model="sleepy-video", status="succeeded", deadline_at=timezone.now(),
                     created_at=created_at or timezone.now())
    task.inputs = [default_storage.save(f"inputs/{task.id}/frame_0.png", ContentFile(PNG))]
    task.save()
    for kind, name, mime in (("video", "video.mp4", "video/mp4"), ("thumbnail", "thumbnail.jpg", "image/jpeg")):
        asset = VideoAsset(task=task, kind=kind, mime=mime, size_bytes=4)
        asset.file.save(name, ContentFile(b"data"), save=False)
        asset.save()
    names = [*task.inputs, *task.assets.values_list("file", flat=True)]
    return task, [Path(default_storage.path(name)) for name in names]


def gone(paths) -> bool:
    return not any(path.exists() for path in paths) and not any(path.parent.exists() for path in paths)


def test_admin_bulk_delete_removes_job_files(admin_client, media):
    (job, paths), (_other, kept) = make_job(), make_job()
    assert all(path.exists() for path in paths)
    response = admin_client.post("/admin/generation/generation/",
                                 {"action": "delete_selected", "_selected_action": [str(job.pk)], "post": "yes"})
    assert response.status_code == 302
    assert not Generation.objects.filter(pk=job.pk).exists()
    assert gone(paths)  # files, artifacts, inputs and their folders
    assert all(path.exists() for path in kept)  # the job that was not selected keeps its files


def test_admin_single_delete_removes_job_files(admin_client, media):
    job, paths = make_job()
    response = admin_client.post(f"/admin/generation/generation/{job.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Generation.objects.filter(pk=job.pk).exists()
    assert gone(paths)


def test_admin_bulk_delete_removes_video_files(admin_client, media):
    (task, paths), (_other, kept) = make_video(), make_video()
    response = admin_client.post("/admin/videos/videotask/",
                                 {"action": "delete_selected", "_selected_action": [str(task.pk)], "post": "yes"})
    assert response.status_code == 302
    assert not VideoTask.objects.filter(pk=task.pk).exists()
    assert gone(paths)
    assert all(path.exists() for path in kept)


def test_model_and_queryset_delete_remove_files(transactional_db, media):
    job, job_paths = make_job()
    task, task_paths = make_video()
    job.delete()
    task.delete()
    assert gone(job_paths) and gone(task_paths)
    (_, job_paths), (_, task_paths) = make_job(), make_video()
    Generation.objects.all().delete()
    VideoTask.objects.all().delete()
    assert gone(job_paths) and gone(task_paths)


def test_rolled_back_delete_keeps_the_files(transactional_db, media):
    job, job_paths = make_job()
    task, task_paths = make_video()
    job_id = job.pk  # delete() clears it on the instance
    with pytest.raises(RuntimeError), transaction.atomic():
        job.delete()
        VideoTask.objects.filter(pk=task.pk).delete()
        raise RuntimeError("changed my mind")
    assert Generation.objects.filter(pk=job_id).exists() and VideoTask.objects.filter(pk=task.pk).exists()
    assert all(path.exists() for path in job_paths + task_paths)


def test_files_wait_for_the_commit(transactional_db, media):
    job, paths = make_job()
    with transaction.atomic():
        job.delete()
        assert all(path.exists() for path in paths)  # the delete may still roll back
    assert gone(paths)


def test_cleanup_removes_everything_without_errors(transactional_db, media, caplog):
    from generation.housekeeping import cleanup

    old = timezone.now() - timedelta(hours=48)
    (_, job_paths), (_, task_paths) = make_job(created_at=old), make_video(created_at=old)
    (_, fresh), (_, fresh_video) = make_job(), make_video()
    with caplog.at_level(logging.WARNING):
        counts = cleanup(24)
    assert counts["jobs"] == 1 and counts["videos"] == 1
    assert gone(job_paths) and gone(task_paths)  # the files cleanup deleted and the folders they left
    assert all(path.exists() for path in fresh + fresh_video)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_never_outside_media_root(media, tmp_path, caplog):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    (media / "jobs").mkdir(parents=True)
    os.symlink(outside, media / "jobs" / "linked")
    with caplog.at_level(logging.WARNING):
        files_cleanup.remove(["../outside/keep.txt", str(outside / "keep.txt"), "jobs/linked/keep.txt", "",
                              "jobs/../..", "jobs", "jobs/missing"])
    assert (outside / "keep.txt").read_text() == "mine"
    assert (media / "jobs").is_dir()
    refused = [r.getMessage() for r in caplog.records if r.name == "generation.files_cleanup"]
    assert len(refused) == 6 and not any("missing" in message for message in refused)
    files_cleanup.remove(["jobs/linked"])  # the link itself may go, never what it points to
    assert not (media / "jobs" / "linked").exists() and (outside / "keep.txt").exists()
