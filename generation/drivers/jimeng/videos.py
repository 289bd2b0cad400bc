"""Video jobs: parameters → the `gen_video` draft (jimeng-protocol.md §4.4, §5.2, §9), history records →
state, progress and pace (§4.6, §6), and finished items → MP4 bytes (§4.7, §6.3).

The runner drives a video in separate calls (submit, poll, poll, …, download) that may happen in
different processes, so everything here works from what the upstream returns, not from memory.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from generation.drivers.base import GenerationBlocked, InvalidInput, UpstreamFailure

from . import config
from .client import JimengClient
from .polling import Poller, _float, _int, is_queued, polling_config, record_status


def _id() -> str:
    return str(uuid.uuid4())


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- parameters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoRequest:
    prompt: str
    model_id: str
    model_key: str
    seconds: int
    ratio: str
    resolution: str | None    # sent upstream only for the models of VIDEO_RESOLUTION_KEYS
    benefit_type: str

    @property
    def duration_ms(self) -> int:
        return self.seconds * 1000


def model_key(model_id: str, region: str, upstream_model: str = "") -> str:
    """The model_req_key of a public video model on one site; GenerationBlocked when it has none."""
    row = config.get("VIDEO_MODELS").get(model_id)
    if row is None:
        if upstream_model:
            return upstream_model  # a catalog entry may carry the key itself
        raise GenerationBlocked(f"Model {model_id!r} is not in the Jimeng video model table; add it to "
                                "VIDEO_MODELS through JIMENG_OVERRIDES.")
    if region not in row:
        offered = ", ".join(sorted(row)) or "no site"
        raise GenerationBlocked(f"Video model {model_id!r} cannot run on a {region} account: it is offered "
                                f"on {offered} only. Serve it from an account of one of those regions.")
    return row[region]


def allowed_seconds(model_id: str) -> list[int]:
    table = config.get("VIDEO_SECONDS")
    return [int(s) for s in table.get(model_id, config.get("VIDEO_SECONDS_DEFAULT"))]


def benefit_type(key: str, resolution: str | None) -> str:
    by_res = (config.get("VIDEO_BENEFIT_TYPES_BY_RESOLUTION").get(key) or {}) if resolution else {}
    if resolution and resolution in by_res:
        return by_res[resolution]
    return config.get("VIDEO_BENEFIT_TYPES").get(key) or config.get("VIDEO_BENEFIT_TYPE_DEFAULT")


def parse_request(task, region: str) -> VideoRequest:
    params = task.params or {}
    prompt = params.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidInput("A prompt is required.", param="prompt")
    key = model_key(task.model, region, getattr(task, "upstream_model", "") or "")

    allowed = allowed_seconds(task.model)
    seconds = params.get("seconds", params.get("duration"))
    if seconds in (None, ""):
        seconds = allowed[0]
    try:
        seconds = int(seconds)
    except (TypeError, ValueError):
        raise InvalidInput("seconds must be a whole number.", param="seconds") from None
    if seconds not in allowed:
        raise InvalidInput(f"{task.model} makes videos of {', '.join(map(str, sorted(allowed)))} seconds.",
                           param="seconds")

    ratio = str(params.get("ratio") or config.get("VIDEO_DEFAULT_RATIO"))
    if ratio not in config.get("VIDEO_RATIOS"):
        raise InvalidInput(f"ratio must be one of {', '.join(config.get('VIDEO_RATIOS'))}.", param="ratio")

    resolution = str(params.get("resolution") or config.get("VIDEO_DEFAULT_RESOLUTION")).lower()
    if resolution not in config.get("VIDEO_RESOLUTIONS"):
        raise InvalidInput(f"resolution must be one of {', '.join(config.get('VIDEO_RESOLUTIONS'))}.",
                           param="resolution")
    sent = resolution if key in config.get("VIDEO_RESOLUTION_KEYS") else None
    return VideoRequest(prompt=prompt, model_id=task.model, model_key=key, seconds=seconds, ratio=ratio,
                        resolution=sent, benefit_type=benefit_type(key, sent))


def upstream_submit_id(submit_id: str) -> str:
    """Our submit id as the web app writes one (a dashed UUID); the same input always gives the same id."""
    try:
        return str(uuid.UUID(str(submit_id)))
    except ValueError:
        return str(submit_id)


def random_seed() -> int:
    low, high = config.get("VIDEO_SEED_RANGE")
    return random.randrange(int(low), int(high))


# --- the draft (§4.4) ---------------------------------------------------------------------------


def frame(uri: str) -> dict:
    """An uploaded frame as the draft references it (width/height 0 are accepted, §9)."""
    return {"format": "", "height": 0, "id": _id(), "image_uri": uri, "name": "", "platform_type": 1,
            "source_from": "upload", "type": "image", "uri": uri, "width": 0}


def _metrics(req: VideoRequest, submit_id: str) -> str:
    scene: dict[str, Any] = {"type": "video", "scene": config.get("VIDEO_SCENE")}
    if req.resolution:
        scene["resolution"] = req.resolution
    scene.update({
        "modelReqKey": req.model_key, "videoDuration": req.seconds, "materialTypes": [],
        "reportParams": {"enterSource": "generate", "vipSource": "generate",
                         "extraVipFunctionKey": (f"{req.model_key}-{req.resolution}" if req.resolution
                                                 else req.model_key),
                         "useVipFunctionDetailsReporterHoc": True},
    })
    return _dumps({"promptSource": "custom", "isDefaultSeed": 1, "originSubmitId": submit_id,
                   "isRegenerate": False, "enterFrom": config.get("VIDEO_ENTER_FROM"),
                   "position": config.get("VIDEO_POSITION"), "functionMode": config.get("VIDEO_FUNCTION_MODE"),
                   "sceneOptions": _dumps([scene])})


def generate_body(req: VideoRequest, site, submit_id: str, frame_uris: list[str], seed: int) -> dict:
    """The aigc_draft/generate body: text-to-video (no frames), first frame, or first + last frame."""
    if len(frame_uris) > int(config.get("MAX_VIDEO_FRAMES")):
        raise InvalidInput(f"Jimeng takes at most {config.get('MAX_VIDEO_FRAMES')} frames (first, last).",
                           param="image")
    metrics = _metrics(req, submit_id)
    gen_input: dict[str, Any] = {
        "type": "", "id": _id(), "min_version": config.get("VIDEO_DRAFT_MIN_VERSION"), "prompt": req.prompt,
        "video_mode": int(config.get("VIDEO_MODE")), "fps": int(config.get("VIDEO_FPS")),
        "duration_ms": req.duration_ms,
    }
    if req.resolution:
        gen_input["resolution"] = req.resolution
    if frame_uris:
        gen_input["first_frame_image"] = frame(frame_uris[0])
    if len(frame_uris) > 1:
        gen_input["end_frame_image"] = frame(frame_uris[1])
    gen_input["idip_meta_list"] = []
    component_id = _id()
    draft = {
        "type": "draft", "id": _id(), "min_version": config.get("VIDEO_DRAFT_MIN_VERSION"), "min_features": [],
        "is_from_tsn": True, "version": config.get("DRAFT_VERSION"), "main_component_id": component_id,
        "component_list": [{
            "type": "video_base_component", "id": component_id,
            "min_version": config.get("VIDEO_COMPONENT_MIN_VERSION"), "aigc_mode": "workbench",
            "metadata": {"type": "", "id": _id(), "created_platform": int(config.get("CREATED_PLATFORM")),
                         "created_platform_version": "", "created_time_in_ms": str(int(time.time() * 1000)),
                         "created_did": ""},
            "generate_type": "gen_video",
            "abilities": {"type": "", "id": _id(), "gen_video": {
                "id": _id(), "type": "",
                "text_to_video_params": {
                    "type": "", "id": _id(), "video_gen_inputs": [gen_input],
                    "video_aspect_ratio": req.ratio, "seed": seed, "model_req_key": req.model_key,
                    "priority": int(config.get("VIDEO_PRIORITY")),
                },
                "video_task_extra": metrics,
            }},
            "process_type": 1,
        }],
    }
    commerce = {"benefit_type": req.benefit_type, **config.get("VIDEO_COMMERCE_INFO")}
    return {
        "extend": {"root_model": req.model_key, "m_video_commerce_info": commerce,
                   "m_video_commerce_info_list": [dict(commerce)]},
        "submit_id": submit_id, "metrics_extra": metrics, "draft_content": _dumps(draft),
        "http_common_info": {"aid": site.aid},
    }


def submit(client: JimengClient, body: dict) -> dict:
    """POST the video draft (never retried: it costs credits); the new job's `aigc_data` record."""
    referer = client.site.web + config.get("REFERER_VIDEO")
    data = client.api(config.get("PATH_GENERATE"), body, referer=referer, idempotent=False)
    record = (data or {}).get("aigc_data") if isinstance(data, dict) else None
    if not isinstance(record, dict) or not record.get("history_record_id"):
        raise UpstreamFailure("Jimeng accepted the video draft but returned no history record id.",
                              upstream_log=client.log)
    return record


# --- records ------------------------------------------------------------------------------------


def fetch(client: JimengClient, history_id: str) -> dict | None:
    """The job's history record by history id (None while the upstream does not show it)."""
    return Poller(client, result_videos, kind="video").fetch(history_id)


def fetch_by_submit_id(client: JimengClient, submit_id: str) -> dict | None:
    """The record of the job created with this submit_id (§4.6: the answer is keyed by submit_id)."""
    data = client.api(config.get("PATH_HISTORY"), {"submit_ids": [submit_id]})
    if not isinstance(data, dict):
        return None
    record = data.get(submit_id)
    if isinstance(record, dict):
        return record
    for key in ("history_list", "history_records"):
        for row in data.get(key) or []:
            if isinstance(row, dict) and submit_id in (str(row.get("submit_id") or ""),
                                                       str((row.get("task") or {}).get("submit_id") or "")):
                return row
    return None


def history_id_of(record: dict) -> str:
    task = record.get("task") or {}
    return str(record.get("history_record_id") or task.get("history_id") or task.get("task_id") or "")


@dataclass(frozen=True)
class ResultVideo:
    url: str
    width: int | None
    height: int | None
    item_id: str


def _clean(url) -> str:
    return str(url or "").replace("\\u0026", "&").strip()


def item_id_of(item: dict) -> str:
    attr = item.get("common_attr") or {}
    return str(item.get("item_id") or item.get("id") or item.get("local_item_id") or attr.get("id") or "")


def video_of(item: dict) -> ResultVideo | None:
    """The playable URL of a video item, in the order the reference lists them (§6.3)."""
    if not isinstance(item, dict):
        return None
    attr = item.get("common_attr") or {}
    video = item.get("video") or {}
    candidates = [
        ((attr.get("transcoded_video") or {}).get("origin") or {}),
        ((video.get("transcoded_video") or {}).get("origin") or {}),
    ]
    url, dims = "", {}
    for origin in candidates:
        if origin.get("video_url"):
            url, dims = origin["video_url"], origin
            break
    if not url:
        url = video.get("play_url") or video.get("download_url") or video.get("url") or ""
        dims = video
    url = _clean(url)
    if not url:
        return None
    width = _int(dims.get("width")) or _int(video.get("width"))
    height = _int(dims.get("height")) or _int(video.get("height"))
    return ResultVideo(url=url, width=width, height=height, item_id=item_id_of(item))


def result_videos(record: dict) -> list[ResultVideo]:
    out = []
    for item in record.get("item_list") or []:
        found = video_of(item)
        if found is not None:
            out.append(found)
    return out


def first_item_id(record: dict) -> str:
    for item in record.get("item_list") or []:
        if isinstance(item, dict) and item_id_of(item):
            return item_id_of(item)
    return ""


# --- state, progress and pace ---------------------------------------------------------------------

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"


def state_of(record: dict) -> str:
    """20 → queued, 42/45 (and unknown codes) → running, 50 → succeeded, 30 → failed (§6.1)."""
    status = record_status(record)
    if status == config.get("STATUS_SUCCESS"):
        return SUCCEEDED
    if status == config.get("STATUS_FAILED"):
        return FAILED
    if status in config.get("STATUS_MAYBE_DONE") and result_videos(record):
        return SUCCEEDED
    if status == config.get("STATUS_QUEUED"):
        return QUEUED
    return RUNNING


def _expected_seconds(record: dict) -> float:
    queue_cost = _float(record.get("forecast_queue_cost"), 0.0) or 0.0
    gen_cost = _float(record.get("forecast_generate_cost")) or float(config.get("VIDEO_EXPECTED_SECONDS"))
    return max(1.0, queue_cost + gen_cost)


def _elapsed(record: dict, now: float) -> float:
    created = _float(record.get("created_time"))
    if created is None:
        return 0.0
    if created > 1e11:  # milliseconds
        created /= 1000.0
    return max(0.0, now - created)


def estimate_progress(record: dict, now: float) -> int:
    """0–99 while the job runs: elapsed time against the upstream's forecast, bounded by the status.

    The record has no progress field. Time alone drives the estimate (so it only grows); the status
    caps it while queued and raises its floor once the job renders or finalises. Each term grows
    with time, so the result does too. It reaches 99 only well past the forecast, never 100.
    """
    top = int(config.get("VIDEO_PROGRESS_MAX"))
    fraction = _elapsed(record, now) / _expected_seconds(record)
    if fraction <= 1.0:
        by_time = 0.95 * top * fraction
    else:  # past the forecast: creep towards the top without reaching it
        by_time = 0.95 * top + 0.05 * top * (1.0 - math.exp(-(fraction - 1.0)))
    status = record_status(record)
    queued_max = int(config.get("VIDEO_PROGRESS_QUEUED_MAX"))
    if status == config.get("STATUS_QUEUED"):
        value = min(by_time, queued_max)
    else:
        floor = queued_max
        if status == max(config.get("STATUS_PROCESSING")):
            floor = int(config.get("VIDEO_PROGRESS_FINALIZING_FLOOR"))
        value = max(floor, by_time)
    return max(0, min(top, int(value)))


def suggested_interval(record: dict | None) -> float | None:
    """The upstream's `queue_info.polling_config.interval_seconds`, the longest we wait between polls."""
    value = _float(polling_config(record).get("interval_seconds"))
    return value if value and value > 0 else None


def poll_interval(record: dict, now: float, hint: float | None = None) -> float:
    """Seconds to wait before the next poll: slow while queued, quicker as the forecast finish nears."""
    if is_queued(record) or record_status(record) == config.get("STATUS_QUEUED"):
        interval = float(config.get("VIDEO_POLL_QUEUED_INTERVAL"))
    else:
        base = float(config.get("VIDEO_POLL_BASE_INTERVAL"))
        least = float(config.get("VIDEO_POLL_MIN_INTERVAL"))
        left = _expected_seconds(record) - _elapsed(record, now)
        # Sleep straight to the forecast finish (no polls in between that can only say "not yet"),
        # then look often enough that completion is seen under a second late.
        interval = least if left <= 0 else max(least, min(base, left))
    cap = suggested_interval(record) or hint
    return min(interval, cap) if cap else interval


def queue_meta(record: dict) -> dict:
    queue = record.get("queue_info") or {}
    out = {}
    for key in ("queue_idx", "queue_length"):
        if _int(queue.get(key)) is not None:
            out[key] = _int(queue.get(key))
    return out


# --- the high-bitrate URL and the download (§4.7) --------------------------------------------------


def hq_video(client: JimengClient, item_id: str) -> ResultVideo | None:
    """The high-bitrate version of a finished item, or None when the upstream offers none."""
    body = {"item_id_list": [item_id], "pack_item_opt": {"scene": 1, "need_data_integrity": True},
            "is_for_video_download": True}
    data = client.api(config.get("PATH_LOCAL_ITEMS"), body)
    if not isinstance(data, dict):
        return None
    items = data.get("item_list") or data.get("local_item_list") or []
    for item in items:
        if isinstance(item, dict) and item_id_of(item) in ("", item_id):
            found = video_of(item)
            if found is not None:
                return found
    if not items:
        return None
    # An unfamiliar item shape: scan the answer for a video CDN URL, the way other gateways do.
    text = json.dumps(items, ensure_ascii=False)
    for pattern in config.get("VIDEO_HQ_URL_PATTERNS"):
        match = re.search(pattern, text)
        if match:
            return ResultVideo(url=_clean(match.group(0)), width=None, height=None, item_id=item_id)
    return None


def is_mp4(data: bytes) -> bool:
    """An ISO media file starts with a box whose type, at offset 4, is `ftyp`."""
    return len(data) >= 12 and data[4:8] == b"ftyp"


def download(client: JimengClient, url: str) -> bytes | None:
    """The MP4 behind a signed URL; None when the URL was refused (expired or gone) or is not an MP4."""
    headers = {"User-Agent": config.get("BROWSER_HEADERS").get("User-Agent", ""),
               "Referer": client.site.web + "/", "Accept": "video/mp4,video/*;q=0.9,*/*;q=0.8"}
    response = client.request("GET", url, service="cdn", headers=headers, stream=True)
    try:
        if response.status_code in (401, 403, 404, 410):
            return None
        if response.status_code >= 300:
            raise UpstreamFailure(f"Downloading the Jimeng video failed (HTTP {response.status_code}).",
                                  upstream_log=client.log)
        limit = int(config.get("VIDEO_DOWNLOAD_MAX_BYTES"))
        chunks, size = [], 0
        for chunk in response.iter_content(chunk_size=256 * 1024):
            size += len(chunk)
            if size > limit:
                raise UpstreamFailure("The Jimeng video is larger than VIDEO_DOWNLOAD_MAX_BYTES.",
                                      upstream_log=client.log)
            chunks.append(chunk)
    finally:
        response.close()
    data = b"".join(chunks)
    client.log[-1]["response"] = f"<{len(data)} bytes of {response.headers.get('Content-Type') or 'unknown type'}>"
    return data if is_mp4(data) else None


def params_summary(req: VideoRequest, frames: int) -> dict[str, Any]:
    mode = {0: "text_to_video", 1: "first_frame", 2: "first_last_frames"}.get(frames, "frames")
    out = {"model": req.model_id, "model_req_key": req.model_key, "seconds": req.seconds, "ratio": req.ratio,
           "benefit_type": req.benefit_type, "mode": mode}
    if req.resolution:
        out["resolution"] = req.resolution
    return out
