"""Response envelopes of each upstream family, and the exceptions handlers raise.

Error responses carry an `X-Fake-Jimeng-Reason` header saying why the fake refused;
the body stays exactly what the real upstream would send.
"""

from __future__ import annotations

import base64
import json
import secrets
import time

from werkzeug.wrappers import Response

from . import protocol as p

REASON_HEADER = "X-Fake-Jimeng-Reason"

_STATUS_TEXT = {403: "Forbidden", 404: "Not Found", 429: "Too Many Requests",
                500: "Internal Server Error", 502: "Bad Gateway", 200: "OK"}


class UpstreamError(Exception):
    """A business error: HTTP 200 with a non-zero string `ret`."""

    def __init__(self, ret: str, errmsg: str | None = None, data=None, reason: str = ""):
        super().__init__(reason or errmsg)
        self.ret = str(ret)
        self.errmsg = errmsg if errmsg is not None else p.RET_MESSAGES.get(self.ret, "error")
        self.data = data
        self.reason = reason or self.errmsg


class HttpFailure(Exception):
    def __init__(self, status: int, reason: str = "", body: str | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.body = body


class DropConnection(Exception):
    """Close the TCP connection without answering."""


def logid() -> str:
    return time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(10).upper()


def _json(payload: dict, status: int = 200, reason: str = "") -> Response:
    response = Response(json.dumps(payload, ensure_ascii=False), status=status,
                        mimetype="application/json")
    if reason:
        response.headers[REASON_HEADER] = reason[:300]
    return response


def mweb(data, now: float, ret: str = p.RET_OK, errmsg: str | None = None,
         reason: str = "") -> Response:
    """/mweb/* and /passport/*: {ret, errmsg, systime, logid, data}."""
    return _json({"ret": str(ret), "errmsg": errmsg or p.RET_MESSAGES.get(str(ret), "error"),
                  "systime": str(int(now)), "logid": logid(), "data": data}, reason=reason)


def commerce(data, now: float, ret: str = p.RET_OK, errmsg: str | None = None,
             reason: str = "") -> Response:
    """/commerce/*: adds `response` (data as a JSON string) and an opaque `sign`."""
    payload = {"ret": str(ret), "errmsg": errmsg or p.RET_MESSAGES.get(str(ret), "error"),
               "svr_time": int(now), "log_id": logid()}
    if str(ret) == p.RET_OK:
        payload["response"] = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        payload["sign"] = base64.b64encode(secrets.token_bytes(128)).decode()
    payload["data"] = data
    return _json(payload, reason=reason)


def html(status: int, reason: str = "", body: str | None = None) -> Response:
    text = _STATUS_TEXT.get(status, "Error")
    page = body or (f"<html>\r\n<head><title>{status} {text}</title></head>\r\n<body>\r\n"
                    f"<center><h1>{status} {text}</h1></center>\r\n<hr><center>TLB</center>\r\n"
                    "</body>\r\n</html>\r\n")
    response = Response(page, status=status, mimetype="text/html")
    if reason:
        response.headers[REASON_HEADER] = reason[:300]
    return response


def openapi(action: str, version: str, service: str, region: str, result=None,
            error: tuple[str, int, str] | None = None, status: int = 200,
            reason: str = "") -> Response:
    """ImageX / VOD OpenAPI: {ResponseMetadata: {...[, Error]}, Result}."""
    meta = {"RequestId": logid(), "Action": action, "Version": version, "Service": service,
            "Region": region}
    payload = {"ResponseMetadata": meta}
    if error:
        code, code_n, message = error
        meta["Error"] = {"CodeN": code_n, "Code": code, "Message": message}
    else:
        payload["Result"] = result
    return _json(payload, status=status, reason=reason or (error[2] if error else ""))


def upload_host(code: int, message: str, data: dict | None = None, status: int = 200,
                reason: str = "") -> Response:
    return _json({"code": code, "apiversion": "v1", "message": message, "data": data or {}},
                 status=status, reason=reason)


def control(payload, status: int = 200) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False, indent=1, default=str),
                    status=status, mimetype="application/json")
