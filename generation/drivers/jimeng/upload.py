"""Putting input images into ImageX so a blend draft can reference them (jimeng-protocol.md §7.1).

get_upload_token (STS keys) → ApplyImageUpload (SigV4) → raw POST to the upload host (CRC32)
→ CommitImageUpload (SigV4 over the body) → (CN) algo_proxy safety check. The result is the
image URI that goes into `image_uri` / `uri` / `image_uri_list` of the draft. Video frames reuse
`ImageUploader` as is; VOD video uploads will sit beside it.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import string
import zlib
from dataclasses import dataclass
from urllib.parse import urlencode

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as AwsCredentials
from PIL import Image, UnidentifiedImageError

from generation.drivers.base import ContentPolicy, InvalidInput, UpstreamFailure

from . import config, errors
from .client import JimengClient

IMAGEX_VERSION = "2018-08-01"
IMAGEX_SERVICE = "imagex"
UPLOAD_SCENE_IMAGE = 2


@dataclass(frozen=True)
class UploadedImage:
    uri: str
    width: int = 0
    height: int = 0
    format: str = ""
    size: int = 0


@dataclass(frozen=True)
class UploadToken:
    access_key_id: str
    secret_access_key: str
    session_token: str
    service_id: str

    def __repr__(self) -> str:  # never print the keys
        return f"UploadToken(service_id={self.service_id!r})"


def crc32_hex(data: bytes) -> str:
    """CRC-32/IEEE of the body as 8 lowercase hex digits, as the upload host expects."""
    return format(zlib.crc32(data) & 0xFFFFFFFF, "08x")


def _nonce(length: int = 10) -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=length))


def check_image(data: bytes, name: str = "input image") -> tuple[int, int, str]:
    """Width, height and format of an input image; InvalidInput when it is not one."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            return img.width, img.height, (img.format or "").lower()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise InvalidInput(f"The {name} is not an image Jimeng can read.", param="image") from None


class ImageUploader:
    """Uploads images for one job with one STS token."""

    def __init__(self, client: JimengClient):
        self.client = client
        self._token: UploadToken | None = None

    # --- STS token (§4.10) ---------------------------------------------------------------------
    def token(self) -> UploadToken:
        if self._token is None:
            data = self.client.api(config.get("PATH_UPLOAD_TOKEN"), {"scene": UPLOAD_SCENE_IMAGE})
            data = data if isinstance(data, dict) else {}
            keys = (data.get("access_key_id"), data.get("secret_access_key"), data.get("session_token"))
            if not all(keys):
                raise UpstreamFailure("Jimeng's upload token came without STS keys.",
                                      upstream_log=self.client.log)
            site = self.client.site
            # CN names the service in service_id, Dreamina in space_name (§4.10).
            service = (data.get("service_id") if not site.international else data.get("space_name")) \
                or data.get("service_id") or data.get("space_name") or site.imagex_service_id
            self._token = UploadToken(*keys, service_id=str(service))
        return self._token

    # --- SigV4 (§7.2) ----------------------------------------------------------------------------
    def _signed(self, method: str, url: str, body: bytes | None) -> dict:
        """SigV4 headers for a request to the routed ImageX URL (botocore does the signing)."""
        token = self.token()
        headers = {}
        if body is not None:
            headers["Content-Type"] = "application/json"
            headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
        request = AWSRequest(method=method, url=url, data=body or b"", headers=headers)
        creds = AwsCredentials(token.access_key_id, token.secret_access_key, token.session_token)
        SigV4Auth(creds, IMAGEX_SERVICE, self.client.site.aws_region).add_auth(request)
        return dict(request.headers.items())

    def _browser_headers(self) -> dict:
        web = self.client.site.web
        return {"Origin": web, "Referer": web + "/ai-tool/generate", "Sec-Fetch-Site": "cross-site",
                "User-Agent": config.get("BROWSER_HEADERS").get("User-Agent", "")}

    def _imagex(self, method: str, query: dict, body: dict | None = None) -> dict:
        url = f"{self.client.site.imagex}/?{urlencode(query)}"
        raw = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        headers = self._browser_headers()
        headers.update(self._signed(method, config.route(url), raw))
        action = query.get("Action", "")
        response = self.client.request(method, url, service="imagex", headers=headers, data=raw,
                                       idempotent=(action != "CommitImageUpload"), log_body=body)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code >= 400 or not isinstance(payload, dict):
            raise UpstreamFailure(f"ImageX {action} failed (HTTP {response.status_code}).",
                                  upstream_log=self.client.log)
        error = (payload.get("ResponseMetadata") or {}).get("Error")
        if error:
            code = errors.quote(error.get("Code") or error.get("CodeN") or "")
            said = errors.quote(error.get("Message") or "")
            raise UpstreamFailure(f"ImageX {action} refused the request ({code}: {said}).",
                                  upstream_log=self.client.log)
        return payload.get("Result") or {}

    # --- the flow (§7.1) -------------------------------------------------------------------------
    def upload(self, data: bytes, name: str = "input image") -> UploadedImage:
        width, height, fmt = check_image(data, name)
        token = self.token()
        query = {"Action": "ApplyImageUpload", "Version": IMAGEX_VERSION, "ServiceId": token.service_id,
                 "FileSize": str(len(data)), "s": _nonce()}
        if self.client.site.international:
            query["device_platform"] = config.get("DEVICE_PLATFORM")
        result = self._imagex("GET", query)
        address = result.get("UploadAddress") or {}
        stores = address.get("StoreInfos") or []
        hosts = address.get("UploadHosts") or []
        session_key = address.get("SessionKey")
        if not stores or not hosts or not session_key or not stores[0].get("StoreUri"):
            raise UpstreamFailure("ImageX gave no upload address.", upstream_log=self.client.log)
        store = stores[0]

        self._put(config.host_url(hosts[0]), store, data)

        commit = self._imagex("POST", {"Action": "CommitImageUpload", "Version": IMAGEX_VERSION,
                                       "ServiceId": token.service_id}, {"SessionKey": session_key})
        results = commit.get("Results") or []
        if not results or int(results[0].get("UriStatus") or 0) != int(config.get("UPLOAD_OK_CODE")):
            status = results[0].get("UriStatus") if results else "none"
            raise UpstreamFailure(f"ImageX did not accept the uploaded image (UriStatus {status}).",
                                  upstream_log=self.client.log)
        uri = results[0].get("Uri") or store["StoreUri"]
        plugin = (commit.get("PluginResult") or [{}])[0] or {}
        uploaded = UploadedImage(
            uri=uri, width=int(plugin.get("ImageWidth") or width), height=int(plugin.get("ImageHeight") or height),
            format=str(plugin.get("ImageFormat") or fmt), size=len(data),
        )
        if self.client.site.region == "cn" and config.get("CN_IMAGE_SAFETY_CHECK"):
            self.safety_check(uploaded.uri)
        return uploaded

    def _put(self, host: str, store: dict, data: bytes) -> None:
        url = f"{host}{config.get('PATH_UPLOAD')}{store['StoreUri']}"
        crc = crc32_hex(data)
        headers = {
            "Authorization": store.get("Auth") or "",
            "Content-CRC32": crc,
            "Content-Type": "application/octet-stream",
            "Content-Disposition": 'attachment; filename="undefined"',
            "Origin": self.client.site.web,
            "Referer": self.client.site.web + "/ai-tool/generate",
            "User-Agent": config.get("BROWSER_HEADERS").get("User-Agent", ""),
        }
        response = self.client.request("POST", url, service="upload", headers=headers, data=data,
                                       log_body=f"<{len(data)} bytes, crc32 {crc}>")
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code >= 300:
            raise UpstreamFailure(f"The ImageX upload host refused the image (HTTP {response.status_code}).",
                                  upstream_log=self.client.log)
        if isinstance(payload, dict) and "code" in payload:
            if int(payload.get("code") or 0) != int(config.get("UPLOAD_OK_CODE")):
                code, said = errors.quote(payload.get("code")), errors.quote(payload.get("message"))
                raise UpstreamFailure(f"The ImageX upload host refused the image (code {code}: {said}).",
                                      upstream_log=self.client.log)
            echoed = str(((payload.get("data") or {}).get("crc32")) or "").lower()
            if echoed and echoed != crc:
                raise UpstreamFailure("The ImageX upload host stored different bytes (CRC32 mismatch).",
                                      upstream_log=self.client.log)

    def safety_check(self, uri: str) -> None:
        """CN's pre-check of uploaded images (§4.11): only a violation stops the job."""
        body = {"scene": "image_face_ip", "options": {"ip_check": True},
                "req_key": "benchmark_test_user_upload_image_input",
                "file_list": [{"file_uri": uri}], "req_params": {}}
        query = {"babi_param": json.dumps(config.get("ALGO_PROXY_BABI_PARAM"), separators=(",", ":"))}
        try:
            self.client.api(config.get("PATH_ALGO_PROXY"), body, query=query)
        except ContentPolicy as err:
            raise ContentPolicy(f"Jimeng's image check refused an input image ({err.message})",
                                upstream_log=self.client.log) from None
        except (UpstreamFailure, InvalidInput):
            pass  # the check is advisory; generation itself will judge the image
