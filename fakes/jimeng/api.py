"""Handlers of the API hosts: /mweb/*, /passport/*, /commerce/* (§2, §4).

Every call runs the same gate first (queued failure, cookie session, Sign, site
and version checks), then its handler. Handlers return `data`; errors are raised
as envelope exceptions and rendered by the app in the right family's shape.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass

from werkzeug.wrappers import Request

from . import drafts, files, inject, records
from . import protocol as p
from .envelope import HttpFailure, DropConnection, UpstreamError, logid
from .failures import CLAIM, HTTP, JOB, RET, Failure, parse_markers
from .jobs import Item, Job
from .ledger import AlreadyClaimed
from .state import FakeState, Session


@dataclass
class Ctx:
    request: Request
    state: FakeState
    endpoint: str
    family: str            # "mweb" | "passport" | "commerce"
    now: float
    base_url: str
    sessionid: str | None = None
    session: Session | None = None
    site: str | None = None
    pending: tuple[Failure, str | None] | None = None

    def links(self) -> records.Links:
        cfg = self.state.config
        return records.Links(self.base_url, self.state.signer, self.now, cfg.url_ttl_seconds,
                             cfg.image_format)

    def json_body(self) -> dict:
        raw = self.request.get_data(cache=True)
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise UpstreamError("1000", reason="request body is not JSON")
        if not isinstance(body, dict):
            raise UpstreamError("1000", reason="request body must be a JSON object")
        return body


def cookie_session(request: Request) -> str | None:
    cookies = request.cookies
    for name in ("sessionid", "sessionid_ss", "sid_tt"):
        value = (cookies.get(name) or "").strip()
        if value:
            return value
    return None


# --- the common gate -----------------------------------------------------------

def _site_of_request(ctx: Ctx) -> str | None:
    args, headers = ctx.request.args, ctx.request.headers
    aid, region, appid = args.get("aid"), args.get("region"), headers.get("Appid")
    if aid is None:
        if ctx.endpoint != "user_credit":  # the one call sent without default params
            raise UpstreamError("1000", reason="missing aid query parameter")
        if appid is None:
            return None
        if str(appid) == str(p.AID_CN):
            return "cn"
        if str(appid) == str(p.AID_INTL):
            return "intl"
        raise UpstreamError("3000", reason=f"unknown Appid {appid}")
    site = p.site_for(aid, region)
    if site is None:
        raise UpstreamError("3000", reason=f"aid {aid} and region {region!r} disagree")
    if appid is not None and str(appid) != str(aid):
        raise UpstreamError("3000", reason=f"Appid header {appid} differs from aid {aid}")
    return site


def _check_sign(ctx: Ctx):
    headers = ctx.request.headers
    sign, device_time = headers.get("Sign"), headers.get("Device-Time")
    appvr, pf = headers.get("Appvr"), headers.get("Pf") or p.PLATFORM_CODE
    if not sign or not device_time or not device_time.strip().isdigit():
        raise UpstreamError("4013", reason="Sign / Device-Time header missing")
    if not appvr:
        raise UpstreamError("4013", reason="Appvr header missing (needed for Sign)")
    candidates = {p.compute_sign(ctx.request.path, device_time.strip(), appvr, pf)}
    query = ctx.request.query_string.decode("latin-1")
    if query:  # some gateways sign a path that still carries its query string
        candidates.add(p.compute_sign(f"{ctx.request.path}?{query}", device_time.strip(), appvr, pf))
    if sign.strip().lower() not in candidates:
        raise UpstreamError("4013", reason=(
            f"Sign mismatch: expected md5('9e2c|{ctx.request.path[-7:]}|{pf}|{appvr}|"
            f"{device_time}||11ac')"))


def _check_version(ctx: Ctx):
    if not p.is_intl(ctx.site):
        return
    appvr = ctx.request.headers.get("Appvr")
    if not p.version_at_least(appvr, p.MIN_INTL_APPVR):
        raise UpstreamError("3018", reason=f"Appvr {appvr!r} below {p.MIN_INTL_APPVR}")
    if ctx.endpoint == "user_credit" and "da_version" not in ctx.request.args:
        return
    da_version = ctx.request.args.get("da_version")
    if not p.version_at_least(da_version, p.MIN_INTL_DA_VERSION):
        raise UpstreamError("3018", reason=f"da_version {da_version!r} below {p.MIN_INTL_DA_VERSION}")


def _bind_site(ctx: Ctx):
    session = ctx.session
    if ctx.site is None:
        ctx.site = session.site
        return
    if ctx.site == "intl":  # user_credit without params: only cn vs intl is known
        if session.site == "cn" and ctx.state.config.strict_region:
            raise UpstreamError("3000", reason="CN session used with the international Appid")
        ctx.site = session.site if p.is_intl(session.site) else "us"
        return
    with ctx.state.lock:
        if session.site is None:
            session.site = ctx.site
        elif session.site != ctx.site and ctx.state.config.strict_region:
            raise UpstreamError("3000", reason=(
                f"session bound to site {session.site!r}, request is for {ctx.site!r}"))


def gate(ctx: Ctx):
    state = ctx.state
    ctx.sessionid = cookie_session(ctx.request)
    taken = state.failures.take(ctx.endpoint, ctx.sessionid)
    site_error = None
    try:
        ctx.site = _site_of_request(ctx)
    except UpstreamError as exc:
        site_error = exc
    if taken is not None:
        failure, arg = taken
        if inject.is_deferred(failure):
            ctx.pending = taken
        else:
            inject.apply(failure, arg, ctx.family, ctx.site, state.config.slow_seconds,
                         ctx.endpoint)
            ctx.now = state.now()  # `slow` returns here after sleeping
    if site_error is not None:
        raise site_error
    if ctx.endpoint == "account_info" and ctx.site in p.SG_HOST_SITES and \
            state.config.intl_account_info_404:
        raise HttpFailure(404, "the SG API host has no /passport/account/info/v2")
    if state.is_invalid(ctx.sessionid):
        why = "no sessionid cookie" if not ctx.sessionid else f"sessionid {ctx.sessionid!r} invalid"
        raise inject.login_error(ctx.family, ctx.site, why)
    ctx.session = state.session(ctx.sessionid)
    if state.config.check_sign:
        _check_sign(ctx)
    _bind_site(ctx)
    _check_version(ctx)


# --- generate ------------------------------------------------------------------

def _model_gate(req: drafts.GenerateRequest, site: str):
    table = p.VIDEO_MODELS if req.kind == "video" else p.IMAGE_MODELS
    other = p.IMAGE_MODELS if req.kind == "video" else p.VIDEO_MODELS
    if req.model not in table:
        why = "a video model in an image draft" if req.model in other else "unknown model"
        raise UpstreamError("1000", reason=f"{why}: {req.model}")
    if site not in table[req.model][1]:
        raise UpstreamError("3000", reason=f"model {req.model} is not offered on site {site}")


def _video_gate(ctx: Ctx, req: drafts.GenerateRequest):
    if p.is_seedance_20(req.model):
        a_bogus = ctx.request.args.get("a_bogus")
        if not a_bogus:
            raise UpstreamError("1019", data=inject.generate_error_data(),
                                reason="Seedance 2.0 generate without a_bogus")
        if not ctx.state.config.seedance_a_bogus_ok:
            raise UpstreamError("4013", data=inject.generate_error_data(),
                                reason="a_bogus not accepted (seedance_a_bogus_ok is off)")
    accepted = p.VIDEO_MODELS[req.model][2]
    if req.benefit_type not in accepted:
        raise UpstreamError("5001", data=inject.generate_error_data(), reason=(
            f"benefit_type {req.benefit_type!r} not valid for {req.model}; expected one of "
            f"{list(accepted)}"))


def _inputs(ctx: Ctx, req: drafts.GenerateRequest) -> list:
    """Committed uploads referenced by the draft (bytes used for the pictures)."""
    uploads = ctx.state.uploads
    slots = []
    for uri in req.image_uris:
        slot = uploads.committed_image(uri)
        if slot is None:
            raise UpstreamError("1000", reason=f"image uri {uri!r} was never committed")
        slots.append(slot)
    if req.video and req.video["mode"] == "omni":
        images = [m for m in req.video["materials"] if m[0] == "image"]
        videos = [m for m in req.video["materials"] if m[0] == "video"]
        if not req.video["materials"] or len(images) > 9 or len(videos) > 3:
            raise UpstreamError("1000", reason="omni needs 1-9 images and at most 3 videos")
        for kind, ref in req.video["materials"]:
            found = uploads.committed_image(ref) if kind == "image" else uploads.committed_video(ref)
            if found is None:
                raise UpstreamError("1000", reason=f"{kind} material {ref!r} was never committed")
            if kind == "image":
                slots.append(found)
    return slots


def generate(ctx: Ctx):
    state, cfg = ctx.state, ctx.state.config
    body = ctx.json_body()
    with state.lock:
        ctx.session.generate_requests += 1
    req = drafts.parse_generate(body)
    if req.aid is not None and ctx.request.args.get("aid") not in (None, req.aid):
        raise UpstreamError("3000", reason="http_common_info.aid differs from the aid query")
    _model_gate(req, ctx.site)
    markers = parse_markers(req.text)
    immediate = markers.first(RET, HTTP, endpoint="generate")
    lost = None
    if immediate is not None:
        if immediate[0].name == "lost_response":
            lost = immediate
        else:
            inject.apply(immediate[0], immediate[1], ctx.family, ctx.site, cfg.slow_seconds,
                         "generate")
            ctx.now = state.now()  # `slow` returns here after sleeping
    modes = markers.job_modes()
    if ctx.pending:
        failure, arg = ctx.pending
        if failure.kind == JOB:
            modes.setdefault(failure.name, arg)
        elif failure.name == "lost_response":
            lost = ctx.pending
    if req.kind == "video":
        _video_gate(ctx, req)
    slots = _inputs(ctx, req)

    with state.lock:
        if cfg.dedupe_submit_id:
            existing = state.jobs_by_submit.get(req.submit_id)
            if existing is not None and existing.session == ctx.sessionid:
                return {"aigc_data": _aigc_data(ctx, existing)}
        if cfg.max_active_jobs is not None and \
                state.active_jobs(ctx.sessionid, ctx.now) >= cfg.max_active_jobs:
            raise UpstreamError("5001", data=inject.generate_error_data(),
                                reason=f"more than {cfg.max_active_jobs} unfinished jobs")
        job = _new_job(ctx, req, markers, modes, slots)
        charge = ctx.session.ledger.charge(ctx.now, job.cost, f"generate {job.history_id}")
        if charge is None:
            raise inject.insufficient_credits(reason=(
                f"cost {job.cost} > balance {ctx.session.ledger.balance(ctx.now)['total']}"))
        job.charge = charge
        state.add_job(job)
        data = {"aigc_data": _aigc_data(ctx, job)}
    if job.kind != "video" and not job.fail_code():
        files.prerender(state, job)
    if lost is not None:
        if (lost[1] or "").lower() == "reset":
            raise DropConnection("injected lost_response:reset (job created)")
        raise HttpFailure(502, "injected lost_response (job created)")
    return data


def _new_job(ctx: Ctx, req: drafts.GenerateRequest, markers, modes: dict, slots) -> Job:
    cfg, state = ctx.state.config, ctx.state
    delay = markers.delay if markers.delay is not None else cfg.delay_seconds
    if req.kind == "video":
        count, video = 1, dict(req.video)
        first = slots[0].meta if slots and video["mode"] != "omni" else None
        if first and first.get("width"):
            video["aspect_ratio"] = p.nearest_video_ratio(first["width"], first["height"])
        video["first_uri"] = req.image_uris[0] if req.image_uris else None
        video["end_uri"] = req.image_uris[1] if len(req.image_uris) > 1 else None
        if video["mode"] == "end_frame":
            video["first_uri"], video["end_uri"] = None, req.image_uris[0]
        cost = cfg.video_cost_per_second * math.ceil(video["duration_ms"] / 1000)
        width, height = p.VIDEO_FRAME_SIZES[video["aspect_ratio"]]
    else:
        count, video, cost = drafts.image_count(req, markers.count), None, cfg.image_cost
        width, height = req.width, req.height
    return Job(
        history_id=state.new_history_id(), submit_id=req.submit_id, session=ctx.sessionid,
        site=ctx.site, kind=req.kind, model=req.model, prompt=req.prompt, text=req.text,
        created=ctx.now, delay=float(delay), count=count, width=width, height=height,
        resolution_type=req.resolution_type if req.kind != "video" else (
            video.get("resolution") or "720p"),
        ratio=req.ratio if req.kind != "video" else video["aspect_ratio"], seed=req.seed,
        cost=cost, logid=logid(), modes=modes, input_uris=list(req.image_uris), video=video,
        items=[Item(state.new_item_id(), secrets.token_hex(16)) for _ in range(count)],
        absent_until=ctx.now + (cfg.video_absent_fraction * delay if req.kind == "video" else 0),
        negative_prompt=req.negative_prompt,
    )


def _aigc_data(ctx: Ctx, job: Job) -> dict:
    status, finished = job.timeline(ctx.now)
    status = p.STATUS_QUEUED if status is None else status
    position, length = ctx.state.queue_position(job, ctx.now)
    queue = records.queue_block(position, length, status, ctx.state.polling_config(job.delay))
    return records.record(job, status, finished, ctx.links(), queue, ctx.session.user_id)


# --- polling -------------------------------------------------------------------

def _visible_record(ctx: Ctx, job: Job | None, scenes) -> dict | None:
    if job is None or job.session != ctx.sessionid:
        return None
    status, finished = job.timeline(ctx.now)
    if status is None:
        return None
    ctx.state.settle(job, ctx.now)
    position, length = ctx.state.queue_position(job, ctx.now)
    queue = records.queue_block(position, length, status, ctx.state.polling_config(job.delay))
    return records.record(job, status, finished, ctx.links(), queue, ctx.session.user_id, scenes)


def _id_list(body: dict, key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise UpstreamError("1000", reason=f"{key} must be a list")
    return [str(v) for v in value]


def history(ctx: Ctx):
    body = ctx.json_body()
    history_ids, submit_ids = _id_list(body, "history_ids"), _id_list(body, "submit_ids")
    if history_ids is None and submit_ids is None:
        raise UpstreamError("1000", reason="history_ids or submit_ids required")
    image_info = body.get("image_info") if isinstance(body.get("image_info"), dict) else {}
    scenes = [s for s in image_info.get("image_scene_list") or [] if isinstance(s, dict)]
    data = {}
    with ctx.state.lock:
        for key in history_ids or []:
            found = _visible_record(ctx, ctx.state.jobs.get(key), scenes)
            if found is not None:
                data[key] = found
        for key in submit_ids or []:
            found = _visible_record(ctx, ctx.state.jobs_by_submit.get(key), scenes)
            if found is not None:
                data[key] = found
    return data


def history_records(ctx: Ctx):
    body = ctx.json_body()
    ids = _id_list(body, "history_record_ids")
    if ids is None:
        raise UpstreamError("1000", reason="history_record_ids required")
    with ctx.state.lock:
        found = [_visible_record(ctx, ctx.state.jobs.get(key), []) for key in ids]
    return {"history_records": [r for r in found if r is not None]}


def local_item_list(ctx: Ctx):
    body = ctx.json_body()
    wanted = _id_list(body, "item_id_list")
    if not wanted:
        raise UpstreamError("1000", reason="item_id_list required")
    items, links = [], ctx.links()
    with ctx.state.lock:
        for job in ctx.state.jobs.values():
            if job.session != ctx.sessionid or "no_hq" in job.modes:
                continue
            status, finished = job.timeline(ctx.now)
            for index, item in enumerate(job.items[:finished]):
                if item.item_id not in wanted:
                    continue
                if job.kind == "video":
                    items.append(records.video_item(job, item, links, hq=True))
                else:
                    items.append(records.image_item(job, item, index, links, []))
    return {"item_list": items}


# --- uploads -------------------------------------------------------------------

def upload_token(ctx: Ctx):
    body = ctx.json_body()
    try:
        scene = int(body.get("scene"))
    except (TypeError, ValueError):
        scene = 0
    if scene not in (1, 2):
        raise UpstreamError("1000", reason="scene must be 1 (VOD) or 2 (ImageX)")
    state = ctx.state
    with state.lock:
        cred = state.uploads.issue(ctx.sessionid, ctx.site, scene,
                                   ctx.now + state.config.sts_ttl_seconds)
    data = {"access_key_id": cred.access_key, "secret_access_key": cred.secret_key,
            "session_token": cred.session_token}
    if scene == 1:
        data.update(space_name=p.VOD_SPACE, upload_domain="vod.bytedanceapi.com")
    elif ctx.site == "cn":
        data.update(service_id=p.SITES["cn"][3], upload_domain="imagex.bytedanceapi.com")
    else:
        data.update(space_name=p.SITES[ctx.site][3], upload_domain="imagex-normal-sg.capcutapi.com")
    return data


def algo_proxy(ctx: Ctx):
    body = ctx.json_body()
    files = body.get("file_list")
    if not isinstance(files, list) or not files:
        raise UpstreamError("1000", reason="file_list required")
    with ctx.state.lock:
        for entry in files:
            uri = entry.get("file_uri") if isinstance(entry, dict) else None
            if ctx.state.uploads.committed_image(str(uri)) is None:
                raise UpstreamError("1000", reason=f"file_uri {uri!r} was never committed")
    return {}


# --- account and credits -------------------------------------------------------

def account_info(ctx: Ctx):
    session = ctx.session
    return {"user_id": session.user_id, "user_id_str": str(session.user_id),
            "screen_name": f"fake-{ctx.sessionid[:6]}", "app_id": p.SITES.get(
                ctx.site or "cn", p.SITES["cn"])[0], "is_visitor_account": False}


def user_credit(ctx: Ctx):
    with ctx.state.lock:
        return ctx.session.ledger.user_credit_data(ctx.now)


def credit_receive(ctx: Ctx):
    state = ctx.state
    ctx.json_body()
    pending = ctx.pending if ctx.pending and ctx.pending[0].kind == CLAIM else None
    if pending and pending[0].name in ("claim_shark", "claim_param"):
        raise UpstreamError(pending[0].ret, pending[0].errmsg,
                            reason=f"injected failure {pending[0].name}")
    with state.lock:
        ledger = ctx.session.ledger
        first_ever = not ledger.claimed_days
        quota = ledger.daily_quota if ledger.daily_quota is not None else state.config.daily_credits
        if pending:  # claim_zero
            quota = 0
        try:
            received = ledger.claim(ctx.now, quota)
        except AlreadyClaimed as exc:
            raise UpstreamError("34010100", "param error", reason=f"already claimed on {exc}")
        return {"cur_total_credits": ledger.balance(ctx.now)["total"], "receive_quota": received,
                "is_first_receive": first_ever}


ROUTES = {
    "/mweb/v1/aigc_draft/generate": ("mweb", "generate", generate),
    "/mweb/v1/get_history_by_ids": ("mweb", "history", history),
    "/mweb/v1/get_history_records": ("mweb", "history", history_records),
    "/mweb/v1/get_local_item_list": ("mweb", "local_item_list", local_item_list),
    "/mweb/v1/get_upload_token": ("mweb", "upload_token", upload_token),
    "/mweb/v1/algo_proxy": ("mweb", "algo_proxy", algo_proxy),
    "/passport/account/info/v2": ("passport", "account_info", account_info),
    "/commerce/v1/benefits/user_credit": ("commerce", "user_credit", user_credit),
    "/commerce/v1/benefits/credit_receive": ("commerce", "credit_receive", credit_receive),
}
