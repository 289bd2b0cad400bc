"""ImageX / VOD OpenAPI (`/?Action=...`) and the upload host (`/upload/v1/<StoreUri>`), §7."""

from __future__ import annotations

import hashlib
import json

from werkzeug.wrappers import Request, Response

from . import envelope, inject, media, sigv4
from . import protocol as p
from .failures import UPLOAD
from .uploads import crc32_hex

# Action -> (service, version, HTTP method, endpoint name)
ACTIONS = {
    "ApplyImageUpload": ("imagex", p.IMAGEX_VERSION, "GET", "apply_upload"),
    "CommitImageUpload": ("imagex", p.IMAGEX_VERSION, "POST", "commit_upload"),
    "ApplyUploadInner": ("vod", p.VOD_VERSION, "GET", "apply_upload"),
    "CommitUploadInner": ("vod", p.VOD_VERSION, "POST", "commit_upload"),
}


class _Call:
    def __init__(self, request: Request, state, now: float):
        self.request, self.state, self.now = request, state, now
        self.action = request.args.get("Action", "")
        self.service, self.version, self.method, self.endpoint = ACTIONS[self.action]
        self.cred = None
        self.pending = None

    def region(self) -> str:
        if self.cred is None:
            return p.VOD_SIGV4_REGION
        return p.SITES[self.cred.site][2] if self.service == "imagex" else p.VOD_SIGV4_REGION

    def error(self, kind: tuple[str, int], message: str, status: int) -> Response:
        return envelope.openapi(self.action, self.version, self.service, self.region(),
                                error=(kind[0], kind[1], message), status=status)

    def ok(self, result: dict) -> Response:
        return envelope.openapi(self.action, self.version, self.service, self.region(), result)


def endpoint_of(request: Request) -> str | None:
    entry = ACTIONS.get(request.args.get("Action", ""))
    return entry[3] if entry else None


def _authenticate(call: _Call) -> Response | None:
    """SigV4 against issued STS keys; sets call.cred. Returns an error response or None."""
    request, state = call.request, call.state
    match = sigv4.AUTH_RE.match((request.headers.get("Authorization") or "").strip())
    access_key = match.group(1).split("/")[0] if match else ""
    with state.lock:
        cred = state.uploads.credentials.get(access_key)
    call.cred = cred
    taken = state.failures.take(call.endpoint, cred.session if cred else None)
    if taken is not None:
        failure, arg = taken
        if failure.kind == UPLOAD:
            call.pending = failure.name
        else:
            inject.apply(failure, arg, "openapi", None, state.config.slow_seconds, call.endpoint)
    if cred is not None and cred.expires_at <= call.now:
        return call.error(p.OPENAPI_TOKEN_ERROR, "invalid token", 401)
    if call.pending == "invalid_token":
        return call.error(p.OPENAPI_TOKEN_ERROR, "invalid token", 401)
    wanted_scene = 2 if call.service == "imagex" else 1
    if cred is not None and cred.scene != wanted_scene:
        return call.error(p.OPENAPI_AUTH_ERROR, f"STS token of scene {cred.scene} used for "
                          f"{call.service}", 401)
    allowed = {p.SITES[cred.site][2]} if cred else set()
    if call.service == "vod":
        allowed.add(p.VOD_SIGV4_REGION)
    verdict = sigv4.verify(
        request.method, request.path, request.query_string.decode("latin-1"), request.headers,
        request.get_data(cache=True),
        lambda ak: (cred.secret_key, cred.session_token) if cred and ak == cred.access_key else None,
        call.service, allowed)
    if not verdict.ok:
        return call.error(p.OPENAPI_AUTH_ERROR, verdict.message, 401)
    if call.pending == "apply_error":
        return call.error(p.OPENAPI_AUTH_ERROR, "injected apply_error", 401)
    return None


def handle_openapi(request: Request, state, now: float, base_netloc: str) -> Response:
    if request.args.get("Action", "") not in ACTIONS:
        return envelope.openapi(request.args.get("Action", ""), request.args.get("Version", ""),
                                "imagex", "", error=(*p.OPENAPI_PARAM_ERROR, "unknown Action"),
                                status=400)
    call = _Call(request, state, now)
    if request.method != call.method:
        return call.error(p.OPENAPI_PARAM_ERROR, f"{call.action} expects {call.method}", 405)
    failed = _authenticate(call)
    if failed is not None:
        return failed
    if request.args.get("Version") != call.version:
        return call.error(p.OPENAPI_PARAM_ERROR, f"Version must be {call.version}", 400)
    if call.action.startswith("Apply"):
        return _apply(call, base_netloc)
    return _commit(call)


def _apply(call: _Call, base_netloc: str) -> Response:
    args, cred, state = call.request.args, call.cred, call.state
    try:
        size = int(args.get("FileSize")) if args.get("FileSize") is not None else None
    except ValueError:
        return call.error(p.OPENAPI_PARAM_ERROR, "FileSize must be an integer", 400)
    if call.service == "imagex":
        service_id = p.SITES[cred.site][3]
        if args.get("ServiceId") != service_id:
            return call.error(p.OPENAPI_PARAM_ERROR, f"ServiceId must be {service_id}", 400)
        zone = "cn" if cred.site == "cn" else "alisg"
        with state.lock:
            slot = state.uploads.reserve(cred, "image", f"tos-{zone}-i-{service_id}", size)
        return call.ok({"UploadAddress": {
            "StoreInfos": [{"StoreUri": slot.store_uri, "Auth": slot.auth,
                            "UploadID": hashlib.md5(slot.session_key.encode()).hexdigest()}],
            "UploadHosts": [base_netloc], "SessionKey": slot.session_key,
        }})
    if args.get("SpaceName") != p.VOD_SPACE:
        return call.error(p.OPENAPI_PARAM_ERROR, f"SpaceName must be {p.VOD_SPACE}", 400)
    with state.lock:
        slot = state.uploads.reserve(cred, "video", f"tos-cn-v-{p.VOD_SPACE}", size)
    return call.ok({"InnerUploadAddress": {"UploadNodes": [{
        "UploadHost": base_netloc, "SessionKey": slot.session_key, "Vid": slot.vid,
        "Type": "video",
        "StoreInfos": [{"StoreUri": slot.store_uri, "Auth": slot.auth,
                        "UploadID": hashlib.md5(slot.session_key.encode()).hexdigest()}],
    }]}})


def _commit(call: _Call) -> Response:
    state = call.state
    try:
        body = json.loads(call.request.get_data(cache=True) or b"{}")
        session_key = body.get("SessionKey")
    except (ValueError, AttributeError):
        return call.error(p.OPENAPI_PARAM_ERROR, "body must be JSON with SessionKey", 400)
    with state.lock:
        slot = state.uploads.slots.get(session_key or "")
    if slot is None or slot.session != call.cred.session:
        return call.error(p.OPENAPI_PARAM_ERROR, "unknown SessionKey", 400)
    if call.service == "imagex":
        return _commit_image(call, slot)
    return _commit_video(call, slot)


def _commit_image(call: _Call, slot) -> Response:
    info = media.probe_image(slot.data) if slot.data is not None else None
    if call.pending == "commit_error" or info is None:
        why = "injected commit_error" if call.pending else (
            "nothing uploaded" if slot.data is None else "uploaded bytes are not an image")
        response = call.ok({"Results": [{"Uri": slot.store_uri,
                                         "UriStatus": p.URI_STATUS_FAILED}], "PluginResult": []})
        response.headers[envelope.REASON_HEADER] = why
        return response
    meta = {"width": info["width"], "height": info["height"], "format": info["format"]}
    with call.state.lock:
        call.state.uploads.commit(slot, meta)
    return call.ok({
        "Results": [{"Uri": slot.store_uri, "UriStatus": p.URI_STATUS_OK}],
        "PluginResult": [{
            "FileName": slot.store_uri.rsplit("/", 1)[-1], "SourceUri": slot.store_uri,
            "ImageUri": slot.store_uri, "ImageWidth": info["width"], "ImageHeight": info["height"],
            "ImageMd5": hashlib.md5(slot.data).hexdigest(), "ImageFormat": info["format"],
            "ImageSize": len(slot.data), "FrameCnt": info["frames"],
        }],
    })


def _commit_video(call: _Call, slot) -> Response:
    info = media.probe_video(slot.data) if slot.data is not None else None
    if info is None:
        return call.error(p.OPENAPI_PARAM_ERROR, "nothing uploaded" if slot.data is None
                          else "uploaded bytes are not a video", 400)
    if call.pending == "video_too_long":
        info["duration"] = 20.0
    meta = {"width": info["width"], "height": info["height"], "duration": info["duration"],
            "format": info["format"]}
    with call.state.lock:
        call.state.uploads.commit(slot, meta)
    return call.ok({"Results": [{"Vid": slot.vid, "VideoMeta": {
        "Uri": slot.store_uri, "Width": info["width"], "Height": info["height"],
        "Duration": info["duration"], "Bitrate": info["bitrate"], "Format": info["format"],
        "Codec": info["codec"], "Size": len(slot.data), "Md5": hashlib.md5(slot.data).hexdigest(),
    }}]})


def handle_upload(request: Request, state, store_uri: str) -> Response:
    """The upload host: raw body, `Authorization` = the slot's Auth, CRC32 checked."""
    with state.lock:
        slot = state.uploads.by_uri.get(store_uri)
    taken = state.failures.take("upload", slot.session if slot else None)
    pending = None
    if taken is not None:
        if taken[0].kind == UPLOAD:
            pending = taken[0].name
        else:
            inject.apply(taken[0], taken[1], "upload", None, state.config.slow_seconds, "upload")
    if slot is None:
        return envelope.upload_host(p.UPLOAD_NOT_FOUND_CODE, "store uri was never applied for",
                                    status=404, reason=f"unknown StoreUri {store_uri}")
    if request.headers.get("Authorization") != slot.auth:
        return envelope.upload_host(p.UPLOAD_AUTH_CODE, "authorization failed", status=401,
                                    reason="Authorization differs from StoreInfos[0].Auth")
    if request.args.get("phase") == "init":  # chunked mode is not offered: fall back to one POST
        return Response(status=204)
    data = request.get_data(cache=False)
    claimed = (request.headers.get("Content-CRC32") or "").strip().lower()
    actual = crc32_hex(data)
    if pending == "crc_mismatch" or claimed != actual:
        return envelope.upload_host(p.UPLOAD_CRC_CODE, "crc32 mismatch", {"crc32": actual},
                                    status=400, reason=f"Content-CRC32 {claimed!r} != {actual}")
    if pending == "upload_error":
        return envelope.upload_host(p.UPLOAD_FAILED_CODE, "upload failed",
                                    reason="injected upload_error")
    with state.lock:
        state.uploads.receive(slot, data)
    return envelope.upload_host(p.UPLOAD_OK_CODE, "Success", {"crc32": actual})
