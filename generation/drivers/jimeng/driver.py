"""The Jimeng / Dreamina driver the runner calls (jimeng-protocol.md §4.13 sequences).

One `run` is one image attempt on one account: check credits, upload inputs (edit/compose), submit
the draft, poll, download the first n results. Videos go through the four VideoDriver methods
instead (submit once, poll, download), which the video runner may call from different processes.
Runs only inside django-q2 workers; blocking I/O is fine.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from generation.drivers.base import (
    DeadlineExceeded,
    DriverError,
    DriverResult,
    DriverTask,
    GenerationBlocked,
    InvalidInput,
    OutputFile,
    UpstreamFailure,
    VideoPoll,
)

from . import config, credits, errors, images, videos
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
        # What this process saw of its video jobs (submit time, the upstream's polling hint, when a
        # record went missing, the last progress). Only an aid: a resumed job starts without it.
        self._seen: OrderedDict[str, _Seen] = OrderedDict()
        self._seen_lock = threading.Lock()

    def run(self, task: DriverTask) -> DriverResult:
        with self._client(task) as (client, region):
            if task.kind not in IMAGE_KINDS:
                raise GenerationBlocked(f"The Jimeng driver does not handle {task.kind!r} jobs yet.")
            return self._image(task, client, region)

    # --- images ----------------------------------------------------------------------------------
    def _image(self, task: DriverTask, client: JimengClient, region: str) -> DriverResult:
        req = images.parse_request(task, region)
        blend = task.kind in BLEND_KINDS
        inputs = self._read_inputs(task) if blend else []
        meta: dict = {"region": region, "model": req.model_id, "model_req_key": req.model_key,
                      "kind": "blend" if blend else "text2img", **images.params_summary(req)}

        claimed_early = False
        if config.get("CREDIT_PRECHECK"):
            before, claimed = credits.ensure_credits(client)
            if before is not None:
                meta["credits_before"] = before.total
            if claimed is not None:
                meta["credits_claimed"] = claimed.received
                claimed_early = True

        if blend:
            uploader = ImageUploader(client)
            uploaded = [uploader.upload(data, f"input image {i + 1}") for i, data in enumerate(inputs)]
            meta["input_images"] = len(uploaded)

            def build(submit_id):
                return images.blend_body(req, client.site, submit_id, [u.uri for u in uploaded])
        else:
            seed = req.seed if req.seed is not None else images.random_seed()
            meta["seed"] = seed

            def build(submit_id):
                return images.text_to_image_body(req, client.site, submit_id, seed)

        sent: dict = {}

        def submit():
            # A fresh submit id per call, as the web app makes one per click.
            sent.update(id=new_id(), at=self.clock())
            return images.submit(client, build(sent["id"]))

        # Refused for credits even after the claim: the account is parked only when it cannot pay
        # for an image, the cheapest job; otherwise the job alone moves on (errors.CreditsShort).
        record, claimed = credits.submit_paying(client, submit, cost=credits.image_cost(), what="image job",
                                                claimed=claimed_early)
        if claimed is not None:
            meta["credits_claimed"] = claimed.received
        submitted_at = sent["at"]
        history_id = str(record["history_record_id"])
        meta.update(submit_id=sent["id"], history_id=history_id)

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
        return DriverResult(files=files, meta=meta, read_log=lambda: client.log)

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

    # --- videos (VideoDriver) ----------------------------------------------------------------------
    # One account's job, split so a crashed worker can resume it without paying twice: the runner
    # stores our submit id before submit_video and the history id it returns right after.

    def submit_video(self, task: DriverTask, submit_id: str) -> str:
        """Credits, frame uploads, then one generate call; the new job's history id."""
        with self._client(task) as (client, region):
            req = videos.parse_request(task, region)
            frames = self._read_frames(task)
            claimed_early = False
            if config.get("CREDIT_PRECHECK"):
                claimed_early = credits.ensure_credits(client)[1] is not None
            uris = []
            if frames:
                uploader = ImageUploader(client)
                names = ("first frame", "last frame")
                uris = [uploader.upload(data, names[i]).uri for i, data in enumerate(frames)]
            upstream_submit = videos.upstream_submit_id(submit_id)
            body = videos.generate_body(req, client.site, upstream_submit, uris, videos.random_seed())
            submitted_at = self.clock()
            try:
                # A refused generate call creates nothing, so the retry after a claim may reuse
                # the submit id the runner stored for crash recovery.
                # An account short for this video but able to pay for images is not parked: the
                # video moves on to another account (errors.CreditsShort).
                record, _claimed = credits.submit_paying(
                    client, lambda: videos.submit(client, body), cost=credits.video_cost(req.seconds),
                    what=f"{req.seconds} s video", claimed=claimed_early)
            except DriverError as err:
                blocked = self._antibot(err, req, client)
                if blocked is not None:
                    raise blocked from None
                if not _ambiguous(err):
                    raise
                # The answer was lost, not refused: the job may exist and be charged. Look before
                # the runner tries again (elsewhere, with a new submit id).
                found = self._find(client, upstream_submit, float(config.get("VIDEO_FIND_GRACE")))
                if found is None:
                    raise
                history_id = videos.history_id_of(found)
                self._note(history_id, submitted_at=submitted_at, hint=videos.suggested_interval(found))
                return history_id
            history_id = videos.history_id_of(record)
            self._note(history_id, submitted_at=submitted_at, hint=videos.suggested_interval(record))
            return history_id

    def find_video(self, task: DriverTask, submit_id: str) -> str | None:
        """The history id of the job submitted with `submit_id`, or None if the upstream never got it.

        A just-created record can be invisible for a few seconds (§11.2), so the upstream is asked
        for VIDEO_FIND_GRACE seconds before concluding that it never arrived.
        """
        with self._client(task) as (client, _region):
            found = self._find(client, videos.upstream_submit_id(submit_id),
                               float(config.get("VIDEO_FIND_GRACE")), raise_errors=True)
            if found is None:
                return None
            history_id = videos.history_id_of(found)
            self._note(history_id, hint=videos.suggested_interval(found))
            return history_id or None

    def poll_video(self, task: DriverTask, upstream_id: str) -> VideoPoll:
        """One get_history_by_ids call, mapped onto the runner's states (jimeng-protocol.md §6.1)."""
        with self._client(task) as (client, _region):
            record = videos.fetch(client, upstream_id)
            now = self.clock()
            seen = self._note(upstream_id)
            meta = {"history_id": upstream_id}
            if record is None:
                return self._absent(client, upstream_id, seen, now, meta)
            seen.absent_since, seen.visible = None, True
            status = videos.record_status(record)
            meta.update(upstream_status=status, **videos.queue_meta(record))
            state = videos.state_of(record)
            if state == videos.FAILED:
                fail_code = str(record.get("fail_code") or "")
                meta["fail_code"] = fail_code
                error = errors.from_fail_code(fail_code, history_id=upstream_id, log=client.log, what="video")
                return VideoPoll(state="failed", progress=seen.progress, poll_after=0.0, error=error, meta=meta)
            if state == videos.SUCCEEDED:
                if not videos.result_videos(record) and not videos.first_item_id(record):
                    error = UpstreamFailure(f"Jimeng finished video job {upstream_id} without a video in it.",
                                            upstream_log=client.log)
                    return VideoPoll(state="failed", progress=seen.progress, poll_after=0.0, error=error,
                                     meta=meta)
                meta["item_id"] = videos.first_item_id(record)
                seen.record = record   # download_video starts from it instead of asking again
                return VideoPoll(state="succeeded", progress=100, poll_after=0.0, meta=meta)
            seen.progress = max(seen.progress, videos.estimate_progress(record, now))
            hint = videos.suggested_interval(record)
            if hint:
                seen.hint = hint
            return VideoPoll(state=state, progress=seen.progress,
                             poll_after=videos.poll_interval(record, now, seen.hint), meta=meta)

    def download_video(self, task: DriverTask, upstream_id: str) -> OutputFile:
        """The high-bitrate MP4 from get_local_item_list, else the preview MP4 of the record."""
        with self._client(task) as (client, _region):
            with self._seen_lock:
                seen = self._seen.get(upstream_id)
                record = seen.record if seen is not None else None
            if record is None:
                record = videos.fetch(client, upstream_id)
            if record is None or videos.state_of(record) != videos.SUCCEEDED:
                raise UpstreamFailure(f"Jimeng video job {upstream_id} is not finished, so there is nothing "
                                      "to download.", upstream_log=client.log)
            previews = videos.result_videos(record)
            item_id = (previews[0].item_id if previews else "") or videos.first_item_id(record)
            candidates = []
            if item_id and config.get("VIDEO_HQ_LOOKUP"):
                try:
                    hq = videos.hq_video(client, item_id)
                except DeadlineExceeded:
                    raise
                except DriverError:
                    hq = None  # the preview is still a good video
                if hq is not None:
                    candidates.append(hq)
            candidates.extend(previews[:1])
            if not candidates:
                raise UpstreamFailure(f"Jimeng video job {upstream_id} finished without a video URL.",
                                      upstream_log=client.log)
            for video in candidates:
                data = videos.download(client, video.url)
                if data is not None:
                    return OutputFile(data=data, mime="video/mp4", width=video.width, height=video.height,
                                      kind="video")
            # Every URL was refused (expired?): one fresh record, one more try at its preview.
            fresh = videos.result_videos(videos.fetch(client, upstream_id) or {})
            if fresh:
                data = videos.download(client, fresh[0].url)
                if data is not None:
                    return OutputFile(data=data, mime="video/mp4", width=fresh[0].width, height=fresh[0].height,
                                      kind="video")
            raise UpstreamFailure("Jimeng refused to serve the finished video, or served something that is "
                                  "not an MP4.", upstream_log=client.log)

    # --- video helpers -----------------------------------------------------------------------------
    @contextmanager
    def _client(self, task: DriverTask):
        """A client for one call of the driver; its exchanges end up on any error it raises."""
        client = None
        try:
            region = task.region or getattr(task.credentials, "region", None) or "cn"
            client = JimengClient(task.credentials, region=region, proxy=task.proxy,
                                  deadline=task.deadline, clock=self.clock, sleep=self.sleep)
            yield client, region
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

    def _read_frames(self, task: DriverTask) -> list[bytes]:
        paths = [Path(p) for p in task.inputs or []]
        limit = int(config.get("MAX_VIDEO_FRAMES"))
        if len(paths) > limit:
            raise InvalidInput(f"Jimeng takes at most {limit} frame images (first and last frame).",
                               param="image")
        out = []
        for i, path in enumerate(paths, 1):
            try:
                out.append(path.read_bytes())
            except OSError:
                raise InvalidInput(f"Frame image {i} could not be read.", param="image") from None
        return out

    def _antibot(self, err: DriverError, req: videos.VideoRequest, client: JimengClient) -> DriverError | None:
        """Seedance 2.0 behind the a_bogus gate (§4.5, §12): say so and stop, rather than cool down
        account after account on a refusal every one of them would get."""
        ret = getattr(err, "upstream_ret", "")
        if req.model_key not in config.get("VIDEO_ANTIBOT_KEYS") or ret not in config.get("VIDEO_ANTIBOT_RETS"):
            return None
        blocked = GenerationBlocked(
            f"Jimeng refused to start {req.model_id} ({err.message}). Seedance 2.0 submissions must carry "
            "an a_bogus signature that only the web app's in-browser security script makes (the upstream's "
            "'shark' anti-bot check); this driver sends plain HTTP and cannot make one. Nothing was charged. "
            "Use another video model, or serve Seedance 2.0 through a browser-signing relay.",
            upstream_log=client.log)
        blocked.upstream_ret = ret
        blocked.failover = False   # every account gets the same answer; no retry elsewhere
        return blocked

    def _find(self, client: JimengClient, submit_id: str, grace: float, *, raise_errors: bool = False):
        """The record created with `submit_id`, asking until `grace` seconds have passed."""
        until = self.clock() + max(0.0, grace)
        interval = max(0.05, float(config.get("VIDEO_FIND_INTERVAL")))
        answered = False
        last_error: DriverError | None = None
        while True:
            try:
                found = videos.fetch_by_submit_id(client, submit_id)
                answered = True
                if found is not None:
                    return found
            except DeadlineExceeded:
                raise
            except UpstreamFailure as err:
                last_error = err
            except DriverError:
                if raise_errors:
                    raise
                return None
            left = min(until - self.clock(), client.remaining() - float(config.get("POLL_DEADLINE_RESERVE")))
            if left <= 0:
                break
            self.sleep(min(interval, left))
        if raise_errors and not answered and last_error is not None:
            raise last_error
        return None

    def _absent(self, client: JimengClient, upstream_id: str, seen: "_Seen", now: float, meta: dict) -> VideoPoll:
        """No record yet: normal right after submit (eventual consistency), a lost job after the grace."""
        if seen.absent_since is None:
            # Never seen yet: missing since the submit. Seen before: missing from now on.
            first = seen.submitted_at is not None and not seen.visible
            seen.absent_since = seen.submitted_at if first else now
        meta["upstream_status"] = None
        missing_for = now - seen.absent_since
        if missing_for > float(config.get("POLL_MISSING_GRACE_VIDEO")):
            error = UpstreamFailure(f"Jimeng lost track of video job {upstream_id}: its history record has been "
                                    f"missing for {int(missing_for)} s.", upstream_log=client.log)
            return VideoPoll(state="failed", progress=seen.progress, poll_after=0.0, error=error, meta=meta)
        wait = float(config.get("VIDEO_POLL_ABSENT_INTERVAL"))
        if seen.hint:
            wait = min(wait, seen.hint)
        return VideoPoll(state="queued", progress=seen.progress, poll_after=wait, meta=meta)

    def _note(self, upstream_id: str, *, submitted_at: float | None = None, hint: float | None = None) -> "_Seen":
        with self._seen_lock:
            seen = self._seen.get(upstream_id)
            if seen is None:
                seen = self._seen[upstream_id] = _Seen()
                while len(self._seen) > _SEEN_MAX:
                    self._seen.popitem(last=False)
            else:
                self._seen.move_to_end(upstream_id)
            if submitted_at is not None:
                seen.submitted_at = submitted_at
            if hint:
                seen.hint = hint
            return seen


_SEEN_MAX = 1024


@dataclass
class _Seen:
    submitted_at: float | None = None
    hint: float | None = None
    absent_since: float | None = None
    progress: int = 0
    record: dict | None = None    # the finished record, once seen
    visible: bool = False         # the record has been seen at least once


def _ambiguous(err: DriverError) -> bool:
    """A generate call that failed without an upstream verdict (HTTP 5xx, a dropped connection)."""
    return isinstance(err, UpstreamFailure) and not getattr(err, "upstream_ret", None)
