"""Parse and validate an aigc_draft/generate body (§4.1, §4.2, §4.4, §4.5).

The draft arrives as a JSON string inside JSON (and metrics_extra nests one more
level); we decode both and reduce them to the few facts the fake acts on.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field

from . import protocol as p
from .envelope import UpstreamError

# Minimum draft version per ability, from the min_version each payload declares.
REQUIRED_DRAFT_VERSION = {"image": "3.0.2", "blend": "3.2.9", "video": "3.0.5", "omni": "3.3.9"}
BLEND_PLACEHOLDER_RE = re.compile(r"^(?:##)+|(?:##)+$")
MULTI_COUNT_RE = re.compile(r"(\d+)\s*张")


@dataclass
class GenerateRequest:
    submit_id: str
    model: str
    kind: str                       # "image" | "blend" | "video"
    prompt: str                     # as sent
    text: str                       # prompt without blend placeholders
    negative_prompt: str = ""
    width: int = 0
    height: int = 0
    resolution_type: str = "2k"
    ratio: str | None = None
    seed: int = 0
    scene: str | None = None
    aid: str | None = None
    image_uris: list = field(default_factory=list)   # blend inputs, or [first, end] frames
    video: dict | None = None
    benefit_type: str | None = None
    draft_version: str = ""


def _bad(reason: str):
    raise UpstreamError("1000", reason=reason)


def _loads(value, what: str):
    if not isinstance(value, str):
        _bad(f"{what} must be a JSON-encoded string")
    try:
        return json.loads(value)
    except ValueError:
        _bad(f"{what} is not valid JSON")


def _dict(value, what: str) -> dict:
    if not isinstance(value, dict):
        _bad(f"{what} must be an object")
    return value


def _scene_options(body: dict) -> dict:
    if "metrics_extra" not in body:
        return {}  # optional: [ZZ] blends omit it and succeed
    metrics = _dict(_loads(body["metrics_extra"], "metrics_extra"), "metrics_extra")
    options = metrics.get("sceneOptions")
    if options is None:
        return {}
    options = _loads(options, "metrics_extra.sceneOptions")
    if not isinstance(options, list):
        _bad("metrics_extra.sceneOptions must be a JSON list")
    first = options[0] if options and isinstance(options[0], dict) else {}
    return {**first, "_functionMode": metrics.get("functionMode")}


def _check_version(draft: dict, component: dict, ability: str):
    version = draft.get("version")
    if not isinstance(version, str) or not version:
        _bad("draft_content.version missing")
    needed = [REQUIRED_DRAFT_VERSION[ability]]
    needed += [v for v in (draft.get("min_version"), component.get("min_version"))
               if isinstance(v, str) and v]
    floor = max(needed, key=p.version_tuple)
    if not p.version_at_least(version, floor):
        raise UpstreamError("3018", reason=f"draft version {version} below {floor} for {ability}")


def _seed(value) -> int:
    return value if isinstance(value, int) and value >= 0 else secrets.randbelow(2 ** 32)


def _size(core: dict, resolution_type: str, ratio: str | None) -> tuple[int, int]:
    info = core.get("large_image_info")
    if isinstance(info, dict):
        width, height = info.get("width"), info.get("height")
        if isinstance(width, int) and isinstance(height, int):
            if not (0 < width <= p.MAX_IMAGE_SIDE and 0 < height <= p.MAX_IMAGE_SIDE):
                _bad(f"large_image_info {width}x{height} out of range")
            return width, height
    return p.table_size(resolution_type, ratio or "1:1")


def _image(req: GenerateRequest, core: dict):
    prompt = core.get("prompt")
    if not isinstance(prompt, str):
        _bad("core_param.prompt must be a string")
    if core.get("model") != req.model:
        _bad("core_param.model differs from extend.root_model")
    info = core.get("large_image_info") if isinstance(core.get("large_image_info"), dict) else {}
    req.resolution_type = str(info.get("resolution_type") or "2k").lower()
    if req.resolution_type not in p.IMAGE_SIZES:
        _bad(f"unknown resolution_type {req.resolution_type!r}")
    req.ratio = p.ratio_for_code(core.get("image_ratio")) if "image_ratio" in core else None
    if "image_ratio" in core and req.ratio is None:
        _bad(f"unknown image_ratio {core.get('image_ratio')!r}")
    req.width, req.height = _size(core, req.resolution_type, req.ratio)
    req.prompt = prompt
    req.text = BLEND_PLACEHOLDER_RE.sub("", prompt) if req.kind == "blend" else prompt
    req.negative_prompt = str(core.get("negative_prompt") or "")
    req.seed = _seed(core.get("seed"))


def _blend_uris(blend: dict) -> list[str]:
    abilities = blend.get("ability_list")
    if not isinstance(abilities, list) or not 1 <= len(abilities) <= 10:
        _bad("blend.ability_list must hold 1-10 entries")
    uris = []
    for ability in abilities:
        ability = _dict(ability, "ability_list entry")
        uri = None
        if isinstance(ability.get("image_uri_list"), list) and ability["image_uri_list"]:
            uri = ability["image_uri_list"][0]
        elif isinstance(ability.get("image_list"), list) and ability["image_list"]:
            first = ability["image_list"][0]
            uri = first.get("image_uri") or first.get("uri") if isinstance(first, dict) else None
        if not isinstance(uri, str) or not uri:
            _bad("blend ability without an image uri")
        uris.append(uri)
    return uris


def _frame_uri(frame) -> str | None:
    if not isinstance(frame, dict):
        return None
    uri = frame.get("image_uri") or frame.get("uri")
    return uri if isinstance(uri, str) and uri else None


def _video(req: GenerateRequest, gen_video: dict, body: dict, options: dict):
    params = _dict(gen_video.get("text_to_video_params"), "gen_video.text_to_video_params")
    inputs = params.get("video_gen_inputs")
    if not isinstance(inputs, list) or not inputs or not isinstance(inputs[0], dict):
        _bad("text_to_video_params.video_gen_inputs must be a non-empty list")
    first_input = inputs[0]
    if params.get("model_req_key") != req.model:
        _bad("text_to_video_params.model_req_key differs from extend.root_model")
    duration_ms = first_input.get("duration_ms", 5000)
    if not isinstance(duration_ms, int) or not 1000 <= duration_ms <= 60000:
        _bad(f"duration_ms {duration_ms!r} invalid")
    aspect = params.get("video_aspect_ratio") or "1:1"
    if aspect not in p.VIDEO_RATIOS:
        _bad(f"video_aspect_ratio {aspect!r} unsupported")

    omni = first_input.get("unified_edit_input")
    materials, text = [], first_input.get("prompt") or ""
    if isinstance(omni, dict):
        mode = "omni"
        for material in omni.get("material_list") or []:
            if not isinstance(material, dict):
                continue
            if material.get("material_type") == "video":
                materials.append(("video", (material.get("video_info") or {}).get("vid")))
            else:
                materials.append(("image", _frame_uri(material.get("image_info"))))
        text = " ".join(str(m.get("text") or "") for m in omni.get("meta_list") or []
                        if isinstance(m, dict) and m.get("meta_type") == "text").strip()
    else:
        first, end = _frame_uri(first_input.get("first_frame_image")), \
            _frame_uri(first_input.get("end_frame_image"))
        req.image_uris = [u for u in (first, end) if u]
        mode = {(False, False): "text", (True, False): "first_frame",
                (True, True): "first_last_frames", (False, True): "end_frame"}[
            (bool(first), bool(end))]
    if not isinstance(text, str):
        _bad("video prompt must be a string")

    commerce = (body.get("extend") or {}).get("m_video_commerce_info")
    if not isinstance(commerce, dict):
        listed = (body.get("extend") or {}).get("m_video_commerce_info_list")
        commerce = listed[0] if isinstance(listed, list) and listed and isinstance(listed[0], dict) else {}
    req.benefit_type = commerce.get("benefit_type")
    req.prompt = req.text = text
    req.seed = _seed(params.get("seed"))
    req.video = {"mode": mode, "duration_ms": duration_ms, "aspect_ratio": aspect,
                 "resolution": first_input.get("resolution") or options.get("resolution"),
                 "materials": materials, "function_mode": options.get("_functionMode")}


def parse_generate(body) -> GenerateRequest:
    body = _dict(body, "request body")
    submit_id = body.get("submit_id")
    if not isinstance(submit_id, str) or not submit_id:
        _bad("submit_id missing")
    extend = _dict(body.get("extend"), "extend")
    model = extend.get("root_model")
    if not isinstance(model, str) or not model:
        _bad("extend.root_model missing")
    common = body.get("http_common_info")
    aid = str(common.get("aid")) if isinstance(common, dict) and "aid" in common else None
    options = _scene_options(body)

    draft = _dict(_loads(body.get("draft_content"), "draft_content"), "draft_content")
    if draft.get("type") != "draft":
        _bad('draft_content.type must be "draft"')
    components = draft.get("component_list")
    if not isinstance(components, list) or not components:
        _bad("draft_content.component_list is empty")
    component = _dict(components[0], "component_list[0]")
    abilities = _dict(component.get("abilities"), "component_list[0].abilities")

    req = GenerateRequest(submit_id=submit_id, model=model, kind="image", prompt="", text="",
                          scene=options.get("scene"), aid=aid,
                          draft_version=str(draft.get("version") or ""))
    if "generate" in abilities:
        _check_version(draft, component, "image")
        generate = _dict(abilities["generate"], "abilities.generate")
        _image(req, _dict(generate.get("core_param"), "generate.core_param"))
    elif "blend" in abilities:
        req.kind = "blend"
        _check_version(draft, component, "blend")
        blend = _dict(abilities["blend"], "abilities.blend")
        _image(req, _dict(blend.get("core_param"), "blend.core_param"))
        req.image_uris = _blend_uris(blend)
    elif "gen_video" in abilities:
        req.kind = "video"
        gen_video = _dict(abilities["gen_video"], "abilities.gen_video")
        _video(req, gen_video, body, options)
        _check_version(draft, component, "omni" if req.video["mode"] == "omni" else "video")
    else:
        _bad("abilities has none of generate / blend / gen_video")
    return req


def image_count(req: GenerateRequest, override: int | None) -> int:
    if override:
        return override
    if req.scene == "ImageMultiGenerate":
        match = MULTI_COUNT_RE.search(req.text)
        return min(16, max(1, int(match.group(1)))) if match else p.DEFAULT_IMAGE_COUNT
    return p.DEFAULT_IMAGE_COUNT
