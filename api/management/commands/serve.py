"""Run the web server and the worker cluster together in the foreground (what `make run` does).

Each child runs in its own session so a Ctrl-C reaches only this supervisor, which then sends
SIGTERM to each child's main process alone: signalling every process of a django-q2 cluster
leaves its parent stuck in "stopping" (django-stack.md §1.8).
"""

import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

STOP_TIMEOUT = 30.0
LISTEN_TIMEOUT = 60.0


def _accepting(proc: subprocess.Popen, host: str, port: int, timeout: float, cancelled) -> bool:
    """Whether the server `proc` accepts connections on host:port within `timeout` seconds (False
    as soon as it exits or `cancelled()` says to stop waiting)."""
    # A wildcard address is reached through loopback.
    target = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and not cancelled() and time.monotonic() < deadline:
        try:
            with socket.create_connection((target, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class Command(BaseCommand):
    help = "Start the ASGI web server (uvicorn) and the django-q2 cluster; stop both on Ctrl-C or SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--no-cluster", action="store_true", help="Only the web server.")
        parser.add_argument("--no-web", action="store_true", help="Only the worker cluster.")

    def handle(self, *args, host, port, no_cluster=False, no_web=False, **options):
        manage = os.path.join(settings.BASE_DIR, "manage.py")
        commands = {}
        if not no_web:
            commands["web"] = [sys.executable, "-m", "uvicorn", "gateway.asgi:application", "--host", host,
                               "--port", str(port), "--lifespan", "off", "--timeout-graceful-shutdown", "10",
                               "--no-access-log"]
        if not no_cluster:
            commands["cluster"] = [sys.executable, manage, "qcluster"]
        stopping = {"signal": None}

        def on_signal(signum, frame):
            stopping["signal"] = signum

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)  # before the children exist: none is left behind
        children = {name: subprocess.Popen(cmd, start_new_session=True, cwd=settings.BASE_DIR)
                    for name, cmd in commands.items()}

        # Said only once it is true: someone who copies the address at once must not be refused.
        if "web" in children:
            if _accepting(children["web"], host, port, LISTEN_TIMEOUT, lambda: stopping["signal"] is not None):
                self.stdout.write(f"Gateway listening on http://{host}:{port} "
                                  f"(API base: {settings.PUBLIC_BASE_URL}/v1)")
            elif children["web"].poll() is None and stopping["signal"] is None:
                self.stderr.write(f"The web server is not accepting connections on {host}:{port} after "
                                  f"{LISTEN_TIMEOUT:.0f} s; still waiting for it.")
        self.stdout.flush()

        exit_code = 0
        while stopping["signal"] is None:
            for name, proc in children.items():
                if proc.poll() is not None:
                    self.stderr.write(f"{name} exited with status {proc.returncode}; stopping the rest.")
                    exit_code = proc.returncode or 1
                    stopping["signal"] = signal.SIGTERM
                    break
            time.sleep(0.2)

        self.stdout.write("Stopping…")
        for proc in children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for name, proc in children.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in {STOP_TIMEOUT:.0f} s; killing it.")
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.stdout.write("Stopped.")
        sys.exit(exit_code)
