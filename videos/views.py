"""The three video surfaces over one VideoTask model:

- the OpenAI Videos API (`/v1/videos…`, gateway-anchors.md §B),
- seed 001's synchronous `POST /v1/videos/generations`,
- seed 000's task API (`POST /v2/videos/generations`, `GET /v2/videos/generations/{id}`).
"""

from __future__ import annotations

import base64
import time

from django.conf import settings
from django.core.files.storage import default_storage
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import ApiError
from api.asyncview import AsyncAPIView
from api.reads import read
from api.threads import run_sync
from generation.inputs import read_upload, read_url
from generation.media import ranged_response, signed_url
from generation.outcomes import client_error
from generation.service import wait_for
from generation.waiting import watcher
from videos import service
from videos.fields import MAX_FRAMES, int_field, ratio_resolution, text_field
from videos.models import ACTIVE_STATUSES, JobStatus, VideoAsset, VideoTask, parse_public_id

OPENAI_STATUS = {JobStatus.QUEUED: "queued", JobStatus.RUNNING: "in_progress", JobStatus.SUCCEEDED: "completed",
                 JobStatus.FAILED: "failed"}
V2_STATUS = {JobStatus.QUEUED: "queued", JobStatus.RUNNING: "processing", JobStatus.SUCCEEDED: "succeeded",
             JobStatus.FAILED: "failed"}
MAX_LIST = 100


# --- request parsing ---------------------------------------------------------------------------

def _frames_from(request, data, *, file_fields=None, url_fields=()) -> list[tuple[bytes, str]]:
    files = []
    for name, items in request.FILES.lists():
        if file_fields is None or name in file_fields:
            files.extend((name, f) for f in items)
    urls: list[tuple[str, str]] = []
    for field in url_fields:
        if hasattr(data, "getlist"):  # form fields: repeated parts
            values = data.getlist(field)
            listed = len(values) > 1
        else:
            value = data.get(field)
            values = value if isinstance(value, list) else ([] if value is None else [value])
            listed = isinstance(value, list)
        for index, item in enumerate(values):
            url = (item.get("image_url") or item.get("url")) if isinstance(item, dict) else item
            urls.append((f"{field}[{index}]" if listed else field, url))
    if files:  # uploaded files win over URLs, as in seed 001
        if len(files) > MAX_FRAMES:
            raise ApiError.invalid(f"At most {MAX_FRAMES} frame images (first and last frame).", param=files[0][0])
        return [read_upload(f, name) for name, f in files]
    if len(urls) > MAX_FRAMES:
        raise ApiError.invalid(f"At most {MAX_FRAMES} frame images (first and last frame).", param=urls[0][0])
    return [read_url(url, name) for name, url in urls]


def _body(request):
    return request.POST if request.FILES else request.data


def _parse(request, *, seconds_fields: tuple[str, str], frames) -> service.VideoRequest:
    """What every video surface shares: prompt, model, duration, ratio and resolution."""
    data = _body(request)
    prompt = text_field(data, "prompt")
    if not prompt or not prompt.strip():
        raise ApiError.invalid("prompt: this field is required.", param="prompt", code="missing_required_parameter")
    requested = text_field(data, "model") or ""
    spec = service.resolve_video_model(requested, request.user)
    first, second = seconds_fields
    # An OpenAI model name (sora-2) is served by the default model: its durations are mapped too.
    seconds = service.check_seconds(spec, int_field(data, first) or int_field(data, second), first,
                                    nearest=requested.startswith("sora") and spec.id != requested)
    ratio, resolution, size = ratio_resolution(data)
    return service.VideoRequest(prompt=prompt, spec=spec, requested_model=requested or spec.id, seconds=seconds,
                                ratio=ratio, resolution=resolution, size=size, frames=frames(data))


def parse_openai(request) -> service.VideoRequest:
    def frames(data):
        reference = data.get("input_reference")
        if text_field(data, "input_reference[file_id]") or (isinstance(reference, dict) and reference.get("file_id")):
            raise ApiError.invalid("input_reference: file ids are not supported here; send the image itself or "
                                   "input_reference[image_url].", param="input_reference")
        url_fields = ["input_reference[image_url]"] + (["input_reference"] if isinstance(reference, (dict, str))
                                                      else [])
        return _frames_from(request, data, file_fields={"input_reference"}, url_fields=url_fields)

    return _parse(request, seconds_fields=("seconds", "duration"), frames=frames)


def parse_seed(request, *, url_fields) -> service.VideoRequest:
    return _parse(request, seconds_fields=("duration", "seconds"),
                  frames=lambda data: _frames_from(request, data, url_fields=url_fields))


# --- response shapes ---------------------------------------------------------------------------

def _epoch(value) -> int | None:
    return int(value.timestamp()) if value else None


def video_object(task: VideoTask) -> dict:
    expires = None
    if task.completed_at and task.status == JobStatus.SUCCEEDED:
        expires = _epoch(task.completed_at) + int(settings.VIDEO_RETENTION_HOURS * 3600)
    error = None
    if task.status == JobStatus.FAILED:
        shaped = client_error(task.error_code, task.error_status, task.error_message, lookup=False)
        error = {"code": shaped.code, "message": shaped.message}
    return {
        "id": task.openai_id, "object": "video", "created_at": _epoch(task.created_at),
        "completed_at": _epoch(task.completed_at), "expires_at": expires,
        "model": task.requested_model or task.model, "progress": task.progress, "prompt": task.prompt,
        "remixed_from_video_id": f"video_{task.remixed_from_id.hex}" if task.remixed_from_id else None,
        "seconds": str(task.seconds), "size": task.size or "", "status": OPENAI_STATUS[task.status], "error": error,
    }


def v2_object(task: VideoTask) -> dict:
    result = error = None
    if task.status == JobStatus.SUCCEEDED:
        video = task.assets.filter(kind=VideoAsset.Kind.VIDEO).first()
        result = {"url": signed_url(video.file.name) if video else None, "last_frame_url": None}
    elif task.status == JobStatus.FAILED:
        shaped = client_error(task.error_code, task.error_status, task.error_message, lookup=False)
        error = {"message": shaped.message, "type": shaped.type, "code": shaped.code}
    return {"id": task.task_id, "created": _epoch(task.created_at), "status": V2_STATUS[task.status],
            "model": task.requested_model or task.model, "progress": task.progress, "result": result,
            "error": error}


def own_task(request, public_id: str) -> VideoTask:
    pk = parse_public_id(public_id)
    task = VideoTask.objects.filter(pk=pk, api_key=request.user).select_related("remixed_from").first() if pk else None
    if task is None:
        raise ApiError.not_found(f"No video with id '{public_id}'.", param="video_id")
    return task


def _with_poll_hint(response: Response, task: VideoTask) -> Response:
    if task.status in ACTIVE_STATUSES:
        response["openai-poll-after-ms"] = str(settings.VIDEO_POLL_AFTER_MS)
    return response


# --- OpenAI Videos API -------------------------------------------------------------------------

class VideoCollectionView(APIView):
    def post(self, request):
        task = service.start(request, parse_openai(request))
        return _with_poll_hint(Response(video_object(task)), task)

    def get(self, request):
        try:
            limit = int(request.query_params.get("limit", 20))
        except ValueError:
            raise ApiError.invalid("limit: expected a number.", param="limit") from None
        if not 1 <= limit <= MAX_LIST:
            raise ApiError.invalid(f"limit: between 1 and {MAX_LIST}.", param="limit")
        order = request.query_params.get("order", "desc")
        if order not in ("asc", "desc"):
            raise ApiError.invalid("order: asc or desc.", param="order")
        qs = VideoTask.objects.filter(api_key=request.user).select_related("remixed_from")
        qs = qs.order_by("created_at", "id") if order == "asc" else qs.order_by("-created_at", "-id")
        after = request.query_params.get("after")
        if after:
            try:
                anchor = own_task(request, after)
            except ApiError:
                raise ApiError.not_found(f"after: no video with id '{after}'.", param="after") from None
            if order == "asc":
                qs = qs.filter(created_at__gte=anchor.created_at).exclude(created_at=anchor.created_at,
                                                                          id__lte=anchor.id)
            else:
                qs = qs.filter(created_at__lte=anchor.created_at).exclude(created_at=anchor.created_at,
                                                                          id__gte=anchor.id)
        page = list(qs[: limit + 1])
        data = [video_object(t) for t in page[:limit]]
        return Response({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                         "last_id": data[-1]["id"] if data else None, "has_more": len(page) > limit})


def _load_video(public_id: str, api_key_id: int) -> tuple[dict, bool] | None:
    pk = parse_public_id(public_id)
    if pk is None:
        return None
    # Only the columns the object shows: this runs for every poll of every client.
    task = (VideoTask.objects.filter(pk=pk, api_key_id=api_key_id)
            .only("id", "created_at", "completed_at", "requested_model", "model", "progress", "prompt",
                  "remixed_from_id", "seconds", "size", "status", "error_code", "error_status",
                  "error_message").first())
    return (video_object(task), task.status in ACTIVE_STATUSES) if task is not None else None


class VideoDetailView(AsyncAPIView):
    async def get(self, request, video_id: str):
        # The pollers' hot path: read on the shared reader threads, not a fresh thread and
        # connection per request.
        found = await read(_load_video, video_id, request.user.pk)
        if found is None:
            raise ApiError.not_found(f"No video with id '{video_id}'.", param="video_id")
        body, active = found
        response = Response(body)
        if active:
            response["openai-poll-after-ms"] = str(settings.VIDEO_POLL_AFTER_MS)
        return response

    async def delete(self, request, video_id: str):
        return await run_sync(self._delete, request, video_id)

    def _delete(self, request, video_id: str):
        task = own_task(request, video_id)
        if task.status in ACTIVE_STATUSES:
            raise ApiError(409, "Only completed or failed videos can be deleted; this one is still running.",
                           code="video_in_progress", param="video_id")
        public_id = task.openai_id
        task.delete()  # its assets cascade; their files go once that commits (generation.files_cleanup)
        return Response({"id": public_id, "object": "video.deleted", "deleted": True})


class VideoContentView(APIView):
    VARIANTS = {"video": VideoAsset.Kind.VIDEO, "thumbnail": VideoAsset.Kind.THUMBNAIL}

    def get(self, request, video_id: str):
        variant = request.query_params.get("variant", "video")
        if variant not in self.VARIANTS:
            raise ApiError.invalid(f"variant: '{variant}' is not available here; use video or thumbnail.",
                                   param="variant", code="unsupported_variant")
        task = own_task(request, video_id)
        asset = task.assets.filter(kind=self.VARIANTS[variant]).first()
        if asset is None or not default_storage.exists(asset.file.name):
            state = OPENAI_STATUS[task.status]
            raise ApiError.not_found(f"The {variant} of this video is not available (status: {state}).",
                                     param="variant")
        ext = "mp4" if variant == "video" else "jpg"
        return ranged_response(request, asset.file.name, asset.mime, filename=f"{task.openai_id}.{ext}")


class VideoRemixView(APIView):
    def post(self, request, video_id: str):
        source = own_task(request, video_id)
        prompt = text_field(request.data, "prompt")
        if not prompt or not prompt.strip():
            raise ApiError.invalid("prompt: this field is required.", param="prompt",
                                   code="missing_required_parameter")
        spec = service.resolve_video_model(source.model, request.user)
        frames = []
        for name in source.inputs:
            with default_storage.open(name, "rb") as handle:
                frames.append((handle.read(), name.rsplit(".", 1)[-1]))
        req = service.VideoRequest(prompt=prompt, spec=spec, requested_model=source.requested_model or spec.id,
                                   seconds=int(source.params.get("seconds", source.seconds)),
                                   ratio=source.params.get("ratio", "16:9"),
                                   resolution=source.params.get("resolution", "720p"), size=source.size,
                                   frames=frames)
        task = service.start(request, req, remixed_from=source)
        return _with_poll_hint(Response(video_object(task)), task)


# --- seed 001: synchronous generation ----------------------------------------------------------

class VideoGenerationsSyncView(AsyncAPIView):
    async def post(self, request):
        since = watcher().mark()
        req = await run_sync(parse_seed, request, url_fields=("file_paths", "filePaths"))
        response_format = text_field(_body(request), "response_format") or "url"
        if response_format not in ("url", "b64_json"):
            raise ApiError.invalid("response_format: url or b64_json.", param="response_format")
        task = await run_sync(service.start, request, req)
        snap = await wait_for(task, request, expire=service.expire_overdue, since=since)
        video = next((f for f in snap.files if f["kind"] == "video"), None)
        if video is None:
            raise ApiError.server_error("The video finished without a file.", status=502, code="upstream_error")
        if response_format == "b64_json":
            data = await run_sync(_read_b64, video["file"])
            item = {"b64_json": data}
        else:
            item = {"url": signed_url(video["file"])}
        item["revised_prompt"] = req.prompt
        return Response({"created": int(time.time()), "data": [item]})


def _read_b64(name: str) -> str:
    with default_storage.open(name, "rb") as handle:
        return base64.b64encode(handle.read()).decode()


# --- seed 000: task API ------------------------------------------------------------------------

class VideoTasksV2View(APIView):
    def post(self, request):
        task = service.start(request, parse_seed(request, url_fields=("images", "file_paths", "filePaths")))
        return Response(v2_object(task))


class VideoTaskV2DetailView(APIView):
    def get(self, request, task_id: str):
        return Response(v2_object(own_task(request, task_id)))
