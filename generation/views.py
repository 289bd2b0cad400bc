"""The synchronous image endpoints: parse, start a job, hold the request until it ends, answer.

They are async views so a waiting request costs no thread; everything that touches the database
or the disk runs through sync_to_async before and after the wait.
"""

from __future__ import annotations

from adrf.views import APIView
from asgiref.sync import sync_to_async
from django.conf import settings
from rest_framework.response import Response

from api import idempotency
from api.errors import ApiError
from generation import catalog
from generation.inputs import read_upload, read_url
from generation.models import Generation, JobKind
from generation.responses import images_response
from generation.serializers import MAX_INPUT_IMAGES, CompositionRequestSerializer, ImageRequestSerializer
from generation.service import create_job, wait_for
from generation.queueing import admission_gate
from generation.waiting import release_request_resources, watcher


def resolve_model(request, requested: str | None, capability: str) -> catalog.ModelSpec:
    spec = catalog.resolve(requested or None, default=settings.DEFAULT_IMAGE_MODEL)
    name = requested or settings.DEFAULT_IMAGE_MODEL
    if spec is None:
        raise ApiError(404, f"The model '{name}' does not exist.", code="model_not_found", param="model")
    if not spec.can(capability):
        raise ApiError.invalid(f"The model '{spec.id}' does not support {capability.split('.')[1]}.", param="model",
                               code="unsupported_model")
    if not request.user.may_use(spec.id):
        raise ApiError.forbidden(f"This API key may not use the model '{spec.id}'.", code="model_not_allowed",
                                 param="model")
    return spec


def uploaded_files(request, *names: str) -> list:
    files = []
    for name in names:
        files.extend(request.FILES.getlist(name))
    return files


class ImageJobView(APIView):
    serializer_class = ImageRequestSerializer
    kind = JobKind.GENERATE
    capability = catalog.IMAGE_GENERATE

    async def post(self, request):
        if watcher().held >= settings.MAX_HELD_REQUESTS:
            raise ApiError.rate_limited("This server holds as many waiting requests as it may "
                                        "(MAX_HELD_REQUESTS); retry shortly.", 1.0)
        prepared = await sync_to_async(self.prepare)(request)
        await release_request_resources()
        async with admission_gate():
            job = await sync_to_async(self.start)(request, prepared)
        snap = await wait_for(job, request)
        # No database here: the shared pool will do, rather than a fresh thread for this request.
        body = await sync_to_async(images_response, thread_sensitive=False)(
            snap, response_format=prepared["response_format"], input_images=len(prepared["inputs"]))
        # Lets an operator find the job in the admin from a client's log line.
        return Response(self.decorate(body, prepared), headers={"x-gateway-job-id": job.public_id})

    def prepare(self, request) -> dict:
        # File parts are read separately; the serializer sees only the text fields.
        serializer = self.serializer_class(data=request.POST if request.FILES else request.data)
        serializer.is_valid(raise_exception=True)
        spec = resolve_model(request, serializer.validated_data.get("model"), self.capability)
        inputs = self.read_inputs(request, serializer)
        params = serializer.job_params()
        return {"spec": spec, "params": params, "inputs": inputs,
                "response_format": serializer.validated_data["response_format"],
                "fingerprint": idempotency.fingerprint(request.user, request.path, {"model": spec.id, **params},
                                                       [data for data, _ext in inputs])}

    def start(self, request, prepared) -> Generation:
        """Join the job of an earlier identical request (idempotency), or start a new one."""
        existing = idempotency.find_existing(Generation, request, request.user, prepared["fingerprint"])
        if existing is not None:
            return existing
        return create_job(api_key=request.user, spec=prepared["spec"], kind=self.kind, params=prepared["params"],
                          inputs=prepared["inputs"], idempotency_key=idempotency.idempotency_key(request),
                          fingerprint=prepared["fingerprint"])

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

    def read_inputs(self, request, serializer):
        files = uploaded_files(request, "image", "image[]")
        if not files:
            raise ApiError.invalid("image: at least one image file is required (multipart field 'image').",
                                   param="image", code="missing_required_parameter")
        if len(files) > MAX_INPUT_IMAGES:
            raise ApiError.invalid(f"image: at most {MAX_INPUT_IMAGES} images.", param="image")
        return [read_upload(f, "image") for f in files]


class ImageCompositionsView(ImageJobView):
    """Seed 001's compositions: JSON `images` URLs, or multipart `images` files, 1–10."""

    serializer_class = CompositionRequestSerializer
    kind = JobKind.COMPOSE
    capability = catalog.IMAGE_COMPOSE

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
            return [read_upload(f, "images") for f in files]
        return [read_url(url, f"images[{i}]") for i, url in enumerate(urls)]

    def decorate(self, body, prepared):
        body["input_images"] = len(prepared["inputs"])
        body["composition_type"] = "multi_image_synthesis"
        return body
