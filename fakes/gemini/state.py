"""Everything the fake remembers, behind one lock.

The server is threaded (the browser opens several connections and a generation
stream stays open for seconds), so every read-modify-write of shared data goes
through ``FakeState.lock``. The inspection API returns copies, never live objects.
"""

from __future__ import annotations

import copy
import hashlib
import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, fields

# Prefixes of a __Secure-1PSID value that select how the fake treats that account.
# Anything else that is non-empty is a valid, signed-in session.
PSID_MARKERS = {
    "expired-": "redirect",  # /app → 302 accounts.google.com/ServiceLogin
    "invalid-": "redirect",
    "signedout-": "link",  # /app → 200 signed-out page with a "Sign in" link
    "consent-": "consent",  # /app → 302 consent.google.com until the consent cookie is set
    "blocked-": "sorry",  # /app → 302 www.google.com/sorry (429)
    "notoken-": "notoken",  # /app → 200 without the SNlM0e/cfb2h/FdrFJe config blob
    "region-": "region",  # signed in, but every generation answers "not available in your location"
}
SIGNED_OUT_MODES = ("redirect", "link", "consent", "sorry")


@dataclass
class Settings:
    delay_seconds: float = 3.0
    # the reference saw the cancel "~6 s after submit"; shorter delays win
    jump_back_after: float = 6.0
    progress_interval: float = 0.5
    finish_lag: float = 0.25  # the image shows up a little before the turn is marked finished
    image_long_side: int = 2048
    preview_long_side: int = 1024
    images_per_response: int = 1
    image_src: str = "url"  # "url" (lh3 gg-dl) or "blob" (revoked blob: URL)
    tool_label: str = "Create image"  # older UIs: "Create images", "Make images"
    require_image_intent: bool = True  # without the tool, only prompts that ask for a picture get one
    include_config_blob: bool = True  # SNlM0e/cfb2h/FdrFJe in /app
    rotate_on_page_load: bool = True
    rotation_mode: str = "ok"  # ok | unauthorized | too_many | no_cookie
    rotation_min_interval: float = 0.0  # RotateCookies more often than this → 429
    missing_cookie_mode: str = "redirect"  # how /app answers without a usable PSID: redirect | link
    require_consent: bool = False  # every account must pass the consent wall first
    overlays: list = field(default_factory=list)  # "first_visit", "promo", "upload_agree"
    cors_block: bool = True  # in-page fetch() of image URLs fails as on the real CDN
    # Chromium accepts Secure cookies from http://127.0.0.1 and localhost; plain HTTP clients
    # (requests, curl) do not send them back over http, so they may turn this off.
    secure_cookies: bool = True

    def update(self, values: dict) -> None:
        known = {f.name: f for f in fields(self)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise KeyError(f"unknown settings: {', '.join(unknown)}")
        for name, value in values.items():
            current = getattr(self, name)
            if isinstance(current, bool):
                value = bool(value)
            elif isinstance(current, int) and not isinstance(current, bool):
                value = int(value)
            elif isinstance(current, float):
                value = float(value)
            elif isinstance(current, list):
                value = list(value or [])
            setattr(self, name, value)
        if self.image_src not in ("url", "blob"):
            raise ValueError("image_src must be 'url' or 'blob'")
        if self.rotation_mode not in ("ok", "unauthorized", "too_many", "no_cookie"):
            raise ValueError("rotation_mode must be ok, unauthorized, too_many or no_cookie")
        if self.missing_cookie_mode not in ("redirect", "link"):
            raise ValueError("missing_cookie_mode must be redirect or link")
        bad = set(self.overlays) - {"first_visit", "promo", "upload_agree"}
        if bad:
            raise ValueError(f"unknown overlays: {sorted(bad)}")


@dataclass
class Upload:
    ref: str
    filename: str
    mime: str
    size: int
    sha256: str
    psid: str | None
    via: str
    at: float
    data: bytes = field(repr=False, default=b"")

    def public(self) -> dict:
        d = asdict(self)
        d.pop("data")
        return d


@dataclass
class ImageRecord:
    token: str
    image_id: str
    prompt: str
    width: int
    height: int
    psid: str | None
    cid: str
    rid: str
    rcid: str
    file_name: str  # name inside the StreamGenerate reply
    download_name: str  # Content-Disposition of full-size downloads
    modifiers: dict
    source_refs: list
    at: float

    def public(self) -> dict:
        return asdict(self)


def new_psidts() -> str:
    return "sidts-" + secrets.token_urlsafe(48)


def new_psidcc() -> str:
    return "AKEyXz" + secrets.token_urlsafe(40)


def hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeState:
    def __init__(self, settings: Settings) -> None:
        self.lock = threading.RLock()
        self._defaults = copy.deepcopy(settings)
        self.settings = settings
        self.stopping = threading.Event()
        self.secret = secrets.token_bytes(16)  # signs the long rd-gg-dl tokens
        self._clear()

    def _clear(self) -> None:
        self.submissions: list[dict] = []
        self.uploads: dict[str, Upload] = {}
        self.pending_resumable: dict[str, dict] = {}
        self.images: dict[str, ImageRecord] = {}
        self.conversations: dict[str, dict] = {}
        self.cookies_issued: list[dict] = []
        self.current_psidts: dict[str, str] = {}
        self.invalid_psids: dict[str, str] = {}
        self.failure_queue: list[dict] = []
        self.jump_back_counts: dict[tuple, int] = {}
        self.per_psid: dict[str, dict] = {}
        self.first_visit_seen: set[str] = set()
        self.upload_agreed: set[str] = set()
        self.last_rotation: dict[str, float] = {}
        self.downloads: list[dict] = []
        self.page_events: list[dict] = []
        self.logins: list[dict] = []
        self.requests: deque = deque(maxlen=500)

    def reset(self, *, settings: bool = True) -> None:
        with self.lock:
            self._clear()
            if settings:
                self.settings = copy.deepcopy(self._defaults)

    # --- accounts -------------------------------------------------------------

    def psid_status(self, psid: str | None) -> str:
        """"ok", "region", "notoken", or one of SIGNED_OUT_MODES."""
        if not psid:
            return self.settings.missing_cookie_mode
        with self.lock:
            if psid in self.invalid_psids:
                return self.invalid_psids[psid]
        for prefix, status in PSID_MARKERS.items():
            if psid.startswith(prefix):
                return status
        return "ok"

    def psidts_expired(self, psidts: str | None) -> bool:
        return bool(psidts) and psidts.startswith("expired-")

    def invalidate(self, psid: str, mode: str = "redirect") -> None:
        if mode not in SIGNED_OUT_MODES:
            raise ValueError(f"mode must be one of {SIGNED_OUT_MODES}")
        with self.lock:
            self.invalid_psids[psid] = mode

    def restore(self, psid: str) -> None:
        with self.lock:
            self.invalid_psids.pop(psid, None)

    def count(self, psid: str | None, what: str, n: int = 1) -> None:
        key = psid or "(none)"
        with self.lock:
            bucket = self.per_psid.setdefault(key, {})
            bucket[what] = bucket.get(what, 0) + n

    def issue_cookie(self, psid: str | None, name: str, value: str, via: str) -> None:
        with self.lock:
            self.cookies_issued.append({"psid": psid, "name": name, "value": value, "via": via,
                                        "at": time.time()})
            if name == "__Secure-1PSIDTS" and psid:
                self.current_psidts[psid] = value

    # --- failures ---------------------------------------------------------------

    def queue_failure(self, mode: str, count: int = 1, arg: str | None = None) -> dict:
        entry = {"mode": mode, "arg": arg, "remaining": max(1, int(count))}
        with self.lock:
            self.failure_queue.append(entry)
        return dict(entry)

    def clear_failures(self) -> None:
        with self.lock:
            self.failure_queue.clear()

    def take_queued_failure(self) -> tuple[str, str | None] | None:
        with self.lock:
            if not self.failure_queue:
                return None
            head = self.failure_queue[0]
            head["remaining"] -= 1
            if head["remaining"] <= 0:
                self.failure_queue.pop(0)
            return head["mode"], head["arg"]

    def jump_back_due(self, psid: str | None, prompt: str, limit: int | None) -> bool:
        """True while this prompt has jumped back fewer than ``limit`` times (None = always)."""
        key = (psid, " ".join(prompt.split()))
        with self.lock:
            done = self.jump_back_counts.get(key, 0)
            if limit is not None and done >= limit:
                return False
            self.jump_back_counts[key] = done + 1
            return True

    # --- records ---------------------------------------------------------------

    def add_upload(self, data: bytes, filename: str, mime: str, psid: str | None, via: str) -> Upload:
        up = Upload(ref=f"/contrib_service/ttl_1d/{secrets.token_hex(12)}", filename=filename,
                    mime=mime, size=len(data), sha256=hash_bytes(data), psid=psid, via=via,
                    at=time.time(), data=data)
        with self.lock:
            self.uploads[up.ref] = up
        self.count(psid, "uploads")
        return up

    def add_submission(self, record: dict) -> dict:
        with self.lock:
            record["index"] = len(self.submissions)
            self.submissions.append(record)
        self.count(record.get("psid"), "submissions")
        return record

    def update_submission(self, record: dict, **changes) -> None:
        with self.lock:
            record.update(changes)

    def add_image(self, image: ImageRecord) -> None:
        with self.lock:
            self.images[image.token] = image
        self.count(image.psid, "images")

    def log_request(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.requests.append({"method": method, "path": path, "status": status, "at": time.time()})

    def snapshot(self) -> dict:
        with self.lock:
            return copy.deepcopy({
                "settings": asdict(self.settings),
                "delay_seconds": self.settings.delay_seconds,
                "submissions_count": len(self.submissions),
                "prompts": [s["prompt"] for s in self.submissions],
                "submissions": self.submissions,
                "per_psid": self.per_psid,
                "uploads": [u.public() for u in self.uploads.values()],
                "images": [i.public() for i in self.images.values()],
                "conversations": self.conversations,
                "cookies_issued": self.cookies_issued,
                "current_psidts": self.current_psidts,
                "invalid_psids": self.invalid_psids,
                "failure_queue": self.failure_queue,
                "downloads": self.downloads,
                "page_events": self.page_events,
                "logins": self.logins,
                "requests": list(self.requests),
            })
