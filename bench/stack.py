"""A throwaway gateway for benchmarks: its own database and media, the fake upstreams, uvicorn and
a real qcluster, all as separate processes on loopback, as a user would run them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def use_django(env: dict, *live: str) -> None:
    """Django in this process, to call a driver directly (the baselines). `env` is what the first
    setup reads; `live` names settings set from `env` on the loaded settings too: a process
    configures Django once, and one process may run several benchmarks in turn (bench.run_all,
    or the parts of bench.images_jimeng), each with fakes on new ports."""
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
    import django
    from django.apps import apps
    from django.conf import settings

    if not apps.ready:
        django.setup()
    for name in live:
        setattr(settings, name, env[name])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _status_field(pid: int, name: str) -> int:
    """One number from /proc/<pid>/status (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_mb(pid: int) -> float:
    """Peak resident set (VmHWM) of one process, in MB."""
    return _status_field(pid, "VmHWM") / 1024


def rss_mb(pid: int) -> float:
    return _status_field(pid, "VmRSS") / 1024


def threads(pid: int) -> int:
    return _status_field(pid, "Threads")


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def descendants(pid: int) -> set[int]:
    """The process and all its descendants (one `ps` for the whole tree)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout.split()
    pairs = list(zip(map(int, out[0::2]), map(int, out[1::2])))
    found, frontier = {pid}, {pid}
    while frontier:
        frontier = {c for c, p in pairs if p in frontier} - found
        found |= frontier
    return found


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids) -> float:
    """CPU time (user + system) the processes have used, with that of the children each has
    reaped (so a recycled worker's time stays counted), in seconds; a process gone counts 0."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return total / CLOCK_TICKS


def host_cpu() -> list[int]:
    """The machine's CPU time so far by kind, in clock ticks (the `cpu` line of /proc/stat: user,
    nice, system, idle, iowait, irq, softirq, steal)."""
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def steal_pct(before: list[int], after: list[int]) -> float:
    """Of the machine's CPU time between two `host_cpu` readings, the percentage the hypervisor
    gave to other guests. On a shared host that time is taken from whatever was runnable, so a run
    with a high figure measured a slower machine than its neighbours did."""
    spent = [b - a for a, b in zip(before, after)]
    total = sum(spent)
    return round(100 * spent[7] / total, 1) if total > 0 else 0.0


def python_loop_seconds() -> float:
    """The README's yardstick of a machine's speed: `for i in range(10_000_000): pass`, best of 3."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _i in range(10_000_000):
            pass
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


class Stack:
    def __init__(self, *, workers: int, fake_delay: float, env: dict | None = None, web_workers: int = 1):
        self.dir = Path(tempfile.mkdtemp(prefix="gw-bench-"))
        self.port = free_port()
        self.jimeng_port = free_port()
        self.gemini_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.fake_delay = fake_delay
        self.web_workers = web_workers
        from cryptography.fernet import Fernet

        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "gateway.settings",
            "GATEWAY_ENV_FILE": "off",  # the installation's .env must not change what is measured
            "GATEWAY_VAR_DIR": str(self.dir),
            "SECRET_KEY": "bench-" + "x" * 40,
            "COOKIE_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "PUBLIC_BASE_URL": self.base_url,
            "Q_WORKERS": str(workers),
            "Q_NAME": f"bench-{self.port}",
            "MAX_QUEUE_BACKLOG": "5000",
            "MAX_HELD_REQUESTS": "5000",
            "IMAGE_JOB_TIMEOUT": "600",
            "JIMENG_UPSTREAM_URL": f"http://127.0.0.1:{self.jimeng_port}",
            "GEMINI_UPSTREAM_URL": f"http://127.0.0.1:{self.gemini_port}",
            "LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        if os.environ.get("BENCH_DATABASE_URL"):
            self.env["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
        self.procs: dict[str, subprocess.Popen] = {}

    def manage(self, *args: str, input_text: str | None = None) -> str:
        out = subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                             input=input_text)
        if out.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        log = open(self.dir / f"{name}.log", "ab")
        proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[name] = proc
        return proc

    def start(self, *, fakes=("jimeng",)) -> "Stack":
        self.manage("migrate", "--noinput")
        if os.environ.get("BENCH_DATABASE_URL"):
            # A shared database outlives the stack: each stack starts empty, as a SQLite one in its
            # own directory does (the earlier stack's rows are encrypted with its own keys).
            self.manage("flush", "--noinput")
        if "jimeng" in fakes:
            self.spawn("fake_jimeng", [PY, "manage.py", "fake_jimeng", "--port", str(self.jimeng_port),
                                       "--delay-seconds", str(self.fake_delay), "--initial-credits", "10000000",
                                       # The real CDN serves compressed images; PNG encoding in the
                                       # fake would only measure the fake's own CPU use.
                                       "--image-format", "jpeg"])
            wait_http(f"http://127.0.0.1:{self.jimeng_port}/_fake/state")
        if "gemini" in fakes:
            # 1024 px originals: encoding 2048 px PNGs would measure the fake's CPU, not the driver.
            self.spawn("fake_gemini", [PY, "manage.py", "fake_gemini", "--port", str(self.gemini_port),
                                       "--delay-seconds", str(self.fake_delay), "--image-size", "1024"])
            wait_http(f"http://127.0.0.1:{self.gemini_port}/_fake/state")
        self.spawn("web", [PY, "-m", "uvicorn", "gateway.asgi:application", "--host", "127.0.0.1", "--port",
                           str(self.port), "--lifespan", "off", "--no-access-log", "--log-level", "warning",
                           "--workers", str(self.web_workers), "--backlog", "4096"])
        wait_http(self.base_url + "/v1/health")
        self.spawn("cluster", [PY, "manage.py", "qcluster"])
        time.sleep(2)
        return self

    def setup_pool(self, accounts: list[dict]) -> str:
        """Create the accounts (name, provider, credentials, max_concurrency) and an API key."""
        script = (
            "import json, sys\n"
            "from accounts.cookies import parse_credentials\n"
            "from accounts.models import Account\n"
            "from api.models import ApiKey\n"
            "for spec in json.loads(sys.stdin.read()):\n"
            "    a = Account(name=spec['name'], provider=spec['provider'], max_concurrency=spec['max_concurrency'])\n"
            "    a.set_credentials(parse_credentials(spec['credentials'], provider=spec['provider']))\n"
            "    a.save()\n"
            "print(ApiKey.issue('bench')[1])\n"
        )
        out = subprocess.run([PY, "manage.py", "shell", "-c", script], cwd=ROOT, env=self.env,
                             input=json.dumps(accounts), capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        return out.stdout.strip().splitlines()[-1]

    def sql(self, script: str) -> str:
        out = subprocess.run([PY, "manage.py", "shell", "-c", script], cwd=ROOT, env=self.env, capture_output=True,
                             text=True)
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        return out.stdout

    def web_pids(self) -> list[int]:
        web = self.procs["web"].pid
        return children(web) if self.web_workers > 1 else [web]

    def cpu_by_role(self) -> dict[str, float]:
        """CPU seconds used so far by the web server, the worker cluster (every process of it) and
        the fake upstream (with its render helper)."""
        roles = {"web": "web", "workers": "cluster", "fake": "fake_jimeng"}
        return {role: cpu_seconds(descendants(self.procs[name].pid)) for role, name in roles.items()
                if name in self.procs}

    def worker_pids(self) -> list[int]:
        pids = []
        for sentinel in children(self.procs["cluster"].pid):
            pids.extend(children(sentinel))
        return pids

    def stop(self) -> None:
        for name in ("cluster", "web", "fake_jimeng", "fake_gemini"):
            proc = self.procs.get(name)
            if proc and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        import shutil

        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1)))))
    return ordered[k]
