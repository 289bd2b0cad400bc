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


_ALWAYS_SECRET_KEYS = frozenset({
    "cookie", "cookies", "authorization", "sessionid", "set-cookie", "secretaccesskey",
    "sessiontoken", "x-amz-security-token", "password", "credentials",
})


# Every pattern above needs one of these names (or the API key prefix) in the text. Checking for
# them is ~50x cheaper than running the patterns, and most strings in an upstream JSON body (ids,
# prompts, result URLs) hold none.
_SECRET_NAMES = (
    "authorization", "__secure-", "__host-", "sid", "nid", "sessionid", "uid_tt", "passport_",
    "mstoken", "odin_tt", "ttwid", "secretaccesskey", "sessiontoken", "secret_access_key",
    "session_token", "x-amz-security-token",
)


# The non-ASCII letters that (?i) matches to ASCII ones (found by trying every code point), so
# "ſeſſionid=" is caught by the check as it is by the patterns.
_TO_ASCII = str.maketrans({"\u0130": "i", "\u0131": "i", "\u212a": "k", "\u017f": "s"})


def _may_hold_secret(text: str) -> bool:
    """False only when no pattern can match: each needs the key prefix or a name and a separator."""
    if "sk-gw-" in text:
        return True
    if "=" not in text and ":" not in text:
        return False
    folded = text.translate(_TO_ASCII).lower()
    return any(name in folded for name in _SECRET_NAMES)


def redact(text: str | None) -> str | None:
    if not text or not _may_hold_secret(text):
        return text
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        else:
            text = pattern.sub(MASK, text)
    return text


def redact_obj(value, secret_keys=frozenset()):
    """Scrub a JSON-like structure: values under secret-looking keys go, strings get redact()."""
    return _scrub(value, _ALWAYS_SECRET_KEYS | {k.lower() for k in secret_keys})


def _scrub(value, lowered: frozenset):
    if isinstance(value, dict):
        return {
            k: (MASK if isinstance(k, str) and k.lower() in lowered else _scrub(v, lowered))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_scrub(v, lowered) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value
