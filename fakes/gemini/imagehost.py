"""The image CDN stand-in: gg-dl → work.fife (cookie check) → rd-gg-dl, size options, avatars."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from urllib.parse import urlsplit

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from . import images
from .state import ImageRecord
from .web import PSID, SIGNED_IN_STATUSES, AppBase


class ImageCache:
    """Small LRU of rendered bytes; full-size renders are the expensive part."""

    def __init__(self, size: int = 48) -> None:
        self._data: OrderedDict = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key, make):
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = make()
        with self._lock:
            self._data[key] = value
            while len(self._data) > self._size:
                self._data.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class ImageHostRoutes(AppBase):
    def __init__(self, state) -> None:
        super().__init__(state)
        self.cache = ImageCache()

    def cors_block(self, req: Request) -> Response | None:
        """In-page fetch() of CDN images fails on the real site (no CORS header for gemini).

        Same-origin here, so the fake sends cors-mode requests to the other loopback name
        (127.0.0.1 <-> localhost), where the missing CORS header makes the browser fail.
        """
        if not self.settings.cors_block:
            return None
        if req.args.get("fake_cross_origin"):
            return Response("Forbidden", 403, mimetype="text/plain")
        if (req.headers.get("Sec-Fetch-Mode") or "").lower() != "cors":
            return None
        parts = urlsplit(req.host_url)
        other = "localhost" if parts.hostname != "localhost" else "127.0.0.1"
        port = f":{parts.port}" if parts.port else ""
        query = req.query_string.decode()
        target = f"{parts.scheme}://{other}{port}{req.path}?{query + '&' if query else ''}fake_cross_origin=1"
        return redirect(target, 302)

    def _image_for(self, rest: str) -> tuple[ImageRecord | None, str, images.SizeOptions | Response]:
        token, _, raw = rest.partition("=")
        try:
            opts = images.parse_options(raw)
        except images.BadOptions as exc:
            return None, raw, Response(f"Bad Request: {exc}", 400, mimetype="text/plain")
        with self.state.lock:
            rec = self.state.images.get(token)
        if rec is None:
            return None, raw, Response("Not Found", 404, mimetype="text/plain")
        return rec, raw, opts

    def _next_hop(self, req: Request, url: str, opts: images.SizeOptions) -> Response:
        query = req.query_string.decode()
        if query:
            url = f"{url}?{query}"
        if opts.text_redirects:  # "=d-I?alr=yes": each hop answers with the next URL as text
            return Response(url, 200, mimetype="text/plain")
        return redirect(url, 302)

    def sign(self, token: str) -> str:
        return hmac.new(self.state.secret, token.encode(), hashlib.sha256).hexdigest()[:32]

    def gg_dl(self, req: Request, rest: str) -> Response:
        blocked = self.cors_block(req)
        if blocked:
            return blocked
        rec, raw, opts = self._image_for(rest)
        if rec is None:
            return opts
        return self._next_hop(req, f"{self.host(req, 'fife')}/rd-gg-dl/{rec.token}={raw}", opts)

    def fife_hop(self, req: Request, rest: str) -> Response:
        """The hop on a google.com host: this is where the session cookie is checked."""
        blocked = self.cors_block(req)
        if blocked:
            return blocked
        rec, raw, opts = self._image_for(rest)
        if rec is None:
            return opts
        psid, status = self.session(req)
        if status not in SIGNED_IN_STATUSES:
            self.state.count(psid, "image_403")
            return Response("Forbidden", 403, mimetype="text/plain")
        full = not opts.is_preview(self.settings.preview_long_side)
        if full and "image_403" in rec.modifiers:
            self.state.count(psid, "image_403")
            return Response("Forbidden", 403, mimetype="text/plain")
        signature = self.sign(rec.token)
        if full and "chain_broken" in rec.modifiers:
            signature = "0" * len(signature)
        return self._next_hop(req, f"{self.host(req, 'lh3')}/rd-gg-dl/{rec.token}.{signature}={raw}", opts)

    def rd_gg_dl(self, req: Request, rest: str) -> Response:
        blocked = self.cors_block(req)
        if blocked:
            return blocked
        signed, _, raw = rest.partition("=")
        token, _, signature = signed.rpartition(".")
        if not token or not hmac.compare_digest(signature, self.sign(token)):
            return Response("Not Found", 404, mimetype="text/plain")
        rec, raw, opts = self._image_for(f"{token}={raw}")
        if rec is None:
            return opts
        original = (rec.width, rec.height)
        size = opts.target(original)
        fmt = opts.fmt or "PNG"
        data = self.cache.get((rec.token, size, fmt), lambda: self._encode(rec, size, fmt))
        resp = Response(data, 200, mimetype=images.CONTENT_TYPES[fmt])
        resp.headers["Cache-Control"] = "private, max-age=86400, no-transform"
        if opts.download:
            ext = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[fmt]
            resp.headers["Content-Disposition"] = f'attachment; filename="{rec.download_name}.{ext}"'
        with self.state.lock:
            self.state.downloads.append({
                "token": rec.token, "options": raw, "width": size[0], "height": size[1], "format": fmt,
                "attachment": opts.download, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                "psid": req.cookies.get(PSID), "at": time.time(),
            })
        return resp

    def _encode(self, rec: ImageRecord, size: tuple[int, int], fmt: str) -> bytes:
        def make_full():
            with self.state.lock:
                sources = [self.state.uploads[r].data for r in rec.source_refs if r in self.state.uploads]
            return images.render_generated(rec.prompt, (rec.width, rec.height), label=rec.token[6:14],
                                           sources=sources)

        full = self.cache.get((rec.token, "full-image"), make_full)
        img = full if size == (rec.width, rec.height) else full.resize(size)
        return images.encode(img, fmt)

    def avatar(self, req: Request, rest: str) -> Response:
        ident, _, raw = rest.partition("=")
        try:
            opts = images.parse_options(raw)
        except images.BadOptions:
            return Response("Bad Request", 400, mimetype="text/plain")
        side = opts.size or 64
        return Response(images.avatar_png(ident, side), 200, mimetype="image/png")
