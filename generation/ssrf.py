"""Fetching a URL a client gave us without letting it reach our own network.

The host is resolved once, every address is checked, and the connection goes to the checked
address (with the original name for Host, SNI and certificate checks), so a DNS answer that
changes between check and connect cannot slip through. Redirects are followed by hand and
checked the same way.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from django.conf import settings

MAX_REDIRECTS = 5
USER_AGENT = "image-gateway/1.0 (+input fetch)"


class UnsafeURL(ValueError):
    """The URL is refused or could not be fetched; the message is safe to show the client."""


class UnresolvedHost(UnsafeURL):
    """The URL's host has no address (here, now): not a refusal of the URL itself."""


def _allowed_override(host: str, port: int) -> bool:
    allowed = set(settings.SSRF_ALLOWED_HOSTS)
    return host in allowed or f"{host}:{port}" in allowed


def _check_address(ip: str) -> None:
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    if not addr.is_global or addr.is_multicast:
        raise UnsafeURL("the URL points to a non-public address")


def _resolve(host: str, port: int) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise UnresolvedHost(f"the host {host!r} could not be resolved") from None
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise UnresolvedHost(f"the host {host!r} could not be resolved")
    if not _allowed_override(host, port):
        for ip in addresses:  # every answer must be public, not just the first
            _check_address(ip)
    return addresses[0]


def _target(url: str):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL("only http and https URLs are accepted")
    if not parts.hostname:
        raise UnsafeURL("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeURL("URLs with credentials are not accepted")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port that is not a number (two URLs run together, say)
        raise UnsafeURL("the URL's port is not a number") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path, parts.netloc


def check_public(url: str) -> None:
    """UnsafeURL when `url` is one `fetch_public`/`post_public` would refuse (a bad scheme, no
    host, credentials, a non-public address not in SSRF_ALLOWED_HOSTS): for checking a URL
    when it is configured rather than at its first use."""
    _scheme, host, port, _path, _netloc = _target(url)
    _resolve(host, port)


def _pool(url: str, deadline: float):
    scheme, host, port, path, netloc = _target(url)
    ip = _resolve(host, port)
    remaining = max(0.1, deadline - time.monotonic())
    pool_timeout = urllib3.Timeout(connect=min(5.0, remaining), read=remaining)
    if scheme == "https":
        pool = urllib3.HTTPSConnectionPool(ip, port, timeout=pool_timeout, retries=False, maxsize=1,
                                           server_hostname=host, assert_hostname=host,
                                           cert_reqs="CERT_REQUIRED", ca_certs=certifi.where())
    else:
        pool = urllib3.HTTPConnectionPool(ip, port, timeout=pool_timeout, retries=False, maxsize=1)
    return pool, path, netloc.split("@")[-1]


def post_public(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> int:
    """POST to a public URL (webhooks); redirects are not followed. Returns the status code."""
    pool, path, host_header = _pool(url, time.monotonic() + timeout)
    try:
        resp = pool.urlopen("POST", path, body=body, headers={"Host": host_header, "User-Agent": USER_AGENT,
                                                               **headers},
                            redirect=False, retries=False, preload_content=False)
        resp.read(64 * 1024)
        resp.release_conn()
        return resp.status
    except urllib3.exceptions.HTTPError as exc:
        raise UnsafeURL(f"the URL could not be reached ({type(exc).__name__})") from None
    finally:
        pool.close()


def fetch_public(url: str, *, max_bytes: int, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        pool, path, host_header = _pool(url, deadline)
        try:
            resp = pool.urlopen("GET", path, headers={"Host": host_header, "User-Agent": USER_AGENT,
                                                      "Accept": "image/*"},
                                redirect=False, preload_content=False, retries=False)
        except urllib3.exceptions.HTTPError as exc:
            raise UnsafeURL(f"the URL could not be fetched ({type(exc).__name__})") from None
        try:
            if resp.status in (301, 302, 303, 307, 308):
                location = resp.headers.get("Location")
                if not location:
                    raise UnsafeURL("a redirect without a Location")
                url = urljoin(url, location)
                continue
            if resp.status != 200:
                raise UnsafeURL(f"the URL answered HTTP {resp.status}")
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise UnsafeURL(f"the image is larger than {max_bytes // (1024 * 1024)} MB")
            body = bytearray()
            for chunk in resp.stream(64 * 1024):
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise UnsafeURL(f"the image is larger than {max_bytes // (1024 * 1024)} MB")
                if time.monotonic() > deadline:
                    raise UnsafeURL("fetching the URL took too long")
            return bytes(body)
        except urllib3.exceptions.HTTPError as exc:
            raise UnsafeURL(f"the URL could not be fetched ({type(exc).__name__})") from None
        finally:
            resp.release_conn()
            pool.close()
    raise UnsafeURL("too many redirects")
