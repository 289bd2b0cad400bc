"""Try the README's first command as a new user would: a fresh clone, `make run` with no TTY,
the printed key used with the official SDK's models.list(), then SIGTERM stops everything."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    import openai

    work = tempfile.mkdtemp(prefix="gw-fresh-")
    clone = os.path.join(work, "gateway")
    subprocess.run(["git", "clone", "-q", ROOT, clone], check=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "DJANGO_"))}
    env["PORT"] = str(port)
    log_path = os.path.join(work, "make-run.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(["make", "run"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    key = None
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            text = open(log_path, errors="replace").read()
            match = re.search(r"^\s+(sk-gw-\S+)\s*$", text, re.M)
            if match and "Gateway listening" in text:
                key = match.group(1)
                try:
                    client = openai.OpenAI(api_key=key, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
                    models = client.models.list()
                    print(f"models.list() answered with {len(models.data)} model(s) (no accounts yet)")
                    break
                except openai.APIConnectionError:
                    pass
            time.sleep(1)
        else:
            print(open(log_path, errors="replace").read()[-3000:])
            print("make run did not come up" if proc.poll() is None else f"make run exited {proc.returncode}")
            return 1
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        leftovers = subprocess.run(["pgrep", "-f", clone], capture_output=True, text=True).stdout.split()
        if leftovers:
            print(f"processes left running after SIGTERM: {leftovers}")
            return 1
        return 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        subprocess.run(["pkill", "-9", "-f", clone])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
