"""Signed, expiring result URLs in the shape of the byteimg / video CDNs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import quote

IMAGE_PATH_RE = re.compile(
    r"^/(?P<bucket>tos-[a-z0-9]+-i-[a-z0-9]+)/(?P<asset>[0-9a-f]{32})"
    r"~tplv-[a-z0-9]+-aigc_resize:(?P<w>\d+):(?P<h>\d+)\.(?P<ext>png|jpeg|webp)$"
)
VIDEO_PATH_RE = re.compile(
    r"^/video/tos/(?P<zone>[a-z]+)/tos-[a-z]+-ve-15/(?P<asset>[0-9a-f]{32})/"
    r"(?P<variant>origin|preview)\.mp4$"
)


def image_bucket(site: str, service_id: str) -> str:
    return f"tos-{'cn' if site == 'cn' else 'alisg'}-i-{service_id}"


def image_path(bucket: str, service_id: str, asset: str, width: int, height: int,
               ext: str) -> str:
    return f"/{bucket}/{asset}~tplv-{service_id}-aigc_resize:{width}:{height}.{ext}"


def video_path(site: str, asset: str, variant: str) -> str:
    zone = "cn" if site == "cn" else "alisg"
    return f"/video/tos/{zone}/tos-{zone}-ve-15/{asset}/{variant}.mp4"


class UrlSigner:
    """x-expires / x-signature query pair: an HMAC over path and expiry.

    The signature is standard base64 and percent-encoded in the query, like the
    real CDN, so a client that re-encodes or decodes the URL breaks it.
    """

    def __init__(self, secret: bytes):
        self._secret = secret

    def _signature(self, path: str, expires: int) -> str:
        mac = hmac.new(self._secret, f"{path}|{expires}".encode(), hashlib.sha1).digest()
        return base64.b64encode(mac).decode()

    def query(self, path: str, expires: int) -> str:
        return f"x-expires={expires}&x-signature={quote(self._signature(path, expires), safe='')}"

    def check(self, path: str, args, now: float) -> str | None:
        """None when the URL is valid, else why it is refused."""
        expires, signature = args.get("x-expires"), args.get("x-signature")
        if not expires or not signature:
            return "unsigned URL"
        try:
            expires_at = int(expires)
        except ValueError:
            return "malformed x-expires"
        if not hmac.compare_digest(self._signature(path, expires_at), signature):
            return "bad x-signature"
        if expires_at <= now:
            return "URL expired"
        return None
