"""The Jimeng / Dreamina driver the runner calls (jimeng-protocol.md §4.13 sequences).

One `run` is one attempt on one account: check credits, upload inputs (edit/compose), submit the
draft, poll, download the first n results. Runs only inside django-q2 workers; blocking I/O is fine.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from generation.drivers.base import (
    DeadlineExceeded,
    DriverError,
    DriverResult,
    DriverTask,
    GenerationBlocked,
    InvalidInput,
    UpstreamFailure,
)

from . import config, credits, errors, images
from .client import JimengClient, new_id
from .config import ConfigError
from .polling import Poller
from .upload import ImageUploader

BLEND_KINDS = ("edit", "compose")
IMAGE_KINDS = ("generate",) + BLEND_KINDS


class JimengDriver:
    provider = "jimeng"

    def __init__(self, *, clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self.clock = clock
        self.sleep = sleep

    def run(self, task: DriverTask) -> DriverResult:
        client = None
        try:
            region = task.region or getattr(task.credentials, "region", None) or "cn"
            client = JimengClient(task.credentials, region=region, proxy=task.proxy,
                                  deadline=task.deadline, clock=self.clock, sleep=self.sleep)
            if task.kind not in IMAGE_KINDS:
                raise GenerationBlocked(f"The Jimeng driver does not handle {task.kind!r} jobs yet.")
            return self._image(task, client, region)
        except ConfigError as err:
            raise GenerationBlocked(f"The Jimeng driver is misconfigured: {err}",
                                    upstream_log=client.log if client else None) from None
        except DriverError as err:
            if client is not None and not err.upstream_log:
                err.upstream_log = client.log
            raise
        finally:
            if client is not None:
                client.close()

    # --- images ----------------------------------------------------------------------------------
    def _image(self, task: DriverTask, client: JimengClient, region: str) -> DriverResult:
        req = images.parse_request(task, region)
        blend = task.kind in BLEND_KINDS
        inputs = self._read_inputs(task) if blend else []
        meta: dict = {"region": region, "model": req.model_id, "model_req_key": req.model_key,
                      "kind": "blend" if blend else "text2img", **images.params_summary(req)}

        before = None
        if config.get("CREDIT_PRECHECK"):
            before, claimed = credits.ensure_credits(client)
            if before is not None:
                meta["credits_before"] = before.total
            if claimed is not None:
                meta["credits_claimed"] = claimed.received

        submit_id = new_id()
        if blend:
            uploader = ImageUploader(client)
            uploaded = [uploader.upload(data, f"input image {i + 1}") for i, data in enumerate(inputs)]
            meta["input_images"] = len(uploaded)
            body = images.blend_body(req, client.site, submit_id, [u.uri for u in uploaded])
        else:
            seed = req.seed if req.seed is not None else images.random_seed()
            meta["seed"] = seed
            body = images.text_to_image_body(req, client.site, submit_id, seed)

        submitted_at = self.clock()
        record = images.submit(client, body)
        history_id = str(record["history_record_id"])
        meta.update(submit_id=submit_id, history_id=history_id)

        poller = Poller(client, images.result_images, kind="image", want=req.n, clock=self.clock, sleep=self.sleep)
        outcome = poller.wait(history_id, submitted=record, submitted_at=submitted_at)
        meta.update(upstream_status=outcome.status, polls=outcome.polls, finish=outcome.reason)
        if outcome.fail_code:
            meta["fail_code"] = outcome.fail_code
        if not outcome.results:
            if outcome.failed:
                raise errors.from_fail_code(outcome.fail_code, history_id=history_id, log=client.log)
            raise UpstreamFailure(f"Jimeng job {history_id} finished without any image URL.",
                                  upstream_log=client.log)

        files = self._download(client, poller, history_id, outcome.results[: req.n])
        meta["images"] = len(files)
        if len(files) < req.n:
            meta["partial"] = True
        if before is not None:
            self._credits_used(client, before, meta)
        return DriverResult(files=files, meta=meta, upstream_log=client.log)

    def _read_inputs(self, task: DriverTask) -> list[bytes]:
        paths = [Path(p) for p in task.inputs or []]
        limit = int(config.get("BLEND_MAX_INPUTS"))
        if not paths:
            raise InvalidInput("This operation needs at least one input image.", param="image")
        if len(paths) > limit:
            raise InvalidInput(f"Jimeng accepts at most {limit} input images.", param="image")
        out = []
        for i, path in enumerate(paths, 1):
            try:
                out.append(path.read_bytes())
            except OSError:
                raise InvalidInput(f"Input image {i} could not be read.", param="image") from None
        return out

    def _download(self, client: JimengClient, poller: Poller, history_id: str, wanted) -> list:
        """Download each result; a refused (expired) URL gets one fresh set of URLs from a re-poll."""
        files = []
        refreshed = None
        for index, image in enumerate(wanted):
            got = images.download(client, image)
            if got is None:
                if refreshed is None:
                    record = poller.fetch(history_id) or {}
                    refreshed = images.result_images(record)
                if index < len(refreshed):
                    got = images.download(client, refreshed[index])
            if got is None:
                raise UpstreamFailure("Jimeng refused to serve a finished image (its signed URL expired "
                                      "or vanished).", upstream_log=client.log)
            files.append(got)
        return files

    def _credits_used(self, client: JimengClient, before, meta: dict) -> None:
        """Credits spent, from a second balance read; skipped when it fails or time is short."""
        try:
            if client.remaining() < 2 * float(config.get("POLL_DEADLINE_RESERVE")):
                return
            after = credits.balance(client)
        except DeadlineExceeded:
            return
        except DriverError:
            return
        meta["credits_after"] = after.total
        meta["credits_used"] = max(0, before.total - after.total)
