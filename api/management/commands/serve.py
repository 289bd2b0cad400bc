"""Run the web server and the worker cluster together in the foreground (what `make run` does).

Each child runs in its own session so a Ctrl-C reaches only this supervisor, which then sends
SIGTERM to each child's main process alone: signalling every process of a django-q2 cluster
leaves its parent stuck in "stopping" (django-stack.md §1.8).
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

STOP_TIMEOUT = 30.0


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
        children = {name: subprocess.Popen(cmd, start_new_session=True, cwd=settings.BASE_DIR)
                    for name, cmd in commands.items()}
        if "web" in children:
            self.stdout.write(f"Gateway listening on http://{host}:{port} (API base: {settings.PUBLIC_BASE_URL}/v1)")
        self.stdout.flush()

        stopping = {"signal": None}

        def on_signal(signum, frame):
            stopping["signal"] = signum

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

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
