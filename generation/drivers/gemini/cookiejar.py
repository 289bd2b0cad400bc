"""Getting an account's cookies into a browser context and the refreshed ones back out.

Stored credentials keep the domains they were exported with (.google.com, gemini.google.com, ...).
Against the real site they are injected unchanged. Against any other upstream (a local fake) a
browser would never send google.com cookies to it, so each cookie name is re-homed onto the
upstream's host: the copy a browser would send to gemini.google.com wins when an export carries the
same name on several Google domains. After the job the same map is applied backwards, so what goes
back to the database still says .google.com and stays usable against the real site.

Loopback hosts (127.0.0.1, localhost) count as secure origins in Chromium, so `Secure` and
`__Secure-` cookies work over plain http there; a non-loopback fake must be served over https.
"""

from __future__ import annotations

import re

from accounts.cookies import Credentials, main_domain, provider_of_domain

# Cookies Google may add during a visit that are worth keeping: the rotating companions of the
# session (1PSIDTS/1PSIDCC and their 3P twins) and the consent/preferences ones. Anything else new
# (analytics, experiments) is left out so the stored set does not grow with every job.
KEEP_NEW = re.compile(r"^(?:__Secure-[13]PSID\w*|SIDCC|NID|SOCS|CONSENT|AEC)$")
_FIELDS = ("name", "value", "domain", "path", "expires", "httpOnly", "secure", "sameSite")
REFERENCE_HOST = "gemini.google.com"


def _sent_to(domain: str, host: str) -> bool:
    domain = domain.lower()
    if domain.startswith("."):
        bare = domain[1:]
        return host == bare or host.endswith("." + bare)
    return host == domain


def _rank(cookie: dict) -> tuple:
    """Lower is better: sent to gemini.google.com first, then the most specific domain."""
    return (0 if _sent_to(cookie["domain"], REFERENCE_HOST) else 1, -len(cookie["domain"].lstrip(".")))


def _chosen(creds: Credentials) -> dict[tuple[str, str], dict]:
    """(name, path) -> the stored cookie that represents it on a re-homed host."""
    best: dict[tuple[str, str], dict] = {}
    for c in creds.cookies:
        if provider_of_domain(c["domain"]) != "gemini":
            continue
        key = (c["name"], c["path"])
        if key not in best or _rank(c) < _rank(best[key]):
            best[key] = c
    return best


def to_browser(creds: Credentials, cfg) -> list[dict]:
    """Playwright SetCookieParam dicts for `context.add_cookies`."""
    if cfg.is_real_site:
        return [{k: c[k] for k in _FIELDS} for c in creds.cookies]
    out = []
    for c in _chosen(creds).values():
        # A domain without a leading dot is host-only, which __Host- cookies require. (The `url`
        # form would do the same but Chromium rejects it for __Host- cookies on http://127.0.0.1.)
        out.append({**{k: c[k] for k in _FIELDS}, "domain": cfg.app_host})
    return out


def _clean(c: dict) -> dict:
    cookie = {k: c[k] for k in _FIELDS}
    cookie["expires"] = float(cookie["expires"])
    if cookie["sameSite"] not in ("Lax", "None", "Strict"):
        cookie["sameSite"] = "Lax"
    return cookie


def _differs(old: dict, new: dict) -> bool:
    if any(old.get(k) != new[k] for k in ("value", "httpOnly", "secure", "sameSite")):
        return True
    # Chromium caps expiries at 400 days from when the cookie was set, so an unchanged cookie comes
    # back with a slightly different date on every job; only a real extension is worth a write.
    old_exp, new_exp = float(old.get("expires", -1)), new["expires"]
    if old_exp == -1 or new_exp == -1:
        return old_exp != new_exp and new_exp != -1
    return new_exp - old_exp > 86400


def merge_back(creds: Credentials, browser_cookies: list[dict], cfg) -> Credentials | None:
    """The stored credentials updated with what the context holds now; None when nothing changed."""
    merged = [dict(c) for c in creds.cookies]
    index = {(c["name"], c["domain"], c["path"]): i for i, c in enumerate(merged)}
    chosen = _chosen(creds)
    hosts = {cfg.app_host, *cfg.image_hosts, *cfg.signin_hosts}
    changed = False
    for raw in browser_cookies:
        c = _clean(raw)
        if cfg.is_real_site:
            if provider_of_domain(c["domain"]) != "gemini":
                continue
            key = (c["name"], c["domain"], c["path"])
        else:
            if c["domain"].lstrip(".").lower() not in hosts:
                continue
            origin = chosen.get((c["name"], c["path"]))
            if origin is not None:
                c["domain"] = origin["domain"]
            elif c["name"].startswith("__Host-"):
                c["domain"] = REFERENCE_HOST
            else:
                c["domain"] = main_domain("gemini")
            key = (c["name"], c["domain"], c["path"])
        if key in index:
            old = merged[index[key]]
            if _differs(old, c):
                merged[index[key]] = c
                changed = True
        elif KEEP_NEW.match(c["name"]):
            index[key] = len(merged)
            merged.append(c)
            changed = True
    if not changed:
        return None
    return Credentials(provider=creds.provider, region=creds.region, cookies=tuple(merged))


def secret_values(creds: Credentials, extra: list[dict] = ()) -> list[str]:
    """Cookie values long enough to be secrets, for scrubbing them out of text artifacts."""
    values = {c["value"] for c in creds.cookies} | {c.get("value", "") for c in extra}
    return sorted((v for v in values if len(v) >= 8), key=len, reverse=True)
