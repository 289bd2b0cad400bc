"""The project's single parser for account credentials (cookie exports and Jimeng session tokens).

Everything that accepts credentials from a person (admin upload, paste box, management command,
account directory import) goes through `parse_credentials`, so every entry point accepts the same
formats, rejects the same mistakes with the same messages, and stores the same normalised shape:
Playwright `SetCookieParam` dicts, which the browser drivers inject as-is and the HTTP drivers turn
into a `Cookie:` header.

Accepted input (auto-detected):
  * JSON arrays from Cookie-Editor / EditThisCookie (`expirationDate`, `hostOnly`, `session`,
    `sameSite` spellings such as `no_restriction` / `unspecified`);
  * Playwright `storage_state` (`{"cookies": [...], "origins": [...]}`) and any JSON object with a
    `cookies` key (a list, a header string, or a name->value map), a single cookie object, or a
    flat `{"name": "value"}` map;
  * Netscape `cookies.txt` (tab separated; `#HttpOnly_` lines; comments; CRLF);
  * a raw `Cookie:` header (`a=b; c=d`, prefix optional);
  * for Jimeng / Dreamina, a bare `[region-]sessionid` token (`us-`, `hk-`, `jp-`, `sg-`; none = cn).

Secrets rule: no message, summary or repr produced here ever contains a cookie value.

Pure Python on purpose (no Django import), so it can be used by tests, scripts and workers alike.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

__all__ = [
    "CookieParseError",
    "Credentials",
    "parse_credentials",
    "parse_credentials_file",
    "PROVIDERS",
    "JIMENG_REGIONS",
    "REQUIRED_COOKIE",
    "MAX_INPUT_BYTES",
]

PROVIDERS = ("gemini", "jimeng")
JIMENG_REGIONS = ("cn", "us", "hk", "jp", "sg")
INTL_REGIONS = ("us", "hk", "jp", "sg")
REQUIRED_COOKIE = {"gemini": "__Secure-1PSID", "jimeng": "sessionid"}
PROVIDER_LABEL = {"gemini": "Gemini (google.com)", "jimeng": "Jimeng/Dreamina"}
SAME_SITE_VALUES = ("Lax", "None", "Strict")

# Real exports are a few KB; the cap keeps a wrong upload (a video, a HAR dump) from being parsed.
MAX_INPUT_BYTES = 1024 * 1024

# Playwright refuses cookies whose expiry is past 9999-12-31 (its kMaxCookieExpiresDateInSeconds).
MAX_EXPIRES = 253402300799.0
# No real cookie expires after the year 5138 in seconds, but every millisecond timestamp since 1973
# is above this, so larger numbers are taken to be milliseconds (some exporters write those).
_MILLISECONDS_ABOVE = 1e11

# Browsers place the sessionid in these copies too; the fake and upstream accept any of them.
_JIMENG_TOKEN_COOKIES = ("sessionid", "sessionid_ss", "sid_tt")
# Cookies whose value says which Dreamina site issued the session (values like "us", "cn-gd").
_REGION_HINT_COOKIES = ("store-region", "store-country-code")

_GOOGLE_HOST = re.compile(r"(?:^|\.)google\.(?:[a-z]{2,3}|co\.[a-z]{2}|com\.[a-z]{2})$")
_GOOGLE_OTHER = ("googleusercontent.com", "googleapis.com")
_JIMENG_CN = ("jianying.com", "jimeng.com")
_JIMENG_US = ("us.capcut.com", "capcut.us", "capcutapi.us")
_JIMENG_INTL = ("capcut.com", "capcutapi.com")
_HOSTNAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")
# Not the strict RFC 6265 token set: browsers store looser names, and one odd cookie of an unrelated
# site must not block an import. These characters, though, would corrupt a Cookie header.
_COOKIE_NAME = re.compile(r"^[^\s;=,\x00-\x1f\x7f]+$")
_HEADER_START = re.compile(r"^[^=;\s]+=")
_SESSIONID = re.compile(r"^[A-Za-z0-9_]{16,256}$")
_REGION_PREFIX = re.compile(r"^([A-Za-z]{2})-(.*)$", re.DOTALL)
_PROXY_SCHEMES = ("http://", "https://", "socks://", "socks4://", "socks5://")
_NAME_SHOWN = 64


# --------------------------------------------------------------------------------------------
# Errors


class CookieParseError(ValueError):
    """Credentials were rejected. `str(e)` is safe to show to the person who supplied them."""

    def __init__(self, source: str, line: int | None, fault: str):
        self.source = source
        self.line = line
        self.fault = fault
        where = f"{source} line {line}" if line is not None else source
        super().__init__(f"{where}: {fault}")


def _shown(name: str) -> str:
    # Names are not secret, but a mangled export can put a value in the name column; a cap keeps a
    # whole token from ending up in a message.
    return repr(name if len(name) <= _NAME_SHOWN else name[:_NAME_SHOWN] + "...")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------
# Domains, providers and regions


def _host(domain: str) -> str:
    return domain.lstrip(".").lower()


def _under(host: str, bases: Iterable[str]) -> bool:
    return any(host == b or host.endswith("." + b) for b in bases)


def provider_of_domain(domain: str | None) -> str | None:
    """Which provider a cookie domain belongs to, or None for unrelated sites."""
    if not domain:
        return None
    host = _host(domain)
    if _GOOGLE_HOST.search(host) or _under(host, _GOOGLE_OTHER):
        return "gemini"
    if _under(host, _JIMENG_CN + _JIMENG_US + _JIMENG_INTL):
        return "jimeng"
    return None


def regions_of_domain(domain: str) -> frozenset[str]:
    """Jimeng regions a cookie domain can belong to.

    The reference's hosts: jimeng.jianying.com is CN, *.us.capcut.com is US, while HK, JP and SG
    share the `-sg` hosts, and plain capcut.com (dreamina.capcut.com) serves every international
    region, so those only narrow the choice.
    """
    host = _host(domain)
    if _under(host, _JIMENG_CN):
        return frozenset({"cn"})
    if _under(host, _JIMENG_US):
        return frozenset({"us"})
    if host.split(".", 1)[0].endswith("-sg"):
        return frozenset({"hk", "jp", "sg"})
    return frozenset(INTL_REGIONS)


def main_domain(provider: str, region: str | None = None) -> str:
    """Domain given to cookies that arrive without one (raw header, bare token, name->value map).

    Leading dot so the cookie also reaches the API subdomains (gemini., jimeng., dreamina-api.us.).
    """
    if provider == "gemini":
        return ".google.com"
    return ".jianying.com" if region in (None, "cn") else ".capcut.com"


def _main_family(provider: str) -> tuple[str, ...]:
    return ("google.com",) if provider == "gemini" else ("jianying.com", "capcut.com")


# --------------------------------------------------------------------------------------------
# Normalising one cookie


def _same_site(raw: Any) -> str:
    # Extensions write no_restriction/unspecified/lax/strict; Playwright accepts only three
    # spellings. Chromium's default for an unspecified attribute is Lax, so unknown -> Lax.
    text = str(raw or "").strip().lower()
    if text in ("none", "no_restriction"):
        return "None"
    if text == "strict":
        return "Strict"
    return "Lax"


def _expires(raw: Any) -> float:
    """-1 for a session cookie, else unix seconds within the range Playwright accepts."""
    if raw is None or isinstance(raw, bool):
        return -1.0
    value = float(raw)  # ValueError/TypeError is turned into a user message by the caller
    if not math.isfinite(value) or value <= 0:
        return -1.0
    if value > _MILLISECONDS_ABOVE:
        value /= 1000.0
    return min(value, MAX_EXPIRES)


def _boolish(raw: Any) -> bool:
    if isinstance(raw, str):
        return raw.strip().lower() in ("true", "1", "yes")
    return bool(raw)


def _domain(raw: str, host_only: bool | None) -> str:
    """Normalise a cookie domain; raises ValueError when it is not a host name.

    Playwright treats a leading dot as "this host and its subdomains" and no dot as host-only, so
    the exporter's hostOnly / includeSubdomains flag decides the dot when it is known; otherwise the
    domain is kept as exported.
    """
    text = raw.strip().lower().rstrip(".")
    if "://" in text:
        text = (urlsplit(text).hostname or "").lower()
        host_only = True if host_only is None else host_only
    bare = text.lstrip(".")
    if not bare or not _HOSTNAME.match(bare):
        raise ValueError("domain is not a host name")
    if host_only is True:
        return bare
    if host_only is False:
        return "." + bare
    return text if text.startswith(".") else bare


def _cookie(name: str, value: str, domain: str | None, path: str, expires: float,
            http_only: bool, secure: bool, same_site: str) -> dict:
    """Build the stored dict, applying the browser's hard rules so Chromium does not drop it."""
    if same_site == "None":
        secure = True  # Chromium rejects SameSite=None without Secure
    if name.startswith("__Secure-"):
        secure = True  # the prefix is only accepted on secure cookies
    if name.startswith("__Host-"):
        # __Host- cookies must be host-only, secure and at "/", or the browser refuses them.
        secure, path = True, "/"
        domain = domain.lstrip(".") if domain else domain
    return {
        "name": name,
        "value": value,
        "domain": domain,
        "path": path or "/",
        "expires": expires,
        "httpOnly": http_only,
        "secure": secure,
        "sameSite": same_site,
    }


# --------------------------------------------------------------------------------------------
# Input decoding and format sniffing


def _decode(data: str | bytes, source: str) -> str:
    if isinstance(data, str):
        text = data
    elif isinstance(data, (bytes, bytearray)):
        text = _decode_bytes(bytes(data), source)
    else:
        raise CookieParseError(source, None, f"expected text or bytes, got {type(data).__name__}")
    if len(text) > MAX_INPUT_BYTES:
        raise CookieParseError(source, None, f"is too large (limit {MAX_INPUT_BYTES} bytes)")
    return text.lstrip("\ufeff")


def _decode_bytes(data: bytes, source: str) -> str:
    if len(data) > MAX_INPUT_BYTES:
        raise CookieParseError(source, None, f"is too large (limit {MAX_INPUT_BYTES} bytes)")
    # PowerShell's `>` writes UTF-16 with a BOM; Notepad adds a UTF-8 BOM.
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise CookieParseError(source, None, "is not valid UTF-16 text") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CookieParseError(source, line, "is not UTF-8 text (is it a binary file?)") from None


def _sniff(text: str) -> str:
    stripped = text.strip()
    if stripped[0] in "[{":
        return "json"
    first = stripped.splitlines()[0].strip()
    if first.startswith("#") or any(line.count("\t") >= 4 for line in stripped.splitlines()):
        return "netscape"
    if first[:7].lower() == "cookie:" or _HEADER_START.match(first):
        return "header"
    return "token"


def _strip_cookie_prefix(line: str) -> str:
    if line[:7].lower() == "cookie:":
        return line[7:].strip()
    return line


# --------------------------------------------------------------------------------------------
# Format readers. Each returns cookie dicts whose domain may be None (filled in later, once the
# provider and region are known).


def _read_json(text: str, source: str) -> list[dict]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # exc.msg is the parser's description only ("Expecting ',' delimiter"), never the input.
        raise CookieParseError(source, exc.lineno, f"is not valid JSON: {exc.msg} (column {exc.colno})") from None
    return _json_cookies(data, source)


def _json_cookies(data: Any, source: str) -> list[dict]:
    if isinstance(data, list):
        return [_json_entry(i, entry, source) for i, entry in enumerate(data, 1)]
    if not isinstance(data, dict):
        raise CookieParseError(source, None, "JSON must be a list of cookies or an object with a 'cookies' key")
    if "cookies" in data:
        inner = data["cookies"]
        if isinstance(inner, str):
            return _read_header(inner, source, in_file=False)
        if isinstance(inner, dict):
            return _name_value_map(inner, source)
        if isinstance(inner, list):
            return [_json_entry(i, entry, source) for i, entry in enumerate(inner, 1)]
        raise CookieParseError(source, None, "'cookies' must be a list of cookie objects")
    if "name" in data and "value" in data:
        return [_json_entry(1, data, source)]
    if data and all(isinstance(v, str) for v in data.values()):
        return _name_value_map(data, source)
    raise CookieParseError(source, None, "JSON object has no 'cookies' list and is not a cookie export")


def _name_value_map(data: dict, source: str) -> list[dict]:
    cookies = []
    for name, value in data.items():
        if not isinstance(value, str):
            raise CookieParseError(source, None, f"cookie {_shown(str(name))} must have a text value")
        cookies.append(_cookie(_check_name(str(name), source, None), value, None, "/", -1.0, False, False, "Lax"))
    return cookies


def _json_entry(index: int, entry: Any, source: str) -> dict:
    if not isinstance(entry, dict):
        raise CookieParseError(source, None, f"cookie entry {index} is not an object")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise CookieParseError(source, None, f"cookie entry {index} has no name")
    name = _check_name(name.strip(), source, None, what=f"cookie entry {index}")
    where = f"cookie entry {index} ({_shown(name)})"
    value = entry.get("value", "")
    if value is None:
        value = ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise CookieParseError(source, None, f"{where} has a value that is not text")
    return _cookie(
        name,
        str(value),
        _json_domain(entry, where, source),
        str(entry.get("path") or "/"),
        _json_expires(entry, where, source),
        _boolish(entry.get("httpOnly", entry.get("http_only", False))),
        _boolish(entry.get("secure", False)),
        _same_site(entry.get("sameSite", entry.get("same_site"))),
    )


def _json_domain(entry: dict, where: str, source: str) -> str | None:
    raw = entry.get("domain") or entry.get("url") or entry.get("host")
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise CookieParseError(source, None, f"{where}: domain is not text")
    host_only = entry.get("hostOnly")
    host_only = None if host_only is None else _boolish(host_only)
    try:
        return _domain(raw, host_only)
    except ValueError as exc:
        raise CookieParseError(source, None, f"{where}: {exc}") from None


def _json_expires(entry: dict, where: str, source: str) -> float:
    if _boolish(entry.get("session", False)):
        return -1.0
    for key in ("expires", "expirationDate", "expiry", "expires_utc"):
        if key in entry:
            try:
                return _expires(entry[key])
            except (TypeError, ValueError):
                raise CookieParseError(source, None, f"{where}: '{key}' is not a number") from None
    return -1.0


def _check_name(name: str, source: str, line: int | None, what: str = "a cookie") -> str:
    if not _COOKIE_NAME.match(name):
        raise CookieParseError(source, line, f"{what} has a name with characters a cookie name cannot contain")
    return name


def _read_netscape(text: str, source: str) -> list[dict]:
    cookies = []
    for lineno, line in enumerate(text.splitlines(), 1):
        http_only = False
        if line.startswith("#HttpOnly_"):
            # curl and Cookie-Editor mark HttpOnly cookies with this pseudo-comment prefix.
            line, http_only = line[len("#HttpOnly_"):], True
        elif line.lstrip().startswith("#") or not line.strip():
            continue
        cookies.append(_netscape_line(line, lineno, http_only, source))
    return cookies


def _netscape_line(line: str, lineno: int, http_only: bool, source: str) -> dict:
    domain, subdomains, path, secure, expiry, name, value = _netscape_fields(line, lineno, source)
    include_subdomains, is_secure = _netscape_flag(subdomains), _netscape_flag(secure)
    if include_subdomains is None or is_secure is None:
        raise CookieParseError(source, lineno, "the subdomains and secure fields must be TRUE or FALSE")
    if not name.strip():
        raise CookieParseError(source, lineno, "the cookie name is empty")
    name = _check_name(name.strip(), source, lineno)
    try:
        expires = _expires(expiry.strip() or 0)  # 0 means a session cookie in this format
    except ValueError:
        raise CookieParseError(source, lineno, "the expiry field is not a number") from None
    try:
        host = _domain(domain, host_only=not include_subdomains)
    except ValueError as exc:
        raise CookieParseError(source, lineno, str(exc)) from None
    # Netscape files carry no SameSite; Lax is what Chromium assumes for such cookies.
    return _cookie(name, value, host, path.strip() or "/", expires, http_only, is_secure, "Lax")


def _netscape_fields(line: str, lineno: int, source: str) -> list[str]:
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) == 6:
        fields.append("")  # some editors strip the trailing tab of an empty value
    if len(fields) != 7:
        raise CookieParseError(
            source, lineno,
            "expected 7 tab-separated fields (domain, subdomains, path, secure, expiry, name, value), "
            f"found {len(fields)}",
        )
    return fields


def _netscape_flag(text: str) -> bool | None:
    return {"TRUE": True, "FALSE": False}.get(text.strip().upper())


def _read_header(text: str, source: str, in_file: bool = True) -> list[dict]:
    """Parse `a=b; c=d` (optionally `Cookie:`-prefixed, possibly spread over lines).

    in_file=False means the header came from a JSON string, where file lines do not apply.
    """
    cookies = []
    lines = text.splitlines() or [text]
    multi = len([ln for ln in lines if ln.strip()]) > 1
    for lineno, line in enumerate(lines, 1):
        line = _strip_cookie_prefix(line.strip())
        shown_line = lineno if (multi and in_file) else None
        for n, part in enumerate(line.split(";"), 1):
            part = part.strip()
            if not part:
                continue
            name, eq, value = part.partition("=")
            if not eq or not name.strip():
                raise CookieParseError(source, shown_line, f"cookie pair {n} is not name=value")
            name = _check_name(name.strip(), source, shown_line, what=f"cookie pair {n}")
            cookies.append(_cookie(name, value.strip(), None, "/", -1.0, False, False, "Lax"))
    if not cookies:
        raise CookieParseError(source, None, "the Cookie header has no cookies")
    return cookies


# --------------------------------------------------------------------------------------------
# Bare Jimeng token


def _read_token(text: str, provider: str | None, region: str | None, source: str) -> "Credentials":
    if provider == "gemini":
        raise CookieParseError(
            source, None,
            "a bare token is only accepted for Jimeng/Dreamina; for Gemini export the google.com cookies "
            "(Cookie-Editor JSON, cookies.txt or a Cookie header)",
        )
    token = text.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()  # people paste the gateway's Authorization value
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'":
        token = token[1:-1].strip()  # copied from a JSON or shell snippet
    _reject_token_shapes(token, source)
    token_region, sessionid = _split_region(token, source)
    if token_region is not None and region is not None and token_region != region:
        raise CookieParseError(
            source, None, f"the token's '{token_region}-' prefix contradicts the requested region '{region}'"
        )
    # The prefix wins; without one the requested region applies, else the documented default (cn).
    final_region = token_region or region or "cn"
    _check_sessionid(sessionid, source)
    domain = main_domain("jimeng", final_region)
    cookies = tuple(
        _cookie(name, sessionid, domain, "/", -1.0, True, True, "Lax") for name in _JIMENG_TOKEN_COOKIES
    )
    return Credentials(provider="jimeng", region=final_region, cookies=cookies)


def _reject_token_shapes(token: str, source: str) -> None:
    """Reject the other token shapes the gateways accept, each with a way forward."""
    if token.lower().startswith(_PROXY_SCHEMES):
        raise CookieParseError(
            source, None,
            "the token carries a proxy (proxy@token); configure the account's proxy separately and paste "
            "only [region-]sessionid",
        )
    parts = [p for p in re.split(r"[,\s]+", token) if p]
    if "," in token and len(parts) > 1:
        raise CookieParseError(
            source, None, f"contains {len(parts)} comma-separated tokens; add each sessionid as its own account"
        )


def _split_region(token: str, source: str) -> tuple[str | None, str]:
    match = _REGION_PREFIX.match(token)
    if not match:
        return None, token
    prefix = match.group(1).lower()
    if prefix not in INTL_REGIONS:
        hint = " (CN tokens take no prefix)" if prefix == "cn" else ""
        raise CookieParseError(
            source, None, f"unknown region prefix '{prefix}-'; use us-, hk-, jp-, sg- or none for cn{hint}"
        )
    return prefix, match.group(2)


def _check_sessionid(sessionid: str, source: str) -> None:
    if _SESSIONID.match(sessionid):
        return
    if not sessionid:
        fault = "is empty after its region prefix"
    elif any(ch.isspace() for ch in sessionid):
        fault = ("contains spaces or line breaks; paste a single sessionid "
                 "(several accounts must be added one by one)")
    elif any(ch in sessionid for ch in "=;"):
        fault = "contains '=' or ';'; paste either the bare sessionid or a full Cookie header"
    elif len(sessionid) < 16:
        fault = "is too short to be a sessionid (expected about 32 hex characters)"
    elif len(sessionid) > 256:
        fault = "is too long to be a sessionid (expected about 32 hex characters)"
    else:
        fault = "contains characters a sessionid cannot contain (expected about 32 hex characters)"
    raise CookieParseError(source, None, f"does not look like a Jimeng sessionid: it {fault}")


# --------------------------------------------------------------------------------------------
# From a cookie list to Credentials


def _detect_provider(cookies: list[dict], source: str) -> str:
    by_domain = {provider_of_domain(c["domain"]) for c in cookies if c["domain"]} - {None}
    if not by_domain and all(c["domain"] for c in cookies):
        raise CookieParseError(
            source, None,
            f"no cookie for Google (Gemini) or Jimeng/Dreamina domains; found only: {_domain_list(cookies)}",
        )
    if len(by_domain) == 1:
        return next(iter(by_domain))
    # Either no domains at all (a raw header) or both providers: the required cookie decides.
    candidates = by_domain or set(PROVIDERS)
    having = [p for p in PROVIDERS if p in candidates and _has_required(cookies, p)]
    if len(having) == 1:
        return having[0]
    if len(having) == 2:
        raise CookieParseError(
            source, None,
            "contains login cookies for both Gemini and Jimeng/Dreamina; choose the provider explicitly",
        )
    raise CookieParseError(
        source, None,
        "cannot tell the provider: no __Secure-1PSID (Gemini) or sessionid (Jimeng) cookie; choose the provider",
    )


def _has_required(cookies: list[dict], provider: str) -> bool:
    required = REQUIRED_COOKIE[provider]
    return any(c["name"] == required and _belongs(c, provider) for c in cookies)


def _belongs(cookie: dict, provider: str) -> bool:
    return cookie["domain"] is None or provider_of_domain(cookie["domain"]) == provider


def _domain_list(cookies: list[dict], limit: int = 6) -> str:
    hosts = sorted({_host(c["domain"]) for c in cookies if c["domain"]})
    more = f" and {len(hosts) - limit} more" if len(hosts) > limit else ""
    return ", ".join(hosts[:limit]) + more if hosts else "(none)"


def _dedupe(cookies: list[dict]) -> list[dict]:
    # Two cookies with the same name, domain and path are the same browser cookie; keep the first
    # so the result does not depend on how Playwright resolves the clash.
    seen, kept = set(), []
    for c in cookies:
        key = (c["name"], c["domain"], c["path"])
        if key not in seen:
            seen.add(key)
            kept.append(c)
    return kept


def _drop_expired(cookies: list[dict], provider: str, now: float, source: str) -> list[dict]:
    alive = [c for c in cookies if c["expires"] == -1 or c["expires"] > now]
    if not alive:
        latest = max(c["expires"] for c in cookies)
        raise CookieParseError(
            source, None,
            f"all {len(cookies)} {PROVIDER_LABEL[provider]} cookies have expired (the last on {_iso(latest)}); "
            "export fresh cookies",
        )
    return alive


def _check_required(alive: list[dict], every: list[dict], provider: str, source: str) -> None:
    required = REQUIRED_COOKIE[provider]
    present = [c for c in alive if c["name"] == required]
    if any(c["value"].strip() for c in present):
        return
    if present:
        raise CookieParseError(source, None, f"the {required} cookie is empty (was the browser logged out?)")
    expired = [c["expires"] for c in every if c["name"] == required]
    if expired:
        raise CookieParseError(
            source, None, f"the {required} cookie expired on {_iso(max(expired))}; log in again and re-export"
        )
    raise CookieParseError(
        source, None,
        f"the required {required} cookie is missing (is this a logged-in {PROVIDER_LABEL[provider]} export?)",
    )


def _check_single_session(alive: list[dict], source: str) -> None:
    sessions = [c for c in alive if c["name"] == "sessionid" and c["value"].strip()]
    if len({c["value"] for c in sessions}) > 1:
        raise CookieParseError(
            source, None,
            f"found {len(sessions)} different sessionid cookies (domains: {_domain_list(sessions)}); "
            "one account per file, please",
        )


def _resolve_region(alive: list[dict], explicit: str | None, source: str) -> str:
    sid_domains = {c["domain"] for c in alive if c["name"] == "sessionid" and c["value"].strip() and c["domain"]}
    candidates = frozenset(JIMENG_REGIONS)
    for domain in sid_domains:
        candidates &= regions_of_domain(domain)
    if not candidates:
        raise CookieParseError(
            source, None, "the sessionid cookies come from both Jimeng (CN) and Dreamina; export one site per account"
        )
    if explicit is not None:
        if explicit not in candidates:
            raise CookieParseError(
                source, None,
                f"region '{explicit}' contradicts the sessionid cookie's domain ({', '.join(sorted(candidates))})",
            )
        return explicit
    if len(candidates) == 1:
        return next(iter(candidates))
    hinted = candidates & _region_hints(alive)
    if len(hinted) == 1:
        return next(iter(hinted))
    if not sid_domains:
        return "cn"  # a header says nothing about the site; same default as an unprefixed token
    raise CookieParseError(
        source, None,
        f"cannot tell the Dreamina region ({', '.join(sorted(candidates))}) from these cookies; choose the region "
        "or paste the sessionid with its region prefix (e.g. us-<sessionid>)",
    )


def _region_hints(cookies: list[dict]) -> frozenset[str]:
    hints = set()
    for c in cookies:
        if c["name"] in _REGION_HINT_COOKIES:
            code = c["value"].strip().lower()[:2]
            if code in JIMENG_REGIONS:
                hints.add(code)
    return frozenset(hints)


def _build(cookies: list[dict], provider: str | None, region: str | None, now: float, source: str) -> "Credentials":
    if not cookies:
        raise CookieParseError(source, None, "contains no cookies")
    provider = provider or _detect_provider(cookies, source)
    if provider == "gemini" and region is not None:
        raise CookieParseError(source, None, "these are Gemini cookies; a region applies to Jimeng only")
    # Not deduplicated yet: two sessionids under one name must be seen by _check_single_session.
    mine = [c for c in cookies if _belongs(c, provider)]
    if not mine:
        raise CookieParseError(
            source, None,
            f"no cookie for {PROVIDER_LABEL[provider]} domains; found only: {_domain_list(cookies)}",
        )
    alive = _drop_expired(mine, provider, now, source)
    _check_required(alive, mine, provider, source)
    final_region = None
    if provider == "jimeng":
        _check_single_session(alive, source)
        final_region = _resolve_region(alive, region, source)
    fallback = main_domain(provider, final_region)
    placed = _dedupe([c if c["domain"] else {**c, "domain": _fill_domain(c, fallback)} for c in alive])
    return Credentials(provider=provider, region=final_region, cookies=tuple(placed))


def _fill_domain(cookie: dict, fallback: str) -> str:
    return fallback.lstrip(".") if cookie["name"].startswith("__Host-") else fallback


# --------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True, repr=False)
class Credentials:
    """One account's normalised credentials.

    `cookies` are Playwright SetCookieParam dicts (name, value, domain, path, expires, httpOnly,
    secure, sameSite). Build instances with `parse_credentials` or `from_json`; the constructor only
    checks the shape.
    """

    provider: str
    region: str | None
    cookies: tuple[dict, ...]

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ValueError(f"unknown provider {self.provider!r}")
        if self.provider == "gemini" and self.region is not None:
            raise ValueError("gemini credentials have no region")
        if self.provider == "jimeng" and self.region not in JIMENG_REGIONS:
            raise ValueError(f"jimeng region must be one of {', '.join(JIMENG_REGIONS)}")
        # Private copies: a caller mutating its dicts must not change stored credentials.
        object.__setattr__(self, "cookies", tuple(dict(c) for c in self.cookies))

    def __repr__(self) -> str:
        # The dataclass repr would print every value into logs and tracebacks.
        names = ", ".join(dict.fromkeys(c["name"] for c in self.cookies))
        shown = f"<{len(self.cookies)}: {names}>"
        return f"Credentials(provider={self.provider!r}, region={self.region!r}, cookies={shown})"

    def sessionid(self) -> str | None:
        """The raw Jimeng sessionid (never region-prefixed); None for Gemini."""
        if self.provider != "jimeng":
            return None
        for name in _JIMENG_TOKEN_COOKIES:
            for c in self.cookies:
                if c["name"] == name and c["value"]:
                    return c["value"]
        return None

    def token(self) -> str | None:
        """The gateway token form `[region-]sessionid` for Jimeng HTTP drivers; None for Gemini."""
        sid = self.sessionid()
        if sid is None:
            return None
        return sid if self.region == "cn" else f"{self.region}-{sid}"

    def to_json(self) -> dict:
        return {
            "version": 1,
            "provider": self.provider,
            "region": self.region,
            "cookies": [dict(c) for c in self.cookies],
        }

    @classmethod
    def from_json(cls, data: dict) -> "Credentials":
        return _from_stored(data)

    def storage_state(self) -> dict:
        """Playwright `storage_state` for `browser.new_context(storage_state=...)`."""
        return {"cookies": [dict(c) for c in self.cookies], "origins": []}

    def summary(self) -> dict:
        """What an admin page may show: shape and lifetime, never values."""
        timed = [c["expires"] for c in self.cookies if c["expires"] != -1]
        return {
            "provider": self.provider,
            "region": self.region,
            "cookie_names": sorted({c["name"] for c in self.cookies}),
            "domains": sorted({c["domain"] for c in self.cookies}),
            "soonest_expiry": _iso(min(timed)) if timed else None,
            "count": len(self.cookies),
        }

    def cookie_header(self, domain: str | None = None) -> str:
        """`a=b; c=d` for HTTP drivers.

        With `domain` (a host name or URL), only cookies a browser would send to that host, the most
        specific domain winning per name. Without it, one cookie per name, preferring the provider's
        main domain (google.com over google.com.hk) and the root over subdomains. Paths are ignored.
        """
        host = _request_host(domain) if domain else None
        best: dict[str, tuple[tuple, str]] = {}
        for c in self.cookies:
            if host is not None and not _sent_to(c["domain"], host):
                continue
            rank = self._header_rank(c, host)
            if c["name"] not in best or rank < best[c["name"]][0]:
                best[c["name"]] = (rank, c["value"])
        return "; ".join(f"{name}={value}" for name, (_, value) in best.items())

    def _header_rank(self, cookie: dict, host: str | None) -> tuple:
        bare = _host(cookie["domain"])
        if host is not None:
            return (-len(bare),)  # browsers send the most specific match first
        return (0 if bare in _main_family(self.provider) else 1, len(bare))


def _request_host(domain: str) -> str:
    if "://" in domain:
        return (urlsplit(domain).hostname or "").lower()
    return _host(domain)


def _sent_to(cookie_domain: str, host: str) -> bool:
    if cookie_domain.startswith("."):
        return _under(host, (cookie_domain[1:].lower(),))
    return host == cookie_domain.lower()


_STORED = "<stored credentials>"


def _from_stored(data: Any) -> Credentials:
    if not isinstance(data, dict):
        raise CookieParseError(_STORED, None, "must be a JSON object")
    if data.get("version", 1) != 1:
        raise CookieParseError(_STORED, None, f"unsupported version {data.get('version')!r}")
    cookies = data.get("cookies")
    if not isinstance(cookies, list) or not cookies:
        raise CookieParseError(_STORED, None, "has no cookies")
    checked = tuple(_stored_cookie(i, c) for i, c in enumerate(cookies, 1))
    try:
        return Credentials(provider=data.get("provider"), region=data.get("region"), cookies=checked)
    except ValueError as exc:
        raise CookieParseError(_STORED, None, str(exc)) from None


def _stored_cookie(index: int, c: Any) -> dict:
    types = {"name": str, "value": str, "domain": str, "path": str, "httpOnly": bool, "secure": bool}
    ok = isinstance(c, dict) and all(isinstance(c.get(k), t) for k, t in types.items())
    ok = ok and isinstance(c.get("expires"), (int, float)) and not isinstance(c.get("expires"), bool)
    if not ok or c.get("sameSite") not in SAME_SITE_VALUES:
        raise CookieParseError(_STORED, None, f"cookie {index} is not a normalised cookie")
    return {k: c[k] for k in ("name", "value", "domain", "path")} | {
        "expires": float(c["expires"]), "httpOnly": c["httpOnly"], "secure": c["secure"], "sameSite": c["sameSite"],
    }


def parse_credentials(
    text: str | bytes,
    *,
    provider: str | None = None,
    source: str = "<pasted text>",
    now: float | None = None,
    region: str | None = None,
) -> Credentials:
    """Parse any accepted credential format into normalised Credentials.

    provider: "gemini" / "jimeng" to keep only that provider's cookies, or None to detect it.
    source:   how to name the input in error messages (a file name, or "<pasted text>").
    now:      unix time used to discard expired cookies (default: the current time).
    region:   Jimeng only, for inputs that do not say which site issued them (an unprefixed token
              or a Dreamina export that does not narrow the region down).
    Raises CookieParseError with a message that is safe to show and contains no cookie value.
    """
    if provider is not None and provider not in PROVIDERS:
        raise CookieParseError(source, None, f"unknown provider {provider!r}; expected gemini or jimeng")
    if region is not None and (provider == "gemini" or region not in JIMENG_REGIONS):
        raise CookieParseError(source, None, f"region must be one of {', '.join(JIMENG_REGIONS)} (Jimeng only)")
    decoded = _decode(text, source)
    if not decoded.strip():
        raise CookieParseError(source, None, "is empty")
    if now is None:
        now = time.time()
    kind = _sniff(decoded)
    if kind == "token":
        return _read_token(decoded, provider, region, source)
    readers = {"json": _read_json, "netscape": _read_netscape, "header": _read_header}
    return _build(readers[kind](decoded, source), provider, region, now, source)


def parse_credentials_file(
    path: str | Path, *, provider: str | None = None, now: float | None = None, region: str | None = None
) -> Credentials:
    """Read and parse a credentials file; errors name it as `<account>/cookies.json` or `<file>`."""
    path = Path(path)
    source = f"{path.parent.name}/{path.name}" if path.stem == "cookies" and path.parent.name else path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CookieParseError(source, None, f"cannot be read ({exc.strerror or exc.__class__.__name__})") from None
    return parse_credentials(data, provider=provider, source=source, now=now, region=region)
