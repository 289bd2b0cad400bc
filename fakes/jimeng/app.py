"""The WSGI application: tells the upstream hosts apart by path (and `Action=`).

All Jimeng hosts are folded onto one base URL, so routing is by path only:
API host paths, `/?Action=` for ImageX/VOD, `/upload/v1/` for the upload host,
signed `/tos-*` and `/video/tos/*` paths for the CDN, `/_fake/` for control.
"""

from __future__ import annotations

import socket
import struct
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from . import api, control, envelope, files, imagex
from .envelope import DropConnection, HttpFailure, UpstreamError
from .state import FakeState


class JimengApp:
    def __init__(self, state: FakeState):
        self.state = state

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            response = self.route(request)
        except DropConnection:
            self._drop(environ)
            raise ConnectionResetError("fake: connection dropped on purpose")
        return response(environ, start_response)

    @staticmethod
    def _drop(environ):
        """Abort the socket so the client sees a reset, not an HTTP answer."""
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _base(self, request: Request) -> tuple[str, str]:
        public = self.state.config.public_url
        base = (public or request.host_url).rstrip("/")
        return base, urlsplit(base).netloc

    def route(self, request: Request) -> Response:
        path, now = request.path, self.state.now()
        if path == control.PREFIX or path.startswith(control.PREFIX + "/"):
            return control.handle(request, self.state)
        base, netloc = self._base(request)
        entry = {"t": round(now, 3), "method": request.method, "path": path}
        try:
            if path in api.ROUTES and request.method in ("POST", "GET"):
                family, endpoint, handler = api.ROUTES[path]
                entry["endpoint"] = endpoint
                response, ret = self._api(request, family, endpoint, handler, now, base, entry)
                entry["ret"] = ret
            elif path == "/" and "Action" in request.args:
                entry["endpoint"] = imagex.endpoint_of(request) or "openapi"
                entry["action"] = request.args.get("Action")
                response = imagex.handle_openapi(request, self.state, now, netloc)
            elif path.startswith("/upload/v1/") and request.method in ("POST", "PUT"):
                entry["endpoint"] = "upload"
                response = imagex.handle_upload(request, self.state, path[len("/upload/v1/"):])
            elif request.method in ("GET", "HEAD") and files.is_cdn_path(path):
                entry["endpoint"] = "cdn"
                response = files.handle(request, self.state, now)
            else:
                response = envelope.html(404, f"no fake route for {request.method} {path}")
        except HttpFailure as exc:
            response = envelope.html(exc.status, exc.reason, exc.body)
        except UpstreamError as exc:  # a ret failure queued on a non-API endpoint
            response = envelope.mweb(exc.data, now, exc.ret, exc.errmsg, reason=exc.reason)
        except DropConnection:
            entry["status"] = "reset"
            self.state.log(entry)
            raise
        entry["status"] = response.status_code
        reason = response.headers.get(envelope.REASON_HEADER)
        if reason:
            entry["reason"] = reason
        self.state.log(entry)
        return response

    def _api(self, request, family, endpoint, handler, now, base, entry):
        ctx = api.Ctx(request, self.state, endpoint, family, now, base)
        render = envelope.commerce if family == "commerce" else envelope.mweb
        try:
            api.gate(ctx)
            entry["session"] = ctx.sessionid
            data = handler(ctx)
        except UpstreamError as exc:
            entry["session"] = ctx.sessionid
            return render(exc.data, now, exc.ret, exc.errmsg, reason=exc.reason), exc.ret
        return render(data, now), "0"
