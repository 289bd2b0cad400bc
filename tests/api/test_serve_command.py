"""`manage.py serve` (what `make run` and `make demo` end in) says where the gateway listens only
once it does: someone who copies the printed address at once is not refused."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.slow


def test_the_listening_line_comes_once_the_port_accepts_connections(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "DJANGO_"))}
    port = free_port()
    env.update(GATEWAY_VAR_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "serve", "--no-cluster", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    try:
        started = time.monotonic()
        line = proc.stdout.readline()
        assert "Gateway listening on" in line, line
        # Straight after the line, with no retry: the port must already be open.
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        assert time.monotonic() - started < 60
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0
