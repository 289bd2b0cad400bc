"""Runtime view of the protocol constants: operator overrides and the single-upstream switch.

Read on every job (not cached at import) so a settings change in tests, or an edited environment
after a worker restart, takes effect without touching code.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from . import constants


class ConfigError(ValueError):
    """JIMENG_OVERRIDES names something that is not a protocol constant."""


def overrides() -> dict:
    value = getattr(settings, "JIMENG_OVERRIDES", None) or {}
    if not isinstance(value, dict):
        raise ConfigError("JIMENG_OVERRIDES must be a JSON object of constant names to values")
    unknown = sorted(k for k in value if not _is_constant(k))
    if unknown:
        # A misspelt key silently ignored would leave an operator believing a fix is live.
        raise ConfigError(f"JIMENG_OVERRIDES names unknown constants: {', '.join(unknown)}")
    return value


def _is_constant(name) -> bool:
    return isinstance(name, str) and name.isupper() and hasattr(constants, name)


def get(name: str):
    """The value of a constant, the override winning."""
    table = overrides()
    if name in table:
        return table[name]
    return getattr(constants, name)


def upstream_url() -> str:
    """JIMENG_UPSTREAM_URL without a trailing slash, or "" for the real hosts."""
    return (getattr(settings, "JIMENG_UPSTREAM_URL", "") or "").rstrip("/")


def route(url: str) -> str:
    """Where a request for an upstream URL really goes.

    With JIMENG_UPSTREAM_URL set, every host (API, commerce, ImageX, upload, CDN) is that one base;
    the path and query are kept so a fake can tell the services apart by path.
    """
    base = upstream_url()
    if not base or not url:
        return url
    parts = urlsplit(url if "://" in url else "https://" + url)
    tail = parts.path or "/"
    if parts.query:
        tail += "?" + parts.query
    return base + tail


def host_url(host: str) -> str:
    """An upload host as returned by ImageX (bare name or URL) as an https URL."""
    host = (host or "").strip()
    if not host:
        return host
    return host.rstrip("/") if "://" in host else "https://" + host.rstrip("/")


@dataclass(frozen=True)
class Site:
    """One region's endpoints and identity values. URLs here are the real (logical) ones."""

    region: str
    api: str
    commerce: str
    imagex: str
    vod: str
    web: str
    aid: int
    region_param: str
    lan: str
    loc: str
    aws_region: str
    imagex_service_id: str

    @property
    def international(self) -> bool:
        return self.region != "cn"


def site(region: str) -> Site:
    sites = get("SITES")
    if region not in sites:
        raise ConfigError(f"no Jimeng site is configured for region {region!r}")
    row = sites[region]
    return Site(
        region=region, api=row["api"].rstrip("/"), commerce=row["commerce"].rstrip("/"),
        imagex=row["imagex"].rstrip("/"), vod=get("VOD_HOST").rstrip("/"), web=row["web"].rstrip("/"),
        aid=int(row["aid"]), region_param=str(row["region_param"]), lan=row["lan"], loc=row["loc"],
        aws_region=row["aws_region"], imagex_service_id=row["imagex_service_id"],
    )
