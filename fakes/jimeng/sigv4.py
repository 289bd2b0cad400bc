"""AWS SigV4 verification of ImageX/VOD calls against the STS keys the fake issued.

botocore computes the signature; we only pin what the client said it signed
(SignedHeaders, the x-amz-date timestamp) and try the canonical-query variants
gateways are known to produce (sorted raw pairs, insertion order, re-encoded).
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,"
    r"\s*Signature=([0-9a-fA-F]{64})\s*$"
)
MAX_SKEW_SECONDS = 15 * 60
QUERY_MODES = ("sorted", "insertion", "encoded")


class _PinnedSigV4(SigV4Auth):
    """SigV4Auth signing exactly the client's SignedHeaders and a chosen query form."""

    def __init__(self, credentials, service, region, signed_headers, query_mode):
        super().__init__(credentials, service, region)
        self._signed = signed_headers
        self._query_mode = query_mode

    def headers_to_sign(self, request):
        header_map = HTTPHeaders()
        for name in self._signed:
            header_map[name] = request.headers.get(name, "")
        return header_map

    def canonical_query_string(self, request):
        query = urlsplit(request.url).query
        if self._query_mode == "sorted":
            return self._canonical_query_string_url(urlsplit(request.url))
        if self._query_mode == "insertion":
            return query
        return self._canonical_query_string_params(parse_qsl(query, keep_blank_values=True))


@dataclass
class Verdict:
    ok: bool
    message: str = ""
    access_key: str = ""
    region: str = ""
    service: str = ""


def _amz_epoch(amz_date: str) -> float | None:
    try:
        return calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    except (TypeError, ValueError):
        return None


def verify(method: str, path: str, raw_query: str, headers, body: bytes,
           secret_for, expected_service: str, allowed_regions) -> Verdict:
    """Check a SigV4-signed request.

    `headers` is any case-insensitive mapping; `secret_for(access_key)` returns
    (secret_key, session_token) or None for keys the fake never issued.
    """
    match = AUTH_RE.match((headers.get("Authorization") or "").strip())
    if not match:
        return Verdict(False, "missing or malformed AWS4-HMAC-SHA256 authorization")
    credential, signed_list, signature = match.groups()
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return Verdict(False, f"malformed credential scope {credential!r}")
    access_key, scope_date, region, service, _ = parts
    verdict = Verdict(False, access_key=access_key, region=region, service=service)

    keys = secret_for(access_key)
    if keys is None:
        verdict.message = f"unknown access key {access_key!r}"
        return verdict
    secret_key, session_token = keys
    if service != expected_service:
        verdict.message = f"credential scope service {service!r}, expected {expected_service!r}"
        return verdict
    if region not in allowed_regions:
        verdict.message = f"credential scope region {region!r}, expected one of {sorted(allowed_regions)}"
        return verdict

    amz_date = headers.get("X-Amz-Date") or ""
    stamp = _amz_epoch(amz_date)
    if stamp is None:
        verdict.message = "missing or malformed x-amz-date"
        return verdict
    if scope_date != amz_date[:8]:
        verdict.message = "credential scope date differs from x-amz-date"
        return verdict
    if abs(stamp - time.time()) > MAX_SKEW_SECONDS:
        verdict.message = "x-amz-date too far from the server clock"
        return verdict
    if (headers.get("X-Amz-Security-Token") or "") != session_token:
        verdict.message = "x-amz-security-token does not match the access key"
        return verdict

    signed = [h.strip().lower() for h in signed_list.split(";") if h.strip()]
    for required in ("x-amz-date", "x-amz-security-token"):
        if required not in signed:
            verdict.message = f"{required} is not among SignedHeaders"
            return verdict
    missing = [h for h in signed if headers.get(h) is None]
    if missing:
        verdict.message = f"signed header(s) absent from the request: {missing}"
        return verdict

    body_hash = hashlib.sha256(body or b"").hexdigest()
    claimed_hash = headers.get("X-Amz-Content-SHA256")
    if claimed_hash is not None and claimed_hash.lower() != body_hash:
        verdict.message = "x-amz-content-sha256 does not match the body"
        return verdict

    creds = Credentials(access_key, secret_key, session_token)
    url = f"http://fake{path}" + (f"?{raw_query}" if raw_query else "")
    for mode in QUERY_MODES:
        request = AWSRequest(method=method.upper(), url=url, data=body or b"",
                             headers={h: headers.get(h) for h in signed})
        request.context["timestamp"] = amz_date
        request.headers["X-Amz-Content-SHA256"] = body_hash
        signer = _PinnedSigV4(creds, service, region, signed, mode)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if hmac.compare_digest(expected, signature.lower()):
            verdict.ok = True
            return verdict
    verdict.message = "signature does not match"
    return verdict
