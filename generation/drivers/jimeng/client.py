"""One job's HTTP conversation with Jimeng / Dreamina (jimeng-protocol.md §2).

A `JimengClient` owns a requests.Session for one account and one job: it builds the cookie, the
signed headers and the default query, keeps every request inside the job's deadline, unwraps the
`ret` envelope, and writes a redacted record of each exchange into `log` (which ends up in
DriverResult.upstream_log / DriverError.upstream_log), rendered when it is read.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import random
import re
import time
import urllib.request
import uuid
from typing import Any, Callable
from urllib.parse import quote as urlquote
from urllib.parse import urlsplit

import requests

from gateway.redaction import redact, redact_obj
from generation.drivers.base import CredentialsRejected, DeadlineExceeded, UpstreamFailure, UpstreamUnavailable

from . import config, errors

logger = logging.getLogger(__name__)

# Per-process browser identity (§2.2): a real browser keeps these for its lifetime, and sending a
# new one per request would look like a new device each time.
WEB_ID = str(random.randrange(7_000_000_000_000_000_000, 8_000_000_000_000_000_000))
USER_ID = uuid.uuid4().hex

# Keys whose values are signing material or session secrets in upstream JSON (upload token,
# ImageX StoreInfos, commerce envelope signature), scrubbed from the log on top of redact_obj's own.
SECRET_KEYS = frozenset({
    "access_key_id", "secret_access_key", "session_token", "accesskeyid", "auth", "sessionkey",
    "session_key", "sign", "x-amz-security-token", "authorization", "uploadid", "sid_guard",
    "sessionid_ss", "sid_tt", "cookie", "x-signature",
})
_URL_QUERY = re.compile(r"(https?://[^\s\"'\\?]+)\?[^\s\"'\\]*")
_CREDENTIALS_IN_URL = re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/@\s]+@")
_NOT_SENT = re.compile(r"NewConnectionError|Failed to establish|Connection refused|Name or service")
# What a transport failure was, in words a client may read (first match wins); the exception's
# text (hosts, ports, URLs, reprs) goes only to the upstream log and the worker's log.
_REASONS = (
    (re.compile(r"(?i)connection refused|errno 111|actively refused"), "connection refused"),
    (re.compile(r"(?i)name or service not known|nodename nor servname|getaddrinfo|name resolution|"
                r"failed to resolve|no address associated"), "host name not found"),
    (re.compile(r"(?i)ssl|certificate|tls"), "TLS handshake failed"),
    (re.compile(r"(?i)connection reset|connection aborted|remotedisconnected|broken pipe|"
                r"closed connection"), "connection closed"),
    (re.compile(r"(?i)network is unreachable|no route to host|host is unreachable"), "network unreachable"),
    (re.compile(r"(?i)tunnel connection failed|proxy authentication|\b407\b"), "the proxy refused the request"),
)


def sign(path: str, device_time: int, *, appvr: str | None = None, platform: str | None = None) -> str:
    """The `Sign` header (§2.5): MD5 over fixed markers, the path's tail, Pf, Appvr and the time."""
    tail = path[-int(config.get("SIGN_PATH_CHARS")):]
    text = "|".join([
        config.get("SIGN_PREFIX"), tail, platform or config.get("PLATFORM_CODE"),
        appvr or config.get("APPVR"), str(device_time), "", config.get("SIGN_SUFFIX"),
    ])
    return hashlib.md5(text.encode()).hexdigest()


def scrub_text(text: str) -> str:
    """Signed URLs lose their query (the signature); URLs with user:pass lose the credentials."""
    text = _URL_QUERY.sub(r"\1?…", text)
    return _CREDENTIALS_IN_URL.sub(r"\1…@", text)


def excerpt(body: Any, limit: int) -> str | None:
    """A redacted, truncated rendering of a request or response body for the upstream log."""
    if body is None:
        return None
    if isinstance(body, (bytes, bytearray)):
        try:
            body = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return f"<{len(body)} bytes>"
    if isinstance(body, (dict, list)):
        text = json.dumps(redact_obj(body, SECRET_KEYS), ensure_ascii=False, default=str)
    else:
        text = str(redact_obj(str(body), SECRET_KEYS))
    text = scrub_text(text)
    return text if len(text) <= limit else text[:limit] + "…"


class JimengClient:
    """HTTP access to one account's Jimeng site, bounded by a deadline and fully logged."""

    def __init__(self, credentials, *, region: str | None = None, proxy: str = "",
                 deadline: float | None = None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, session: requests.Session | None = None):
        region = region or getattr(credentials, "region", None) or "cn"
        self.site = config.site(region)
        self.credentials = credentials
        self.sessionid = credentials.sessionid() if credentials is not None else None
        if not self.sessionid:
            raise CredentialsRejected("The account has no Jimeng sessionid; add its credentials again.")
        self.proxy = proxy or ""
        self.deadline = deadline
        self.clock = clock
        self.sleep = sleep
        self._log: list[dict] = []
        self.session = session or new_session()
        if self.proxy:
            self.session.proxies = {"http": self.proxy, "https": self.proxy}
        self._cookie = self._build_cookie()

    # --- identity ------------------------------------------------------------------------------
    def _build_cookie(self) -> str:
        """The cookie of §2.2, with any real cookies the account was imported with on top.

        Only `sessionid` (and its copies) carries identity; the rest makes the request look like
        the web app's. The account's own values for names we would invent win.
        """
        sid = self.sessionid
        guard = "|".join([sid, str(int(time.time())), str(config.get("SID_GUARD_LIFETIME")),
                          config.get("SID_GUARD_EXPIRY")])
        pairs = {
            "_tea_web_id": WEB_ID,
            "is_staff_user": "false",
            "sid_guard": urlquote(guard, safe=""),
            "uid_tt": USER_ID,
            "uid_tt_ss": USER_ID,
        }
        try:
            header = self.credentials.cookie_header(urlsplit(self.site.api).hostname)
        except Exception:  # the account's extra cookies are a nicety, never a reason to fail
            header = ""
        for part in header.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name:
                pairs[name] = value
        pairs.update({"sid_tt": sid, "sessionid": sid, "sessionid_ss": sid})
        return "; ".join(f"{k}={v}" for k, v in pairs.items())

    def default_query(self) -> dict:
        site = self.site
        query = {"aid": str(site.aid), "device_platform": config.get("DEVICE_PLATFORM"),
                 "region": site.region_param}
        if site.region in config.get("WEB_ID_REGIONS"):
            query["webId"] = WEB_ID
        query.update({"da_version": config.get("DA_VERSION"), "os": config.get("OS_PARAM")})
        query.update(config.get("DEFAULT_QUERY_EXTRA"))
        query.update({"web_version": config.get("WEB_VERSION"), "aigc_features": config.get("AIGC_FEATURES")})
        return query

    def api_headers(self, path: str, base: str, referer: str | None) -> dict:
        now = int(self.clock())
        origin = f"{urlsplit(base).scheme}://{urlsplit(base).netloc}"
        headers = dict(config.get("BROWSER_HEADERS"))
        headers.update({
            "Appid": str(self.site.aid),
            "Appvr": config.get("APPVR"),
            "Pf": config.get("PLATFORM_CODE"),
            "App-Sdk-Version": config.get("APP_SDK_VERSION"),
            "Device-Time": str(now),
            "Sign": sign(path, now),
            "Sign-Ver": config.get("SIGN_VERSION"),
            "Lan": self.site.lan,
            "Loc": self.site.loc,
            "Origin": origin,
            "Referer": referer or origin,
            "Cookie": self._cookie,
            "Content-Type": "application/json",
        })
        return headers

    # --- time ----------------------------------------------------------------------------------
    def remaining(self) -> float:
        if self.deadline is None:
            return float("inf")
        return self.deadline - self.clock()

    def check_deadline(self, what: str = "the upstream") -> None:
        if self.remaining() <= 0:
            raise DeadlineExceeded(f"The job's deadline passed while waiting for {what}.",
                                   upstream_log=self.log)

    def _timeout(self) -> tuple[float, float]:
        limit = min(float(config.get("HTTP_TIMEOUT")), self.remaining())
        return (max(0.1, min(10.0, limit)), max(0.1, limit))

    # --- the Jimeng JSON API ---------------------------------------------------------------------
    def api(self, path: str, body: Any = None, *, service: str = "api", query: dict | None = None,
            default_query: bool = True, referer: str | None = None, idempotent: bool = True,
            log_body: Any = None) -> Any:
        """POST to an /mweb, /passport or /commerce path and return the envelope's `data`.

        `body` None sends no body at all (the liveness call has none).

        Raises the mapped DriverError for a non-zero `ret` or an HTTP failure.
        """
        base = self.site.commerce if service == "commerce" else self.site.api
        params = self.default_query() if default_query else {}
        params.update(query or {})
        headers = self.api_headers(path, base, referer)
        response = self.request("POST", base + path, service=service, params=params, headers=headers,
                                json_body=body, idempotent=idempotent,
                                log_body=log_body)
        return self.unwrap(response, path)

    def unwrap(self, response: requests.Response, path: str) -> Any:
        """`data` of a successful envelope; an error otherwise (§2.6)."""
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or "ret" not in payload:
            if response.status_code >= 400:
                raise errors.from_http(response.status_code, response.headers, path=path, log=self.log)
            if isinstance(payload, dict):
                return payload  # some services answer without an envelope; callers check the shape
            raise UpstreamFailure(f"Jimeng answered {path} with a body that is not JSON "
                                  f"(HTTP {response.status_code}).", upstream_log=self.log)
        ret = str(payload.get("ret"))
        if ret == config.get("RET_OK"):
            data = payload.get("data")
            return data if data is not None else {}
        if response.status_code == 429:
            raise errors.from_http(429, response.headers, path=path, log=self.log)
        raise errors.from_ret(ret, payload.get("errmsg") or payload.get("message") or "",
                              payload.get("data"), path=path, region=self.site.region, log=self.log)

    # --- raw HTTP with retries and logging ---------------------------------------------------------
    def request(self, method: str, url: str, *, service: str, params: dict | None = None,
                headers: dict | None = None, json_body: Any = None, data: bytes | None = None,
                idempotent: bool = True, stream: bool = False, log_body: Any = None) -> requests.Response:
        """Send one request (retrying when it is safe), record it, and return the response.

        `url` is the real upstream URL; JIMENG_UPSTREAM_URL re-routes it. Error statuses (a 5xx
        after the retries too) are returned for the caller to map; only a transport failure or the
        deadline raises.
        """
        target = config.route(url)
        path = urlsplit(url).path or "/"
        attempts = 1 + max(0, int(config.get("HTTP_RETRIES")))
        delay = float(config.get("HTTP_RETRY_DELAY"))
        for attempt in range(1, attempts + 1):
            self.check_deadline(path)
            started = time.monotonic()
            entry = {"service": service, "method": method, "path": path, "attempt": attempt,
                     "request": _Unread(log_body if log_body is not None else
                                        (json_body if json_body is not None else data))}
            try:
                response = self.session.request(
                    method, target, params=params, headers=headers, json=json_body if data is None else None,
                    data=data, timeout=self._timeout(), stream=stream, allow_redirects=True,
                )
            except requests.RequestException as exc:
                entry.update(status=None, ms=_ms(started), error=self._describe(exc))
                self._record(entry)
                if self.remaining() <= 0:
                    raise DeadlineExceeded(f"The job's deadline passed during {path}.",
                                           upstream_log=self.log) from None
                if attempt < attempts and (idempotent or _never_sent(exc)):
                    self._pause(delay)
                    continue
                # The detail (redacted, the proxy masked) is in the upstream log and the worker's
                # log; the message is read by the client and shown in the account's last error.
                logger.warning("Jimeng %s %s failed after %d attempt(s): %s", method, path, attempt, entry["error"])
                raise UpstreamUnavailable(self._unreachable(exc), upstream_log=self.log) from None
            entry.update(status=response.status_code, ms=_ms(started))
            if not stream:
                entry["response"] = _Unread(response)
            self._record(entry)
            if response.status_code >= 500 and idempotent and attempt < attempts:
                self._pause(delay)
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def log(self) -> list[dict]:
        """The exchanges so far, each body redacted and truncated: a snapshot.

        Bodies are rendered when the log is first read, not per request: a job that succeeds
        never has its log read, and rendering (a JSON parse, the redaction walk) was ~15 % of
        the driver's CPU. Nothing leaves the client unrendered, as this is the only way out.
        """
        limit = int(config.get("LOG_EXCERPT_CHARS"))
        for entry in self._log:
            for key in ("request", "response"):
                value = entry.get(key)
                if isinstance(value, _Unread):
                    entry[key] = value.render(entry, limit)
        return list(self._log)

    def _record(self, entry: dict) -> None:
        """Append to the log, dropping the oldest entries after the first few once it is long.

        A job that polls for many minutes would otherwise store hundreds of near-identical polls;
        the start (credits, uploads, submit) and the latest exchanges are what explain an outcome.
        """
        head, most = int(config.get("LOG_KEEP_FIRST")), int(config.get("LOG_MAX_ENTRIES"))
        log = self._log
        log.append(entry)
        if len(log) <= most:
            return
        if log[head].get("omitted") is None:
            log.insert(head, {"omitted": 0})
        del log[head + 1]
        log[head]["omitted"] += 1

    def _pause(self, seconds: float) -> None:
        seconds = min(seconds, max(0.0, self.remaining()))
        if seconds > 0:
            self.sleep(seconds)

    def _unreachable(self, exc: Exception) -> str:
        """"Could not reach Jimeng [through the account's proxy] (<reason>)." and nothing more."""
        if self.proxy:
            via = " through the account's proxy"
        elif isinstance(exc, requests.exceptions.ProxyError):
            via = " through the environment's proxy"
        else:
            via = ""
        return f"Could not reach Jimeng{via} ({transport_reason(exc)})."

    def _describe(self, exc: Exception) -> str:
        """The exception for the operator (the upstream log, the worker's log), cause included:
        redacted, signed queries and proxy credentials scrubbed, the proxy URL masked."""
        text = f"{type(exc).__name__}: {exc}"
        if self.proxy:
            text = text.replace(self.proxy, "<proxy>")
        text = redact(scrub_text(text)) or ""
        limit = int(config.get("LOG_EXCERPT_CHARS"))
        return text if len(text) <= limit else text[:limit] + "…"

    def close(self) -> None:
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@functools.cache
def _environment_proxies() -> bool:
    """Whether the process environment names proxies (read once: it does not change in a worker)."""
    return bool(urllib.request.getproxies())


def new_session() -> requests.Session:
    session = requests.Session()
    # With trust_env, requests scans the whole environment for proxies and stats the netrc files
    # on every request (~0.5 ms each, several per job). Without environment proxies the scan finds
    # nothing, so it is skipped; the CA bundle it would also pick up is set here once, and an
    # account's own proxy still applies.
    if not _environment_proxies():
        session.trust_env = False
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
    return session


class _Unread:
    """A request body or a response, kept as it was until the log is read."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def render(self, entry: dict, limit: int) -> str | None:
        value = self.value
        if not isinstance(value, requests.Response):
            return excerpt(value, limit)
        entry.update(_ret_of(value))
        return excerpt(value.content if _is_text(value) else _binary(value), limit)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def transport_reason(exc: Exception) -> str:
    """A transport failure in a few plain words: no host, port, URL or exception text."""
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out"
    text = f"{exc!r} {exc}"
    for pattern, reason in _REASONS:
        if pattern.search(text):
            return reason
    if isinstance(exc, requests.exceptions.ProxyError):
        return "the proxy failed"
    return "connection failed"


def _never_sent(exc: Exception) -> bool:
    """True when the request cannot have reached the server, so even a charge-bearing call may retry."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    return isinstance(exc, requests.ConnectionError) and bool(_NOT_SENT.search(repr(exc)))


def _is_text(response: requests.Response) -> bool:
    kind = (response.headers.get("Content-Type") or "").lower()
    return not kind or "json" in kind or kind.startswith("text/")


def _binary(response: requests.Response) -> str:
    kind = response.headers.get("Content-Type") or "unknown type"
    return f"<{len(response.content)} bytes of {kind}>"


def _ret_of(response: requests.Response) -> dict:
    """`ret` (kept with its JSON type, which matters: "0" and 0 differ upstream) for the log."""
    if not _is_text(response):
        return {}
    try:
        payload = response.json()
    except ValueError:
        return {}
    if isinstance(payload, dict) and "ret" in payload:
        return {"ret": payload["ret"]}
    return {}


def new_id() -> str:
    return str(uuid.uuid4())


__all__ = ["JimengClient", "sign", "excerpt", "scrub_text", "new_id", "WEB_ID", "USER_ID"]
