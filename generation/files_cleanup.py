"""A deleted job's files leave MEDIA_ROOT once its delete has committed.

Whatever deletes a `Generation` or a `VideoTask` (the admin, a queryset's `delete()`, the cleanup
schedule, the videos API), its folders (`jobs/<id>/` or `videos/<id>/`, and
`inputs/<id>/`) are removed by the `post_delete` receivers connected in the models modules, in a
`transaction.on_commit` callback: a rolled-back delete keeps its files. Callers only delete rows.
Removal is idempotent and quiet about what is already gone, and never follows a name or a
symlink out of MEDIA_ROOT.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


def _inside(root: Path, name: str) -> Path | None:
    """Where `name` physically is under `root`, or None when it would lead out of it (an absolute
    name, `..`, a symlinked folder on the way that points outside) or is a top-level folder of
    MEDIA_ROOT (`jobs`, `inputs`, ...). The last part may itself be a symlink: removing that
    removes the link, never what it points to."""
    if not name or os.path.isabs(name):
        return None
    candidate = root / name
    if candidate.name in ("", ".", ".."):
        return None
    try:
        parent = candidate.parent.resolve()
    except (OSError, RuntimeError):
        return None
    if parent == root or not parent.is_relative_to(root):
        return None
    return parent / candidate.name


def _rmtree_error(function, path, exc_info) -> None:
    if not issubclass(exc_info[0], FileNotFoundError):  # removed meanwhile: fine
        logger.warning("could not remove %s", path, exc_info=exc_info)


def remove(names: Iterable[str]) -> int:
    """Delete these media files or folders (relative names); returns how many were there."""
    root = Path(settings.MEDIA_ROOT).resolve()
    removed = 0
    for name in dict.fromkeys(names):
        path = _inside(root, name)
        if path is None:
            logger.warning("not removing %r: not a name inside MEDIA_ROOT", name)
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, onerror=_rmtree_error)
            else:
                path.unlink()  # a file, or a symlink itself (never what it points to)
            removed += 1
        except FileNotFoundError:
            continue
        except OSError:
            logger.warning("could not remove %s", name, exc_info=True)
    if removed:
        logger.debug("removed %d media path(s)", removed)
    return removed


def remove_after_commit(names: Iterable[str], *, using: str | None = None) -> None:
    """`remove(names)` when the current transaction commits (at once outside one); never if it
    rolls back."""
    names = [name for name in names if isinstance(name, str) and name]
    if names:
        transaction.on_commit(functools.partial(remove, names), using=using, robust=True)


def generation_deleted(sender, instance, using, **kwargs) -> None:
    """post_delete of `generation.Generation`: its results and artifacts, its stored inputs."""
    if instance.pk is None:
        return
    remove_after_commit([f"jobs/{instance.pk}", f"inputs/{instance.pk}", *(instance.inputs or [])], using=using)


def video_task_deleted(sender, instance, using, **kwargs) -> None:
    """post_delete of `videos.VideoTask`: its video and thumbnail, its stored frames."""
    if instance.pk is None:
        return
    # videos.models.video_upload_to names the folder after the asset's `task_id`: the task's pk.
    remove_after_commit([f"videos/{instance.pk}", f"inputs/{instance.pk}", *(instance.inputs or [])], using=using)
