"""One place that knows what a secret looks like in text, so logs, stored upstream exchanges
and error messages can all be scrubbed the same way."""

from __future__ import annotations

import re

MASK = "[redacted]"

_PATTERNS = [
    # API keys of this gateway.
    re.compile(r"sk-gw-[A-Za-z0-9_\-]{8,}"),
    # Authorization headers of any scheme.
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:bearer|basic|aws4-hmac-sha256)?\s*)[^'\",\s]+"),
    # cookie pairs whose names are known to be credentials (Google, Jimeng/Dreamina).
    re.compile(
        r"(?i)((?:__Secure-[0-9A-Za-z]+|__Host-[0-9A-Za-z]+|SAPISID|APISID|SSID|HSID|SID|NID|"
        r"sessionid(?:_ss)?|sid_tt|sid_guard|uid_tt(?:_ss)?|passport_[a-z_]+|msToken|odin_tt|ttwid)"
        r"\s*[=:]\s*['\"]?)[^;'\",\s]+"
    ),
    # Signing material of upload flows.
    re.compile(r"(?i)((?:SecretAccessKey|SessionToken|secret_access_key|session_token|x-amz-security-token)['\"]?\s*[:=]\s*['\"]?)[^'\",\s&]+"),
]


def redact(text: str | None) -> str | None:
    if not text:
        return text
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        else:
            text = pattern.sub(MASK, text)
    return text


def redact_obj(value, secret_keys=frozenset()):
    """Scrub a JSON-like structure: values under secret-looking keys go, strings get redact()."""
    lowered = {k.lower() for k in secret_keys} | {
        "cookie", "cookies", "authorization", "sessionid", "set-cookie", "secretaccesskey",
        "sessiontoken", "x-amz-security-token", "password", "credentials",
    }
    if isinstance(value, dict):
        return {
            k: (MASK if isinstance(k, str) and k.lower() in lowered else redact_obj(v, secret_keys))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact_obj(v, secret_keys) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value
