"""The synchronous image endpoints: parse, start a job, hold the request until it ends, answer.

They are async views so a waiting request costs no thread; everything that touches the database
or the disk runs off the event loop (api.threads' pool, the admission thread) before and after
the wait.
"""

from __future__ import annotations

from functools import partial

from django.conf import settings
from rest_framework.response import Response

from api import idempotency
from api.asyncview import AsyncAPIView
from api.errors import ApiError
from api.threads import run_sync
from generation import catalog
from generation.image_streams import image_stream
from generation.inputs import read_upload, read_url
from generation.models import Generation, JobKind
from generation.responses import images_response
from generation.serializers import MAX_INPUT_IMAGES, CompositionRequestSerializer, ImageRequestSerializer
from generation.service import PlannedJob, plan_job, wait_for
from generation.queueing import admitted
from generation.waiting import watcher

INLINE_PREPARE_BYTES = 64 * 1024


def resolve_model(request, requested: str | None, capability: str) -> catalog.ModelSpec:
    spec = catalog.resolve(requested or None, default=settings.DEFAULT_IMAGE_MODEL)
    name = requested or settings.DEFAULT_IMAGE_MODEL
    if spec is None:
        raise ApiError(404, catalog.not_found_message(name), code="model_not_found", param="model")
    if not spec.can(capability):
        raise ApiError.invalid(f"The model '{spec.id}' does not support {capability.split('.')[1]}.", param="model",
                               code="unsupported_model")
    if not request.user.may_use(spec.id):
        raise ApiError.forbidden(f"This API key may not use the model '{spec.id}'.", code="model_not_allowed",
                                 param="model")
    return spec


def indexed(name: str, index: int, count: int) -> str:
    """The param naming one of several uploaded files, as a JSON list's item is named."""
    return name if count == 1 else f"{name}[{index}]"


def uploaded_files(request, *names: str) -> list:
    files = []
    for name in names:
        files.extend(request.FILES.getlist(name))
    return files


class ImageJobView(AsyncAPIView):
    serializer_class = ImageRequestSerializer
    kind = JobKind.GENERATE
    capability = catalog.IMAGE_GENERATE
    takes_inputs = False  # edits and compositions read images (uploads, URLs) in `prepare`
    stream_event = "image_generation"  # the prefix of the events of `stream: true`

    async def post(self, request):
        if watcher().held >= settings.MAX_HELD_REQUESTS:
            raise ApiError.rate_limited("This server holds as many waiting requests as it may "
                                        "(MAX_HELD_REQUESTS); retry shortly.", 1.0)
        since = watcher().mark()
        if self.prepares_inline(request):
            prepared = self.prepare(request)
        else:
            prepared = await run_sync(self.prepare, request)
        job = await admitted(self.start, request, prepared, batch=not prepared["inputs"])
        if prepared["stream"]:
            return image_stream(job, self.stream_event)
        snap = await wait_for(job, request, since=since)
        shape = partial(images_response, snap, response_format=prepared["response_format"],
                        input_images=len(prepared["inputs"]))
        if prepared["response_format"] == "b64_json":
            # Reads the files: the shared pool will do (no database), rather than a fresh thread.
            body = await run_sync(shape)
        else:
            body = shape()  # signing links only: cheaper than a thread hop
        # Lets an operator find the job in the admin from a client's log line.
        return Response(self.decorate(body, prepared), headers={"x-gateway-job-id": job.public_id})

    def prepares_inline(self, request) -> bool:
        """Whether `prepare` may run on the event loop: only a small JSON body and no input
        images, so it is pure parsing (no database, no files, no URLs), cheaper than a thread."""
        try:
            length = int(request.META.get("CONTENT_LENGTH") or -1)
        except ValueError:
            return False
        return (not self.takes_inputs and request.content_type == "application/json"
                and 0 <= length <= INLINE_PREPARE_BYTES)

    def prepare(self, request) -> dict:
        # File parts are read separately; the serializer sees only the text fields.
        serializer = self.serializer_class(data=request.POST if request.FILES else request.data)
        serializer.is_valid(raise_exception=True)
        spec, kind = self.resolve(request, serializer.validated_data.get("model"))
        inputs = self.read_inputs(request, serializer)
        params = serializer.job_params()
        return {"spec": spec, "kind": kind, "params": params, "inputs": inputs,
                "response_format": serializer.validated_data["response_format"],
                "stream": serializer.validated_data["stream"],
                "fingerprint": idempotency.fingerprint(request.user, request.path, {"model": spec.id, **params},
                                                       [data for data, _ext in inputs])}

    def start(self, request, prepared) -> Generation | PlannedJob:
        """A new job, admitted once its turn at the write lock comes, unless an earlier identical
        request's job is found then (idempotency): the request joins that one."""
        existing = partial(idempotency.find_existing, Generation, request, request.user, prepared["fingerprint"])
        if prepared["inputs"]:  # admitted alone: look before storing the inputs (and before any 429)
            found = existing()
            if found is not None:
                return found
        return plan_job(api_key=request.user, spec=prepared["spec"], kind=prepared["kind"], params=prepared["params"],
                        inputs=prepared["inputs"], idempotency_key=idempotency.idempotency_key(request),
                        fingerprint=prepared["fingerprint"], existing=existing)

    def resolve(self, request, requested: str | None) -> tuple[catalog.ModelSpec, str]:
        """The model and the kind of job it runs for this endpoint."""
        return resolve_model(request, requested, self.capability), self.kind

    def read_inputs(self, request, serializer) -> list[tuple[bytes, str]]:
        return []

    def decorate(self, body: dict, prepared: dict) -> dict:
        return body


class ImageGenerationsView(ImageJobView):
    pass


class ImageEditsView(ImageJobView):
    """multipart: `image`, repeated `image`, or `image[]`; `mask` is accepted and ignored."""

    kind = JobKind.EDIT
    capability = catalog.IMAGE_EDIT
    takes_inputs = True
    stream_event = "image_edit"

    def read_inputs(self, request, serializer):
        files = uploaded_files(request, "image", "image[]")
        if not files:
            raise ApiError.invalid("image: at least one image file is required (multipart field 'image').",
                                   param="image", code="missing_required_parameter")
        if len(files) > MAX_INPUT_IMAGES:
            raise ApiError.invalid(f"image: at most {MAX_INPUT_IMAGES} images.", param="image")
        return [read_upload(f, indexed("image", i, len(files))) for i, f in enumerate(files)]


class ImageCompositionsView(ImageJobView):
    """Seed 001's compositions: JSON `images` URLs, or multipart `images` files, 1–10."""

    serializer_class = CompositionRequestSerializer
    kind = JobKind.COMPOSE
    capability = catalog.IMAGE_COMPOSE
    takes_inputs = True

    def resolve(self, request, requested):
        # A model that edits but cannot compose (Gemini) takes the images as one edit with
        # several inputs, as a chat turn with several images does.
        spec = catalog.resolve(requested or None, default=settings.DEFAULT_IMAGE_MODEL)
        if spec is not None and not spec.can(self.capability) and spec.can(catalog.IMAGE_EDIT):
            return resolve_model(request, requested, catalog.IMAGE_EDIT), JobKind.EDIT
        return super().resolve(request, requested)

    def read_inputs(self, request, serializer):
        files = uploaded_files(request, "images", "images[]", "image", "image[]")
        urls = serializer.validated_data.get("images") or []
        if files and urls:
            raise ApiError.invalid("images: send either files or URLs, not both.", param="images")
        count = len(files) or len(urls)
        if count == 0:
            raise ApiError.invalid("images: 1 to 10 input images are required.", param="images",
                                   code="missing_required_parameter")
        if count > MAX_INPUT_IMAGES:
            raise ApiError.invalid(f"images: at most {MAX_INPUT_IMAGES} images.", param="images")
        if files:
            return [read_upload(f, indexed("images", i, len(files))) for i, f in enumerate(files)]
        return [read_url(url, f"images[{i}]") for i, url in enumerate(urls)]

    def decorate(self, body, prepared):
        body["input_images"] = len(prepared["inputs"])
        body["composition_type"] = "multi_image_synthesis"
        return body
