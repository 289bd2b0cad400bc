"""JSON shapes of generate responses, history records and result items (§4.1, §4.6, §4.7)."""

from __future__ import annotations

from dataclasses import dataclass

from . import cdn
from . import protocol as p
from .jobs import Job


@dataclass
class Links:
    """Builds absolute, signed CDN URLs for one response."""
    base: str
    signer: cdn.UrlSigner
    now: float
    ttl: int
    image_format: str

    def signed(self, path: str, job: Job, prefix: str = "") -> str:
        expires = int(self.now) - 60 if "cdn_expired" in job.modes else int(self.now + self.ttl)
        url = f"{self.base}{path}?{prefix}{self.signer.query(path, expires)}"
        # Real responses sometimes carry a literal "\u0026"; clients must unescape it.
        return url.replace("&", "\\u0026") if "escaped_urls" in job.modes else url

    def image(self, job: Job, asset: str, width: int, height: int, ext: str | None = None) -> str:
        sid = p.SITES[job.site][3]
        path = cdn.image_path(cdn.image_bucket(job.site, sid), sid, asset, width, height,
                              ext or self.image_format)
        return self.signed(path, job)

    def video(self, job: Job, asset: str, variant: str) -> str:
        return self.signed(cdn.video_path(job.site, asset, variant), job,
                           prefix="mime_type=video_mp4&")


def fit(width: int, height: int, box_w: int, box_h: int) -> tuple[int, int]:
    scale = min(1.0, box_w / width, box_h / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def model_info(job: Job) -> dict:
    table = p.VIDEO_MODELS if job.kind == "video" else p.IMAGE_MODELS
    return {"model_name": table.get(job.model, ("",))[0], "model_req_key": job.model}


def queue_block(position: int, length: int, status: int | None, polling: dict) -> dict:
    return {"queue_idx": position if status == p.STATUS_QUEUED else 0, "priority": 3,
            "queue_status": 2 if status == p.STATUS_QUEUED else 0,
            "queue_length": length if status == p.STATUS_QUEUED else 0,
            "polling_config": dict(polling)}


def _task(job: Job, status: int) -> dict:
    done = status in (p.STATUS_DONE, p.STATUS_FAILED)
    return {"task_id": job.history_id, "submit_id": job.submit_id, "aid": 0, "status": status,
            "finish_time": int(job.finish_time()) if done else 0,
            "history_id": job.history_id, "task_payload": None, "original_input": None,
            "req_first_frame_image": None}


def record(job: Job, status: int, finished: int, links: Links, queue: dict, uid: int,
           scenes: list | None = None) -> dict:
    """One value of get_history_by_ids' keyed `data` map (also the generate aigc_data)."""
    items = []
    if finished:
        if job.kind == "video":
            items = [video_item(job, job.items[0], links, hq=False)]
        else:
            items = [image_item(job, item, i, links, scenes) for i, item in
                     enumerate(job.items[:finished])]
    started = status is not None and status != p.STATUS_QUEUED
    return {
        "generate_type": job.generate_type,
        "history_record_id": job.history_id,
        "origin_history_record_id": None,
        "created_time": round(job.created, 6),
        "item_list": items,
        "origin_item_list": [],
        "task": _task(job, status),
        "status": status,
        "fail_code": job.fail_code() if status == p.STATUS_FAILED else "",
        "fail_starling_key": "",
        "fail_starling_message": "",
        "mode": "workbench",
        "uid": uid,
        "submit_id": job.submit_id,
        "generate_id": job.logid,
        "history_group_key": job.text,
        "model_info": model_info(job),
        "total_image_count": job.count if started else 0,
        "finished_image_count": finished,
        "image_type": 3,
        "forecast_generate_cost": max(1, round(job.delay)),
        "forecast_queue_cost": 0,
        "queue_info": queue,
    }


def image_item(job: Job, item, index: int, links: Links, scenes: list | None) -> dict:
    sid = p.SITES[job.site][3]
    uri = f"{cdn.image_bucket(job.site, sid)}/{item.asset}"
    boxes = [(str(s.get("uniq_key") or s.get("width")), int(s.get("width") or 0),
              int(s.get("height") or 0), str(s.get("format") or links.image_format))
             for s in (scenes or []) if s.get("scene") == "normal" and s.get("width")]
    boxes = boxes or [(str(n), n, n, links.image_format) for n in (360, 720, 1080)]
    cover_map = {}
    for key, box_w, box_h, fmt in boxes:
        w, h = fit(job.width, job.height, box_w, box_h or box_w)
        cover_map[key] = links.image(job, item.asset, w, h, fmt if fmt in ("png", "jpeg", "webp") else None)
    cover_w, cover_h = fit(job.width, job.height, 720, 720)
    no_images = "no_large_images" in job.modes
    return {
        "common_attr": {
            "id": item.item_id, "effect_id": item.item_id, "effect_type": 9, "title": "",
            "description": job.text,
            "cover_url": "" if no_images else links.image(job, item.asset, cover_w, cover_h),
            "cover_url_map": {} if no_images else cover_map,
            "create_time": int(job.created), "status": 102,
        },
        "image": {"large_images": [] if no_images else [{
            "image_uri": uri, "image_url": links.image(job, item.asset, job.width, job.height),
            "width": job.width, "height": job.height, "format": links.image_format,
        }]},
        "aigc_image_params": {
            "generate_type": job.generate_type,
            "text2image_params": {
                "prompt": job.prompt, "seed": job.seed,
                "model_config": model_info(job),
                "large_image_info": {"width": job.width, "height": job.height,
                                     "resolution_type": job.resolution_type},
            },
        },
    }


def video_dims(job: Job, hq: bool) -> tuple[int, int]:
    width, height = p.VIDEO_FRAME_SIZES[job.video["aspect_ratio"]]
    return (width, height) if hq else (width // 2, height // 2)


def video_item(job: Job, item, links: Links, hq: bool) -> dict:
    width, height = video_dims(job, hq)
    url = links.video(job, item.asset, "origin" if hq else "preview")
    cover = links.image(job, item.asset, width, height, "jpeg")
    origin = {"video_url": url, "width": width, "height": height,
              "duration": job.video["duration_ms"] / 1000, "format": "mp4",
              "bitrate": 6297 if hq else 1152, "definition": "720p" if hq else "360p"}
    return {
        "id": item.item_id, "item_id": item.item_id, "local_item_id": item.item_id,
        "common_attr": {
            "id": item.item_id, "effect_id": item.item_id, "title": "",
            "description": job.text, "cover_url": cover, "create_time": int(job.created),
            "transcoded_video": {"origin": origin},
        },
        "video": {
            "video_id": "v0" + item.asset[:30], "duration": origin["duration"],
            "width": width, "height": height, "fps": 24, "cover_url": cover,
            "transcoded_video": {"origin": dict(origin)},
            "play_url": url, "download_url": url, "url": url,
        },
        "aigc_video_params": {"text2video_params": {
            "video_aspect_ratio": job.video["aspect_ratio"], "model_req_key": job.model,
            "video_gen_inputs": [{"prompt": job.text, "duration_ms": job.video["duration_ms"],
                                  "fps": 24}],
        }},
    }
