"""Catalogue of injectable upstream failures, prompt markers and the per-request queue.

A failure is selected either by a marker in a generate prompt (`[fail:NAME]` or
`[fail:NAME:ARG]`) or by queueing it through the control API for the next N
requests of an endpoint. The catalogue is the single source for both, and for
the table in docs/fakes/jimeng.md.
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field

# Endpoint names used for scoping queued failures and in the request log.
API_ENDPOINTS = (
    "generate", "history", "local_item_list", "upload_token", "algo_proxy",
    "user_credit", "credit_receive", "account_info",
)
UPLOAD_ENDPOINTS = ("apply_upload", "upload", "commit_upload")
ALL_ENDPOINTS = API_ENDPOINTS + UPLOAD_ENDPOINTS + ("cdn",)

# How a failure takes effect.
RET = "ret"          # envelope error with a non-zero ret
HTTP = "http"        # non-JSON HTTP error page / slow reply / dropped connection
JOB = "job"          # generate succeeds; the job misbehaves later
UPLOAD = "upload"    # ImageX/VOD/upload-host error shapes
CLAIM = "claim"      # credit_receive outcomes


@dataclass(frozen=True)
class Failure:
    name: str
    kind: str
    endpoints: tuple[str, ...]
    effect: str
    ret: str | None = None
    errmsg: str | None = None
    http_status: int | None = None
    fail_code: str | None = None


def _f(name, kind, endpoints, effect, **kw) -> Failure:
    return Failure(name, kind, tuple(endpoints), effect, **kw)


CATALOGUE: dict[str, Failure] = {f.name: f for f in [
    # §11.3.1
    _f("login", RET, API_ENDPOINTS,
       'ret "1015" "check login error"; on /commerce/* for international sites ret "34010105" '
       '"login error"', ret="1015", errmsg="check login error"),
    # §11.3.2
    _f("no_credits", RET, ["generate"],
       'ret "1006" "积分不足" with data.fail_code "1006" and fail_starling_* fields',
       ret="1006", errmsg="积分不足"),
    _f("no_credits_legacy", RET, ["generate"], 'legacy insufficient credits, ret "5000"',
       ret="5000", errmsg="积分不足"),
    # §11.3.3
    _f("claim_shark", CLAIM, ["credit_receive"], 'credit_receive ret "-4" "shark check reject"',
       ret="-4", errmsg="shark check reject"),
    _f("claim_param", CLAIM, ["credit_receive"], 'credit_receive ret "34010100" "param error"',
       ret="34010100", errmsg="param error"),
    _f("claim_zero", CLAIM, ["credit_receive"],
       "credit_receive succeeds with receive_quota 0 (nothing granted)"),
    # §11.3.4
    _f("content_policy", JOB, ["generate"],
       'job goes 20 -> 30 with fail_code "2038" ("2047" on Seedance 2.0 Fast); ARG overrides',
       fail_code="2038"),
    _f("algo_risk", RET, ["algo_proxy"], 'algo_proxy ret "2003" "risk not pass"',
       ret="2003", errmsg="risk not pass"),
    # §11.3.5
    _f("gen_failed", JOB, ["generate"], 'job goes to 30 with fail_code "1017" (ARG overrides)',
       fail_code="1017"),
    # §11.3.6
    _f("partial", JOB, ["generate"],
       'job goes to 30 with fail_code "1017" (ARG overrides) but half of the items present',
       fail_code="1017"),
    # §11.3.7
    _f("antibot", RET, ["generate", "credit_receive"], 'ret "1019" "shark not pass"',
       ret="1019", errmsg="shark not pass"),
    _f("abnormal", RET, ["generate"], 'ret "4013" "疑似存在异常行为" (bad a_bogus)',
       ret="4013", errmsg="疑似存在异常行为"),
    # §11.3.8
    _f("version", RET, API_ENDPOINTS, 'ret "3018" "permission denied"',
       ret="3018", errmsg="permission denied"),
    _f("region", RET, API_ENDPOINTS, 'ret "3000" "region not allow"',
       ret="3000", errmsg="region not allow"),
    # §11.3.9
    _f("busy", RET, API_ENDPOINTS, 'ret "1014" "system busy"', ret="1014", errmsg="system busy"),
    _f("rate_limit", HTTP, ALL_ENDPOINTS, "HTTP 429 with an HTML body", http_status=429),
    _f("http_429", HTTP, ALL_ENDPOINTS, "HTTP 429 with an HTML body", http_status=429),
    _f("http_500", HTTP, ALL_ENDPOINTS, "HTTP 500 with an HTML body", http_status=500),
    _f("http_502", HTTP, ALL_ENDPOINTS, "HTTP 502 with an HTML body", http_status=502),
    _f("http_404", HTTP, ALL_ENDPOINTS, 'HTTP 404 HTML "TLB" page', http_status=404),
    _f("html", HTTP, ALL_ENDPOINTS, "HTTP 200 with an HTML body (no ret field)",
       http_status=200),
    _f("slow", HTTP, ALL_ENDPOINTS,
       "answer normally after sleeping ARG seconds (default: the slow_seconds setting, 50)"),
    _f("reset", HTTP, ALL_ENDPOINTS, "drop the TCP connection without an HTTP response"),
    _f("lost_response", HTTP, ["generate"],
       "the job IS created and charged, but the reply is HTTP 502 (ARG 'reset': dropped "
       "connection) - for exactly-once tests", http_status=502),
    # §11.3.10
    _f("missing_history", JOB, ["generate"], "the history id never appears in get_history_by_ids"),
    _f("never_finish", JOB, ["generate"], "status stays at 45 forever (ARG 42: stays at 42)"),
    _f("unknown_status", JOB, ["generate"],
       "status 99 (or ARG) instead of 42/45 while processing, then 50"),
    _f("no_large_images", JOB, ["generate"],
       "finished items carry no image.large_images and no cover_url"),
    _f("escaped_urls", JOB, ["generate"],
       "result URLs contain a literal \\u0026 instead of & (unusable until unescaped)"),
    # §11.3.11
    _f("apply_error", UPLOAD, ["apply_upload"],
       "ApplyImageUpload/ApplyUploadInner ResponseMetadata.Error InvalidAuthorization 100024"),
    _f("upload_error", UPLOAD, ["upload"], 'upload host answers HTTP 200 with code 4000, not 2000'),
    _f("crc_mismatch", UPLOAD, ["upload"], "upload host rejects the body as a CRC32 mismatch"),
    _f("commit_error", UPLOAD, ["commit_upload"], "CommitImageUpload Results[0].UriStatus 2001"),
    _f("invalid_token", UPLOAD, ["apply_upload", "commit_upload"],
       'ResponseMetadata.Error "invalid token" 30406'),
    _f("video_too_long", UPLOAD, ["commit_upload"],
       "CommitUploadInner reports VideoMeta.Duration 20.0 s"),
    # §11.3.12
    _f("cdn_expired", JOB, ["cdn"],
       "as a marker: the job's result URLs are already expired (CDN 403); queued on cdn: the "
       "next CDN fetch answers 403"),
    _f("no_hq", JOB, ["generate"], "get_local_item_list returns no item for this video"),
    # §11.3.13
    _f("benefit", RET, ["generate"], 'ret "5001" "credit prededuct failed"',
       ret="5001", errmsg="credit prededuct failed"),
    # generic escape hatch for codes the table does not name
    _f("ret", RET, API_ENDPOINTS, 'ret ARG with the errmsg known for it (e.g. [fail:ret:4001])'),
    _f("param", RET, API_ENDPOINTS, 'ret "1000" "invalid parameter"',
       ret="1000", errmsg="invalid parameter"),
]}

MARKER_RE = re.compile(r"\[(fail|delay|count):([^\]\s]+)\]", re.IGNORECASE)


@dataclass
class Markers:
    failures: list[tuple[str, str | None]] = field(default_factory=list)
    delay: float | None = None
    count: int | None = None

    def first(self, *kinds: str, endpoint: str = "generate") -> tuple[Failure, str | None] | None:
        """The first marker of one of `kinds` that can happen on `endpoint`."""
        for name, arg in self.failures:
            failure = CATALOGUE[name]
            if failure.kind in kinds and endpoint in failure.endpoints:
                return failure, arg
        return None

    def job_modes(self) -> dict[str, str | None]:
        return {name: arg for name, arg in self.failures if CATALOGUE[name].kind == JOB}


def parse_markers(text: str) -> Markers:
    """Markers found in a prompt; unknown failure names are ignored (and reported)."""
    markers = Markers()
    for kind, value in MARKER_RE.findall(text or ""):
        kind = kind.lower()
        if kind == "fail":
            name, _, arg = value.partition(":")
            name = name.lower()
            if name in CATALOGUE:
                markers.failures.append((name, arg or None))
        elif kind == "delay":
            try:
                markers.delay = max(0.0, float(value))
            except ValueError:
                pass
        elif kind == "count":
            try:
                markers.count = min(16, max(1, int(value)))
            except ValueError:
                pass
    return markers


@dataclass
class QueuedFailure:
    name: str
    count: int
    endpoints: tuple[str, ...]
    session: str | None = None
    arg: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


class FailureQueue:
    """Failures queued through the control API, consumed by matching requests in order."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: list[QueuedFailure] = []

    def add(self, name: str, count: int = 1, endpoint: str | list | None = None,
            session: str | None = None, arg: str | None = None) -> QueuedFailure:
        failure = CATALOGUE.get(name)
        if failure is None:
            raise ValueError(f"unknown failure {name!r}; known: {sorted(CATALOGUE)}")
        if endpoint in (None, "", "default"):
            endpoints = failure.endpoints
        elif endpoint == "any":
            endpoints = ALL_ENDPOINTS
        else:
            endpoints = tuple([endpoint] if isinstance(endpoint, str) else endpoint)
            unknown = [e for e in endpoints if e not in ALL_ENDPOINTS]
            if unknown:
                raise ValueError(f"unknown endpoint(s) {unknown}; known: {list(ALL_ENDPOINTS)}")
        entry = QueuedFailure(name, max(1, int(count)), endpoints, session or None,
                              None if arg is None else str(arg))
        with self._lock:
            self._entries.append(entry)
        return entry

    def take(self, endpoint: str, session: str | None) -> tuple[Failure, str | None] | None:
        with self._lock:
            for entry in self._entries:
                if endpoint not in entry.endpoints:
                    continue
                if entry.session is not None and entry.session != session:
                    continue
                entry.count -= 1
                if entry.count <= 0:
                    self._entries.remove(entry)
                return CATALOGUE[entry.name], entry.arg
        return None

    def clear(self):
        with self._lock:
            self._entries.clear()

    def snapshot(self) -> list[dict]:
        with self._lock:
            return [e.as_dict() for e in self._entries]
