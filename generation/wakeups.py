"""Machine-local wake-ups: a process that ends a job tells every web process on the machine.

With SQLite the web server and the workers are on one machine (they share the database file).
Each web process's watcher binds a Unix datagram socket in a directory named after the database
file, and `send` puts one datagram into every socket there, so the watcher queries as soon as a
job ends instead of on its next 20 ms poll, and polls only slowly (a safety net) otherwise.
PostgreSQL deployments may span machines: there Redis carries the news, or the watcher polls.

A wake-up carries nothing the watcher needs: it only says "look now". So a datagram dropped
because a socket's queue is full loses nothing (the queued ones wake the watcher after this
job's commit), and a socket nobody listens on any more is removed by the next sender.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import hashlib
import logging
import os
import secrets
import socket
import tempfile
from pathlib import Path
from typing import Callable

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

SUFFIX = ".sock"


def enabled() -> bool:
    """Whether this deployment is one machine without Redis: SQLite, and no REDIS_URL."""
    return not settings.REDIS_URL and connections["default"].vendor == "sqlite"


def directory() -> Path:
    """Where the watchers of this database's web processes listen.

    Under the temporary directory, not beside the database: a socket path is limited to about
    100 bytes.
    """
    name = str(Path(connections["default"].settings_dict["NAME"]).resolve())
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"gateway-wake-{digest}"


def send(job_id) -> None:
    """Wake every watcher on this machine (never raises: a missed wake-up only costs latency)."""
    try:
        entries = [e.path for e in os.scandir(directory()) if e.name.endswith(SUFFIX)]
    except OSError:
        return  # no web process has listened yet
    payload = str(job_id).encode()
    for path in entries:
        try:
            _sender().sendto(payload, path)
        except (ConnectionRefusedError, FileNotFoundError):
            _remove(path)  # its process is gone
        except BlockingIOError:
            pass  # its queue is full: wake-ups are pending there already
        except OSError:
            logger.debug("could not wake the watcher at %s", path, exc_info=True)


@functools.lru_cache(maxsize=1)
def _sender() -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setblocking(False)
    return sock


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class Listener:
    """One watcher's socket, read by its event loop; `close()` removes it."""

    def __init__(self, sock: socket.socket, path: Path, wake: Callable[[], None]):
        self._sock, self.path, self._wake = sock, path, wake
        self._loop = asyncio.get_running_loop()
        # A reader callback rather than a datagram endpoint: uvloop has no Unix datagram ones.
        self._loop.add_reader(sock.fileno(), self._drain)

    def _drain(self) -> None:
        while True:  # one wake-up for everything queued
            try:
                self._sock.recv(256)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
        self._wake()

    def pause(self) -> None:
        """Stop reading (tests: a watcher too busy to read)."""
        self._loop.remove_reader(self._sock.fileno())

    def close(self) -> None:
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        _remove(str(self.path))


async def listen(wake: Callable[[], None]) -> Listener | None:
    """Call `wake()` whenever a job ends on this machine; None when that cannot be arranged
    (then the caller keeps polling fast)."""
    folder = directory()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        if folder.stat().st_uid != os.getuid():
            logger.warning("%s belongs to another user; job ends are found by polling", folder)
            sock.close()
            return None
        path = folder / f"{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
        sock.bind(str(path))
        sock.setblocking(False)
    except OSError:
        sock.close()
        logger.warning("could not listen for job ends; they are found by polling", exc_info=True)
        return None
    atexit.register(_remove, str(path))
    return Listener(sock, path, wake)
