"""The worker's side of the browser service: find it, start it if nobody has, talk to it.

The service is started on demand from inside a worker (so never before django-q2 forks), in the
worker's process group, so killing the cluster's group kills it too. Its owner is the process
that owns the worker pool: the django-q2 sentinel for a worker, or the calling process itself in a
script or a test; the service exits when its owner does (a cluster stopped with SIGTERM, as
`make run` stops it, ends its sentinel).
"""

from __future__ import annotations

import hashlib
import hmac
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Client

from django.conf import settings

from generation.drivers.base import UpstreamFailure

from .service import AUTHKEY_ENV, address_for

START_TIMEOUT = 30.0
# A service that is going away may accept and then drop the handshake.
_NOT_THERE = (ConnectionRefusedError, FileNotFoundError, ConnectionResetError, EOFError)
_spawn_lock = threading.Lock()


def authkey() -> bytes:
    """Per installation and var dir: processes of one gateway share a service, others do not."""
    return hmac.new(settings.SECRET_KEY.encode(), b"gemini-browser:" + str(settings.VAR_DIR).encode(),
                    hashlib.sha256).digest()


def connect(start: bool = True):
    """A connection to the running service; starts one first if there is none."""
    key = authkey()
    address = address_for(key)
    try:
        return Client(address, family="AF_UNIX", authkey=key)
    except _NOT_THERE:
        if not start:
            return None
    with _spawn_lock:
        _spawn(key)
    until = time.monotonic() + START_TIMEOUT
    while True:
        try:
            return Client(address, family="AF_UNIX", authkey=key)
        except _NOT_THERE:
            if time.monotonic() > until:
                err = UpstreamFailure("The Gemini browser service did not start (see the worker's log).",
                                      code="browser_unavailable")
                err.failover = False
                raise err from None
            time.sleep(0.05)


def status() -> dict | None:
    """What the running service reports (pid, jobs, open contexts), or None if none runs."""
    conn = connect(start=False)
    if conn is None:
        return None
    with conn:
        try:
            conn.send({"kind": "status"})
            return conn.recv()
        except (EOFError, OSError):
            return None  # it went away meanwhile


def _spawn(key: bytes) -> None:
    owner = os.getppid() if multiprocessing.parent_process() is not None else os.getpid()
    env = {**os.environ, AUTHKEY_ENV: key.hex()}
    idle = str(settings.GEMINI_BROWSER_IDLE_SECONDS)
    manage = str(settings.BASE_DIR / "manage.py")
    proc = subprocess.Popen([sys.executable, manage, "gemini_browser", "--owner-pid", str(owner), "--idle-seconds",
                             idle], env=env, stdin=subprocess.DEVNULL, close_fds=True, cwd=str(settings.BASE_DIR))
    # Reap it when it exits, so a long-lived worker does not collect a zombie.
    threading.Thread(target=proc.wait, name="gemini-service-reaper", daemon=True).start()
