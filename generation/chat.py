"""`POST /v1/chat/completions` requests: which job one chat turn asks for, and starting it.

Chat clients (Open WebUI, LobeChat, the SDK) can only send messages, so the turn is read the way
seed 001's gateways read it (jimeng-protocol.md §10.1): the prompt is the last user message, its
`image_url` parts turn an image job into an edit or a composition, or give a video its first and
last frames. Everything else goes through the same checks, admission and idempotency as the
image and video endpoints, so a chat turn costs exactly what the equivalent API call costs.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from rest_framework.exceptions import ValidationError

from api import idempotency
from api.errors import ApiError, as_api_error
from generation import catalog
from generation import service as image_service
from generation.inputs import read_url
from generation.models import Generation, JobKind
from generation.serializers import MAX_INPUT_IMAGES, ImageRequestSerializer
from generation.views import resolve_model
from videos import service as video_service
from videos.models import VideoTask
from videos.fields import MAX_FRAMES, int_field, ratio_resolution

# Extra body fields (the SDK sends them through `extra_body`) that image jobs understand.
IMAGE_FIELDS = ("n", "size", "ratio", "resolution", "negative_prompt", "sample_strength", "seed")
IMAGE_CAPABILITIES = (catalog.IMAGE_GENERATE, catalog.IMAGE_EDIT, catalog.IMAGE_COMPOSE)
TEXT_PARTS = ("text", "input_text")


@dataclass
class ChatTurn:
    """A parsed chat request: exactly one of `image` / `video` is set."""

    spec: catalog.ModelSpec
    prompt: str
    stream: bool
    include_usage: bool
    image: dict | None = None  # kind, params, inputs, fingerprint: what create_job takes
    video: video_service.VideoRequest | None = None

    @property
    def is_video(self) -> bool:
        return self.video is not None

    def expire(self, job_id) -> bool:
        """End the job if its deadline passed (the stream's and wait_for's last resort)."""
        if self.is_video:
            return video_service.expire_overdue(job_id)
        return image_service.expire_overdue(job_id)


def last_user_turn(messages) -> tuple[str, list[tuple[str, str]]]:
    """(prompt, [(param, image URL)]) of the last user message; earlier turns are context the
    upstreams cannot use."""
    if not isinstance(messages, list) or not messages:
        raise ApiError.invalid("messages: a non-empty list of messages is required.", param="messages",
                               code="missing_required_parameter")
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, dict) and message.get("role") == "user":
            break
    else:
        raise ApiError.invalid("messages: there is no user message to take the prompt from.", param="messages",
                               code="missing_required_parameter")
    content = message.get("content")
    where = f"messages[{index}].content"
    if isinstance(content, str):
        texts, urls = [content], []
    elif isinstance(content, list):
        texts, urls = _parts(content, where)
    else:
        raise ApiError.invalid(f"{where}: expected a string or a list of content parts.", param="messages")
    prompt = "\n".join(t.strip() for t in texts if t and t.strip())
    if not prompt:
        raise ApiError.invalid(f"{where}: the last user message has no text to use as the prompt.",
                               param="messages", code="missing_required_parameter")
    return prompt, urls


def _parts(content: list, where: str) -> tuple[list[str], list[tuple[str, str]]]:
    texts: list[str] = []
    urls: list[tuple[str, str]] = []
    for i, part in enumerate(content):
        if isinstance(part, str):
            texts.append(part)
            continue
        kind = part.get("type") if isinstance(part, dict) else None
        if isinstance(part, dict) and (kind in TEXT_PARTS or (kind is None and "text" in part)):
            texts.append(str(part.get("text") or ""))
        elif isinstance(part, dict) and (kind == "image_url" or (kind is None and "image_url" in part)):
            # Both the OpenAI shape {"image_url": {"url": …}} and the older bare string occur.
            ref = part.get("image_url")
            url = ref.get("url") if isinstance(ref, dict) else ref
            urls.append((f"{where}[{i}].image_url", url))
        else:
            # Refused rather than dropped: a silently ignored file or audio part would surprise.
            raise ApiError.invalid(f"{where}[{i}]: only text and image_url parts can be used for generation "
                                   f"(got {kind!r}).", param="messages")
    return texts, urls


def _flag(value, param: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ApiError.invalid(f"{param}: expected true or false.", param=param)
    return value


def parse(request) -> ChatTurn:
    """Validate a chat request into a ChatTurn; every refusal is a 4xx before anything starts.

    Runs in a thread: image URLs are fetched here (after the model checks, so a refused request
    fetches nothing)."""
    data = request.data
    if not isinstance(data, dict):
        raise ApiError.invalid("The body must be a JSON object.", code="invalid_json")
    prompt, urls = last_user_turn(data.get("messages"))
    stream = _flag(data.get("stream"), "stream")
    options = data.get("stream_options") or {}
    include_usage = stream and isinstance(options, dict) and _flag(options.get("include_usage"),
                                                                   "stream_options.include_usage")
    requested = data.get("model") or ""
    if not isinstance(requested, str):
        raise ApiError.invalid("model: expected a string.", param="model")
    known = catalog.resolve(requested or None, default=settings.DEFAULT_IMAGE_MODEL)
    turn = dict(prompt=prompt, stream=stream, include_usage=include_usage)
    video_only = known is not None and not any(known.can(c) for c in IMAGE_CAPABILITIES)
    if video_only or (known is None and requested):
        # Unknown names end here too: resolve_video_model answers 404 (or serves `sora-*`).
        return _video_turn(request, data, requested, urls, turn)
    if known is None:  # no model sent and the default image model is not installed: its 404
        resolve_model(request, None, catalog.IMAGE_GENERATE)
    return _image_turn(request, data, requested, known, urls, turn)


def _image_turn(request, data: dict, requested: str, known: catalog.ModelSpec, urls, turn: dict) -> ChatTurn:
    if len(urls) > MAX_INPUT_IMAGES:
        raise ApiError.invalid(f"messages: at most {MAX_INPUT_IMAGES} images.", param="messages")
    if not urls:
        capability, kind = catalog.IMAGE_GENERATE, JobKind.GENERATE
    elif len(urls) == 1 or not known.can(catalog.IMAGE_COMPOSE):
        # Several images on a model that edits but cannot compose: an edit with several inputs.
        capability, kind = catalog.IMAGE_EDIT, JobKind.EDIT
    else:
        capability, kind = catalog.IMAGE_COMPOSE, JobKind.COMPOSE
    spec = resolve_model(request, requested or None, capability)
    fields = {name: data[name] for name in IMAGE_FIELDS if data.get(name) is not None}
    serializer = ImageRequestSerializer(data={"prompt": turn["prompt"], **fields})
    try:
        serializer.is_valid(raise_exception=True)
    except ValidationError as exc:
        error = as_api_error(exc)
        if error.param == "prompt":  # the client never sent a `prompt`; it sent messages
            error.param = "messages"
        raise error from None
    params = serializer.job_params()
    inputs = [read_url(url, param) for param, url in urls]
    fingerprint = idempotency.fingerprint(request.user, request.path, {"model": spec.id, "kind": kind, **params},
                                          [blob for blob, _ext in inputs])
    return ChatTurn(spec=spec, image={"kind": kind, "params": params, "inputs": inputs, "fingerprint": fingerprint},
                    **turn)


def _video_turn(request, data: dict, requested: str, urls, turn: dict) -> ChatTurn:
    spec = video_service.resolve_video_model(requested or None, request.user)
    if len(urls) > MAX_FRAMES:
        raise ApiError.invalid(f"messages: at most {MAX_FRAMES} images for a video (first and last frame).",
                               param="messages")
    if data.get("n") not in (None, 1):
        raise ApiError.invalid("n: a chat turn makes one video.", param="n")
    seconds = video_service.check_seconds(spec, int_field(data, "duration") or int_field(data, "seconds"), "duration")
    ratio, resolution, size = ratio_resolution(data)
    frames = [read_url(url, param) for param, url in urls]
    video = video_service.VideoRequest(prompt=turn["prompt"], spec=spec, requested_model=requested or spec.id,
                                       seconds=seconds, ratio=ratio, resolution=resolution, size=size,
                                       frames=frames)
    return ChatTurn(spec=spec, video=video, **turn)


def start(request, turn: ChatTurn) -> Generation | VideoTask:
    """Join the job of an identical earlier request (idempotency), or admit and queue a new one."""
    if turn.is_video:
        return video_service.start(request, turn.video)
    image = turn.image
    existing = idempotency.find_existing(Generation, request, request.user, image["fingerprint"])
    if existing is not None:
        return existing
    return image_service.create_job(api_key=request.user, spec=turn.spec, kind=image["kind"], params=image["params"],
                                    inputs=image["inputs"], idempotency_key=idempotency.idempotency_key(request),
                                    fingerprint=image["fingerprint"])
