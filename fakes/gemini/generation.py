"""StreamGenerate, batchexecute and uploads: the calls the page makes to create images.

The answer is streamed over the configured delay, so the browser really waits; what the
answer is (image, text, error, jump-back…) is decided per submission by ``_plan``.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import time

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from . import failures, images, protocol
from .state import ImageRecord
from .web import HOSTS, PSID, PSIDTS, SIGNED_IN_STATUSES, AppBase

# Without the image tool, only prompts that ask for a picture get one (gemflow comment,
# Nativu5#76: "prompts must clearly ask to generate").
INTENT_RE = re.compile(
    r"\b(generate|create|draw|paint|render|make|design|illustrat\w*|image|images|picture|photo\w*"
    r"|edit|modify|change|transform|sketch)\b|生成|图|画|制作|修改|照片",
    re.IGNORECASE,
)


class GenerationRoutes(AppBase):
    def _plan(self, psid: str | None, status: str, g: protocol.GenerateRequest, clean: str,
              attached: list) -> failures.Plan:
        selected = failures.parse_markers(g.prompt)
        source = "marker"
        if not selected:
            queued = self.state.take_queued_failure()
            selected = [queued] if queued else []
            source = "queue"
        outcomes, modifiers = failures.split(selected)
        plan = failures.Plan(modifiers=modifiers, source=source if selected else "default")
        if status == "link":
            # a signed-out page can chat, but never create images
            plan.outcome, plan.source = "sign_in_text", "account"
            return plan
        for name, arg in outcomes:
            if name == "jump_back":
                limit = None
                if arg:
                    try:
                        limit = int(arg)
                    except ValueError:
                        limit = None
                if source == "queue":
                    limit = None  # the queue's own count already limits it
                if not self.state.jump_back_due(psid, g.prompt, limit):
                    continue
            plan.outcome, plan.arg = name, arg
            return plan
        if status == "region":
            plan.outcome, plan.source = "region", "account"
            return plan
        if any(not a["known"] for a in attached):
            plan.outcome, plan.source = "upload_status", "natural"
        elif any(not a["decodable"] for a in attached):
            plan.outcome, plan.source = "upload_rejected", "natural"
        elif not g.image_tool and self.settings.require_image_intent and not INTENT_RE.search(clean):
            plan.outcome, plan.source = "text_only", "natural"
        return plan

    def stream_generate(self, req: Request, user: str | None = None) -> Response:
        psid, status = self.session(req)
        try:
            g = protocol.parse_generate_form(req.form.get("f.req"),
                                             req.headers.get("x-goog-ext-525001261-jspb"))
        except protocol.BadRequest as exc:
            return Response(f"Bad Request: {exc}", 400, mimetype="text/plain")
        here = self.base(req) + "/app"
        if status == "redirect":
            self.state.count(psid, "rejected_requests")
            return Response("Unauthorized", 401, mimetype="text/plain")
        if status == "sorry":
            return redirect(self.sorry_url(req, here), 302)

        clean = failures.strip_markers(g.prompt)
        attached = []
        with self.state.lock:
            for ref, name in g.files:
                up = self.state.uploads.get(ref)
                attached.append({
                    "ref": ref, "filename": name, "known": up is not None,
                    "sha256": up.sha256 if up else None, "size": up.size if up else None,
                    "mime": up.mime if up else None,
                    "decodable": bool(up) and images.is_decodable_image(up.data),
                })
        plan = self._plan(psid, status, g, clean, attached)

        with self.state.lock:
            convo = self.state.conversations.get(g.chat[0]) if g.chat else None
            if not convo or convo["psid"] != psid:
                cid = f"c_{protocol.new_hex(16)}"
                convo = {"cid": cid, "psid": psid, "title": (clean or "Untitled")[:48],
                         "temporary": g.temporary, "created": time.time(), "turns": []}
                self.state.conversations[cid] = convo
        rid, rcid = f"r_{protocol.new_hex(16)}", f"rc_{protocol.new_hex(16)}"
        record = self.state.add_submission({
            "id": protocol.new_hex(12), "at": time.time(), "psid": psid,
            "psidts": req.cookies.get(PSIDTS), "prompt": g.prompt, "clean_prompt": clean,
            "attachments": [{k: v for k, v in a.items() if k != "decodable"} for a in attached],
            "image_tool": g.image_tool, "mode": g.mode, "model_id": g.model_id, "temporary": g.temporary,
            "aspect_ratio": g.aspect_ratio, "at_token": req.form.get("at"), "cid": convo["cid"],
            "rid": rid, "rcid": rcid, "plan": plan.as_dict(), "status": "running", "outcome": plan.outcome,
            "images": [], "user_agent": req.headers.get("User-Agent"),
        })

        # answers that never reach the stream
        if plan.outcome == "http_429":
            self.state.update_submission(record, status="http_429", finished_at=time.time())
            return Response("Too Many Requests", 429, mimetype="text/plain")
        if plan.outcome == "http_500":
            self.state.update_submission(record, status="http_500", finished_at=time.time())
            return Response("Internal Server Error", 500, mimetype="text/plain")
        if plan.outcome == "ip_block":
            self.state.update_submission(record, status="ip_block", finished_at=time.time())
            return redirect(self.sorry_url(req, here), 302)
        if plan.outcome == "signed_out":
            if psid:
                self.state.invalidate(psid, "redirect")
            self.state.update_submission(record, status="signed_out", finished_at=time.time())
            return Response("Unauthorized", 401, mimetype="text/plain")

        stream = self._stream(req, record, convo, rid, rcid, g, clean, plan, attached)
        resp = Response(stream, 200, mimetype="application/json+protobuf")
        resp.headers["Content-Type"] = "application/json+protobuf; charset=utf-8"
        resp.headers["Cache-Control"] = "no-cache, no-store, max-age=0, must-revalidate"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        return resp

    def _stream(self, req, record, convo, rid, rcid, g, clean, plan, attached):
        settings = self.settings
        delay = plan.slow_seconds()
        if delay is None:
            delay = settings.delay_seconds
        if plan.outcome == "jump_back":
            delay = min(delay, settings.jump_back_after)
        interval = max(0.05, settings.progress_interval)
        endless = plan.outcome == "never_finish"
        cid = convo["cid"]
        base = self.base(req)
        stopping = self.state.stopping

        def progress_frame() -> str:
            cand = protocol.candidate(rcid, "", done=False)
            return protocol.frame([protocol.data_envelope(protocol.inner_payload(cid, rid, cand, final=False))])

        def generate():
            finished = False
            started = time.monotonic()
            try:
                yield protocol.XSSI_GUARD + progress_frame()
                while True:
                    left = None if endless else delay - (time.monotonic() - started)
                    if left is not None and left <= 0:
                        break
                    if stopping.wait(interval if left is None else min(interval, left)):
                        return
                    if left is None or left > interval:
                        yield progress_frame()
                for chunk in self._final_frames(base, record, convo, rid, rcid, g, clean, plan, attached):
                    yield chunk
                finished = True
            finally:
                status = plan.outcome if finished else ("aborted" if stopping.is_set() else "cancelled")
                self.state.update_submission(record, status=status, finished_at=time.time())

        return generate()

    def _final_frames(self, base, record, convo, rid, rcid, g, clean, plan, attached) -> list[str]:
        cid = convo["cid"]
        outcome = plan.outcome
        frames: list[str] = []
        turn = {"prompt": g.prompt, "rid": rid, "rcid": rcid, "cid": cid, "text": "", "images": [],
                "ui": {}, "final": False, "outcome": outcome}
        if outcome == "jump_back":
            frames.append(protocol.frame([protocol.JUMP_BACK_ENVELOPE]))
        elif outcome == "truncated":
            cand = protocol.candidate(rcid, "", done=False)
            frames.append(protocol.frame([protocol.data_envelope(
                protocol.inner_payload(cid, rid, cand, final=False))]))
        elif outcome in ("code", "usage_limit_code"):
            frames.append(protocol.frame([protocol.error_envelope(plan.error_code())]))
        elif outcome == "upload_status":
            frames.append(protocol.frame([protocol.bare_status_envelope(13)]))
        elif outcome == "image":
            nodes, shown = self._register_images(base, record, convo, rid, rcid, g, clean, plan, attached)
            text = " ".join(failures.PLACEHOLDER_URL.format(index=i) for i in range(len(nodes)))
            cand = protocol.candidate(rcid, text, done=True, images=nodes, keyed_images=bool(attached))
            ui = {name: True for name in ("no_download", "download_noop", "blob_src", "overlay")
                  if name in plan.modifiers}
            ui["finish_lag"] = self.settings.finish_lag
            frames.append(protocol.frame([
                protocol.data_envelope(protocol.inner_payload(cid, rid, cand, final=True)),
                ["fake.ui", ui],
            ]))
            turn.update(text=text, images=shown, ui=ui, final=True)
        else:
            if outcome == "no_image":
                text = failures.PLACEHOLDER_URL.format(index=0)
            else:
                text = plan.text or failures.TEXT_ONLY_TEXT
            cand = protocol.candidate(rcid, text, done=True)
            frames.append(protocol.frame([protocol.data_envelope(
                protocol.inner_payload(cid, rid, cand, final=True))]))
            turn.update(text=text, final=True)
        if outcome != "truncated":
            frames.extend(protocol.trailer_frames())
        with self.state.lock:
            if outcome != "jump_back":
                convo["turns"].append(turn)
        return frames

    def _register_images(self, base, record, convo, rid, rcid, g, clean, plan, attached):
        settings = self.settings
        width, height = images.full_size(settings.image_long_side, g.aspect_ratio)
        nodes, shown, tokens = [], [], []
        alphabet = string.ascii_lowercase + string.digits
        for _ in range(max(1, settings.images_per_response)):
            token = "AOI_d_" + secrets.token_urlsafe(42)
            rec = ImageRecord(
                token=token, image_id=f"i_{protocol.new_hex(16)}", prompt=clean, width=width,
                height=height, psid=record["psid"], cid=convo["cid"], rid=rid, rcid=rcid,
                file_name=f"{secrets.randbelow(10**18):018d}.png",
                download_name="Gemini_Generated_Image_" + "".join(secrets.choice(alphabet) for _ in range(16)),
                modifiers=dict(plan.modifiers), source_refs=[a["ref"] for a in attached], at=time.time(),
            )
            self.state.add_image(rec)
            url = f"{base}/{HOSTS['lh3']}/gg-dl/{token}"
            nodes.append(protocol.image_node(url, rec.file_name, rec.image_id))
            shown.append({"url": url, "name": rec.file_name, "id": rec.image_id})
            tokens.append(token)
        self.state.update_submission(record, images=tokens)
        return nodes, shown

    def batchexecute(self, req: Request, user: str | None = None) -> Response:
        psid, status = self.session(req)
        try:
            calls = protocol.parse_batch_form(req.form.get("f.req"))
        except protocol.BadRequest as exc:
            return Response(f"Bad Request: {exc}", 400, mimetype="text/plain")
        signed_in = status in SIGNED_IN_STATUSES
        out = [protocol.XSSI_GUARD]
        for rpcid, payload in calls:
            if rpcid == "otAQ7b":  # account status at [14] (§3 step 3)
                code = 1000 if status in ("ok", "notoken", "consent") else 1060 if status == "region" else 1016
                reply = [None] * 16
                reply[14] = code
                reply[15] = [["Fast", "fbb127bbb056c959"], ["Thinking", "5bf011840784117a"],
                             ["Pro", "9d8ca3786ebdfbea"]]
                out.append(protocol.frame([["wrb.fr", rpcid, json.dumps(reply), None, None, None, "generic"]]))
                continue
            if not signed_in:
                return Response("Unauthorized", 401, mimetype="text/plain")
            if rpcid == "c8o8Fe":  # full-size URL of a generated image (reconstructed reply shape)
                try:
                    image_id = payload[0][1][0]
                except (TypeError, IndexError):
                    image_id = None
                with self.state.lock:
                    rec = next((i for i in self.state.images.values() if i.image_id == image_id), None)
                if rec is None:
                    out.append(protocol.frame([protocol.bare_status_envelope(5)]))
                    continue
                url = f"{self.base(req)}/{HOSTS['lh3']}/gg-dl/{rec.token}"
                out.append(protocol.frame([["wrb.fr", rpcid, json.dumps([url]), None, None, None, "generic"]]))
            else:
                out.append(protocol.frame([["wrb.fr", rpcid, "[]", None, None, None, "generic"]]))
        out.extend(protocol.trailer_frames())
        return Response("".join(out), 200, mimetype="application/json+protobuf")

    # ------------------------------------------------------------------ uploads

    def push_upload(self, req: Request) -> Response:
        psid = req.cookies.get(PSID) or None
        if (req.headers.get("X-Tenant-Id") or "").lower() != "bard-storage" or not req.headers.get("Push-ID"):
            return Response("Bad Request: missing Push-ID / X-Tenant-Id", 400, mimetype="text/plain")
        file = req.files.get("file")
        if file is None:
            return Response("Bad Request: no file part", 400, mimetype="text/plain")
        data = file.read()
        up = self.state.add_upload(data, file.filename or "file", file.mimetype or "application/octet-stream",
                                   psid, "content-push")
        return Response(up.ref, 200, mimetype="text/plain")

    def resumable_upload(self, req: Request) -> Response:
        psid = req.cookies.get(PSID) or None
        command = (req.headers.get("X-Goog-Upload-Command") or "").lower()
        if command == "start":
            upload_id = secrets.token_urlsafe(24)
            name = "file"
            body = req.get_data(as_text=True) or ""
            if body.startswith("File name:"):
                name = body.split(":", 1)[1].strip() or name
            with self.state.lock:
                self.state.pending_resumable[upload_id] = {
                    "name": name, "mime": req.headers.get("X-Goog-Upload-Header-Content-Type") or "",
                    "length": req.headers.get("X-Goog-Upload-Header-Content-Length"),
                }
            resp = Response("", 200)
            resp.headers["X-Goog-Upload-URL"] = (f"{self.host(req, 'resumable')}/upload/?upload_id={upload_id}"
                                                 "&upload_protocol=resumable")
            resp.headers["X-Goog-Upload-Status"] = "active"
            return resp
        if "upload" in command and "finalize" in command:
            upload_id = req.args.get("upload_id") or ""
            with self.state.lock:
                pending = self.state.pending_resumable.pop(upload_id, None)
            if pending is None:
                return Response("Not Found", 404, mimetype="text/plain")
            up = self.state.add_upload(req.get_data(), pending["name"], pending["mime"] or "application/octet-stream",
                                       psid, "resumable")
            resp = Response(up.ref, 200, mimetype="text/plain")
            resp.headers["X-Goog-Upload-Status"] = "final"
            return resp
        return Response("Bad Request: unknown X-Goog-Upload-Command", 400, mimetype="text/plain")
