"""Machine-local wake-ups: a process tells the others on its machine to look at the database now.

With SQLite every process of the gateway is on one machine (they share the database file).
Two kinds of listener bind a Unix datagram socket in a directory named after the database file:
- `WATCHERS`: each web process's job watcher; a worker that ends a job sends to all of them, so
  the waiting request is answered at once instead of on the watcher's next poll, and the watcher
  polls only slowly (a safety net) otherwise;
- `QUEUE`: each worker cluster's queue reader (the ORM broker); the web sends to it when it has
  queued a job, so the job starts at once and an idle broker need not poll 50 times a second.
PostgreSQL deployments may span machines: there Redis carries the news, or the readers poll.

A wake-up carries nothing the listener needs: it only says "look now". So a datagram dropped
because a socket's queue is full loses nothing (the queued ones wake the listener after the
sender's commit), and a socket nobody listens on any more is removed by the next sender.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import hashlib
import logging
import os
import secrets
import select
import socket
import tempfile
from pathlib import Path
from typing import Callable

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

SUFFIX = ".sock"
WATCHERS = "watchers"
QUEUE = "queue"


def enabled() -> bool:
    """Whether this deployment is one machine without Redis: SQLite, and no REDIS_URL."""
    return not settings.REDIS_URL and connections["default"].vendor == "sqlite"


def directory(channel: str = WATCHERS) -> Path:
    """Where the listeners of `channel` for this database listen.

    Under the temporary directory, not beside the database: a socket path is limited to about
    100 bytes.
    """
    return _channel_directory(str(connections["default"].settings_dict["NAME"]), channel)


@functools.lru_cache(maxsize=16)
def _channel_directory(database_file: str, channel: str) -> Path:
    # Resolving and hashing the path costs ~0.2 ms, and a sender often holds the write lock.
    return base_for(database_file) / channel


def base_for(database_file) -> Path:
    """The directory of every channel of one SQLite database file."""
    digest = hashlib.sha256(str(Path(database_file).resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"gateway-wake-{digest}"


def send(what, channel: str = WATCHERS) -> None:
    """Wake every listener of `channel` on this machine (never raises: a missed wake-up only
    costs latency)."""
    try:
        entries = [e.path for e in os.scandir(directory(channel)) if e.name.endswith(SUFFIX)]
    except OSError:
        return  # nobody has listened yet
    payload = str(what).encode()
    for path in entries:
        try:
            _sender().sendto(payload, path)
        except (ConnectionRefusedError, FileNotFoundError):
            _remove(path)  # its process is gone
        except BlockingIOError:
            pass  # its queue is full: wake-ups are pending there already
        except OSError:
            logger.debug("could not wake the listener at %s", path, exc_info=True)


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
        _drain(self._sock)
        self._wake()

    def pause(self) -> None:
        """Stop reading (tests: a watcher too busy to read)."""
        self._loop.remove_reader(self._sock.fileno())

    def close(self) -> None:
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        _remove(str(self.path))


def _bind(channel: str) -> tuple[socket.socket, Path] | None:
    folder = directory(channel)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if folder.stat().st_uid != os.getuid():
            logger.warning("%s belongs to another user; the database is polled instead", folder)
            sock.close()
            return None
        path = folder / f"{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
        sock.bind(str(path))
        sock.setblocking(False)
    except OSError:
        sock.close()
        logger.warning("could not listen for wake-ups; the database is polled instead", exc_info=True)
        return None
    atexit.register(_remove, str(path))
    return sock, path


def _drain(sock: socket.socket) -> None:
    while True:  # one wake-up for everything queued
        try:
            sock.recv(256)
        except OSError:  # BlockingIOError once empty
            return


async def listen(wake: Callable[[], None], channel: str = WATCHERS) -> Listener | None:
    """Call `wake()` whenever someone sends to `channel` on this machine; None when that cannot
    be arranged (then the caller keeps polling fast)."""
    bound = _bind(channel)
    return Listener(*bound, wake) if bound else None


class Waiter:
    """A blocking listener, for a process without an event loop (the queue's reader)."""

    def __init__(self, channel: str = QUEUE):
        self._bound = _bind(channel)

    @property
    def listening(self) -> bool:
        return self._bound is not None

    def wait(self, timeout: float) -> None:
        """Return at the next wake-up (those already queued count) or after `timeout` seconds."""
        if self._bound is None:
            return
        sock = self._bound[0]
        ready, _w, _x = select.select([sock], [], [], timeout)
        if ready:
            _drain(sock)
