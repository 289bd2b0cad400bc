"""Image jobs: parameters → draft payloads (jimeng-protocol.md §4.1, §4.2, §5), and results → bytes.

The draft is what the web app sends: a JSON document serialised into the `draft_content` string,
with `metrics_extra` another JSON string whose `sceneOptions` is a third. Node `id`s are fresh
UUIDs the upstream does not interpret.
"""

from __future__ import annotations

import io
import json
import math
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from generation.drivers.base import (
    GenerationBlocked,
    InvalidInput,
    OutputFile,
    UpstreamFailure,
)

from . import config
from .client import JimengClient

_MIME = {"WEBP": "image/webp", "PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif",
         "AVIF": "image/avif", "HEIF": "image/heif"}


def _id() -> str:
    return str(uuid.uuid4())


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- parameters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    n: int
    ratio: str
    resolution: str           # what the client asked for
    resolution_type: str      # what is sent (nanobanana forces its own)
    width: int
    height: int
    image_ratio: int
    negative_prompt: str
    sample_strength: float
    seed: int | None          # None: let the driver pick one for text-to-image
    model_id: str
    model_key: str


def model_key(model_id: str, region: str, upstream_model: str = "") -> str:
    """The model_req_key of a public model id on one site; GenerationBlocked when it has none."""
    table = config.get("IMAGE_MODELS")
    row = table.get(model_id)
    if row is None:
        if upstream_model:
            return upstream_model  # a catalog entry may carry the key itself
        raise GenerationBlocked(f"Model {model_id!r} is not in the Jimeng model table; add it to "
                                "IMAGE_MODELS through JIMENG_OVERRIDES.")
    if region not in row:
        offered = ", ".join(sorted(row)) or "no site"
        if region == "cn" and all(r != "cn" for r in row):
            why = "it is only offered on the international Dreamina sites"
        else:
            why = f"it is offered on {offered} only"
        raise GenerationBlocked(f"Model {model_id!r} cannot run on a {region} account: {why}. "
                                "Serve it from an account of one of those regions.")
    return row[region]


def image_size(key: str, ratio: str, resolution: str, region: str) -> tuple[int, int, int, str]:
    """(width, height, image_ratio code, resolution_type) for the draft's large_image_info (§5.3)."""
    sizes = config.get("IMAGE_SIZES")
    if key in config.get("NANOBANANA_KEYS"):
        if region == "us":
            w, h, code, res = config.get("NANOBANANA_US_SIZE")
            return int(w), int(h), int(code), str(res)
        resolution = config.get("NANOBANANA_ASIA_RESOLUTION")
    if key in config.get("NANOBANANAPRO_KEYS") and resolution == "4k":
        w, h, code = config.get("NANOBANANAPRO_4K_SIZES")[ratio]
        return int(w), int(h), int(code), resolution
    w, h, code = sizes[resolution][ratio]
    return int(w), int(h), int(code), resolution


def parse_request(task, region: str) -> ImageRequest:
    params = task.params or {}
    prompt = params.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidInput("A prompt is required.", param="prompt")

    n = params.get("n", 1)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= int(config.get("MAX_IMAGES_PER_JOB")):
        raise InvalidInput(f"n must be an integer from 1 to {config.get('MAX_IMAGES_PER_JOB')}.", param="n")

    resolution = str(params.get("resolution") or config.get("DEFAULT_RESOLUTION")).lower()
    sizes = config.get("IMAGE_SIZES")
    if resolution not in config.get("RESOLUTIONS") or resolution not in sizes:
        raise InvalidInput(f"resolution must be one of {', '.join(config.get('RESOLUTIONS'))}.",
                           param="resolution")
    ratio = str(params.get("ratio") or config.get("DEFAULT_RATIO"))
    if ratio not in sizes[resolution]:
        raise InvalidInput(f"ratio must be one of {', '.join(sizes[resolution])}.", param="ratio")

    strength = params.get("sample_strength")
    if strength is None:
        strength = config.get("DEFAULT_SAMPLE_STRENGTH")
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not math.isfinite(strength) \
            or not 0 <= strength <= 1:
        raise InvalidInput("sample_strength must be a number from 0 to 1.", param="sample_strength")

    seed = params.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 32):
        raise InvalidInput("seed must be an integer from 0 to 4294967295.", param="seed")

    negative = params.get("negative_prompt") or ""
    if not isinstance(negative, str):
        raise InvalidInput("negative_prompt must be text.", param="negative_prompt")

    key = model_key(task.model, region, getattr(task, "upstream_model", "") or "")
    width, height, code, res_type = image_size(key, ratio, resolution, region)
    return ImageRequest(prompt=prompt, n=n, ratio=ratio, resolution=resolution, resolution_type=res_type,
                        width=width, height=height, image_ratio=code, negative_prompt=negative,
                        sample_strength=float(strength), seed=seed, model_id=task.model, model_key=key)


# --- payloads ---------------------------------------------------------------------------------


def _core_param(req: ImageRequest, prompt: str, *, seed: int | None) -> dict:
    core = {
        "type": "", "id": _id(), "model": req.model_key, "prompt": prompt,
        "sample_strength": req.sample_strength,
        "large_image_info": {"type": "", "id": _id(), "min_version": config.get("DRAFT_MIN_VERSION"),
                             "height": req.height, "width": req.width,
                             "resolution_type": req.resolution_type},
        "intelligent_ratio": False,
        "image_ratio": req.image_ratio,
        "negative_prompt": req.negative_prompt,
    }
    if seed is not None:
        core["seed"] = seed
    return core


def _scene(req: ImageRequest, abilities: list) -> dict:
    return {
        "type": "image", "scene": "ImageBasicGenerate", "modelReqKey": req.model_key,
        "resolutionType": req.resolution_type, "abilityList": abilities,
        "reportParams": {"enterSource": "generate", "vipSource": "generate",
                         "extraVipFunctionKey": f"{req.model_key}-{req.resolution_type}",
                         "useVipFunctionDetailsReporterHoc": True},
        "benefitCount": int(config.get("BENEFIT_COUNT")),
    }


def _metrics(submit_id: str, scene: dict) -> str:
    return _dumps({"promptSource": "custom", "generateCount": 1, "enterFrom": "click",
                   "sceneOptions": _dumps([scene]), "generateId": submit_id, "isRegenerate": False})


def _draft(generate_type: str, abilities: dict, min_version: str) -> str:
    component_id = _id()
    return _dumps({
        "type": "draft", "id": _id(), "min_version": min_version, "min_features": [],
        "is_from_tsn": True, "version": config.get("DRAFT_VERSION"), "main_component_id": component_id,
        "component_list": [{
            "type": "image_base_component", "id": component_id,
            "min_version": config.get("DRAFT_MIN_VERSION"), "aigc_mode": "workbench",
            "metadata": {"type": "", "id": _id(), "created_platform": int(config.get("CREATED_PLATFORM")),
                         "created_platform_version": "", "created_time_in_ms": str(int(time.time() * 1000)),
                         "created_did": ""},
            "generate_type": generate_type,
            "abilities": abilities,
        }],
    })


def _envelope(req: ImageRequest, site, submit_id: str, metrics: str, draft: str) -> dict:
    return {"extend": {"root_model": req.model_key}, "submit_id": submit_id, "metrics_extra": metrics,
            "draft_content": draft, "http_common_info": {"aid": site.aid}}


def random_seed() -> int:
    low, high = config.get("SEED_RANGE")
    return random.randrange(int(low), int(high))


def text_to_image_body(req: ImageRequest, site, submit_id: str, seed: int) -> dict:
    """§4.1: a `generate` ability with one core_param."""
    abilities = {"type": "", "id": _id(), "generate": {
        "type": "", "id": _id(), "core_param": _core_param(req, req.prompt, seed=seed),
        "gen_option": {"type": "", "id": _id(), "generate_all": False},
    }}
    return _envelope(req, site, submit_id, _metrics(submit_id, _scene(req, [])),
                     _draft("generate", abilities, config.get("DRAFT_MIN_VERSION")))


def blend_body(req: ImageRequest, site, submit_id: str, uris: list[str]) -> dict:
    """§4.2: a `blend` ability with one byte_edit entry per uploaded image."""
    strength = req.sample_strength
    prompt = config.get("BLEND_PROMPT_PLACEHOLDER") * len(uris) + req.prompt
    ability_list = [{
        "type": "", "id": _id(), "name": "byte_edit", "image_uri_list": [uri],
        "image_list": [{"type": "image", "id": _id(), "source_from": "upload", "platform_type": 1,
                        "name": "", "image_uri": uri, "width": 0, "height": 0, "format": "", "uri": uri}],
        "strength": strength,
    } for uri in uris]
    blend = {"type": "", "id": _id()}
    if len(uris) >= 2:
        blend["min_version"] = config.get("BLEND_MIN_VERSION")
    blend.update({
        "min_features": [],
        # The reference sends no seed for blends; an explicit one from the client is passed on.
        "core_param": _core_param(req, prompt, seed=req.seed),
        "ability_list": ability_list,
        "prompt_placeholder_info_list": [{"type": "", "id": _id(), "ability_index": i}
                                         for i in range(len(uris))],
        "postedit_param": {"type": "", "id": _id(), "generate_type": 0},
    })
    abilities = {"type": "", "id": _id(), "blend": blend,
                 "gen_option": {"type": "", "id": _id(), "generate_all": False}}
    scene_abilities = [{"abilityName": "byte_edit", "strength": strength,
                        "source": {"imageUrl": f"blob:{site.web}/{_id()}"}} for _ in uris]
    return _envelope(req, site, submit_id, _metrics(submit_id, _scene(req, scene_abilities)),
                     _draft("blend", abilities, config.get("BLEND_MIN_VERSION")))


def submit(client: JimengClient, body: dict) -> dict:
    """POST the draft; the `aigc_data` record (with history_record_id) of the new job."""
    referer = client.site.web + config.get("REFERER_IMAGE")
    data = client.api(config.get("PATH_GENERATE"), body, referer=referer, idempotent=False)
    record = (data or {}).get("aigc_data") if isinstance(data, dict) else None
    if not isinstance(record, dict) or not record.get("history_record_id"):
        raise UpstreamFailure("Jimeng accepted the draft but returned no history record id.",
                              upstream_log=client.log)
    return record


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultImage:
    url: str
    width: int | None
    height: int | None
    item_id: str = ""


def result_images(record: dict) -> list[ResultImage]:
    """Finished images of a history record, in upstream order (§6.3)."""
    out = []
    for item in record.get("item_list") or []:
        if not isinstance(item, dict):
            continue
        large = ((item.get("image") or {}).get("large_images") or [{}])[0] or {}
        attr = item.get("common_attr") or {}
        url = large.get("image_url") or attr.get("cover_url") or ""
        if not url:
            continue
        url = url.replace("\\u0026", "&")
        out.append(ResultImage(url=url, width=large.get("width"), height=large.get("height"),
                               item_id=str(attr.get("id") or item.get("item_id") or "")))
    return out


def read_image(data: bytes) -> tuple[str, int, int]:
    """(mime, width, height) of downloaded bytes; UpstreamFailure when they are not an image."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            fmt, width, height = img.format or "", img.width, img.height
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise UpstreamFailure("Jimeng's result is not a readable image.") from None
    return _MIME.get(fmt.upper(), f"image/{fmt.lower() or 'octet-stream'}"), width, height


def download(client: JimengClient, image: ResultImage) -> OutputFile | None:
    """The bytes behind a signed result URL; None when the URL was refused (expired or gone)."""
    headers = {"User-Agent": config.get("BROWSER_HEADERS").get("User-Agent", ""),
               "Referer": client.site.web + "/", "Accept": "image/avif,image/webp,image/*,*/*;q=0.8"}
    response = client.request("GET", image.url, service="cdn", headers=headers)
    if response.status_code in (401, 403, 404, 410):
        return None
    if response.status_code >= 300:
        raise UpstreamFailure(f"Downloading a Jimeng result failed (HTTP {response.status_code}).",
                              upstream_log=client.log)
    data = response.content
    if len(data) > int(config.get("DOWNLOAD_MAX_BYTES")):
        raise UpstreamFailure("A Jimeng result is larger than DOWNLOAD_MAX_BYTES.", upstream_log=client.log)
    try:
        mime, width, height = read_image(data)
    except UpstreamFailure as err:
        err.upstream_log = client.log
        raise
    return OutputFile(data=data, mime=mime, width=width, height=height, kind="image")


def params_summary(req: ImageRequest) -> dict[str, Any]:
    return {"ratio": req.ratio, "resolution": req.resolution_type, "width": req.width,
            "height": req.height, "image_ratio": req.image_ratio}
