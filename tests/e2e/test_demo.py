"""`make demo` as a newcomer runs it: one command starts the gateway, its workers and the bundled
fake upstreams, adds the demo accounts and prints a key; the models the README suggests then work
through the official SDK, offline; stopping it stops every process it started.

The command runs as the Makefile runs it (`manage.py migrate`, then `manage.py demo`), in its own
data directory and on free ports, on the embedded default (SQLite, ORM broker) that `make demo`
uses whatever configuration the suite runs on."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO

import pytest
import requests
from PIL import Image

from tests.conftest import ROOT, free_port
from tests.support.processes import descendants, running

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"), reason="needs /usr/bin/chromium")]

KEY_LINE = re.compile(r"^\s+(sk-gw-\S+)\s*$", re.M)


@pytest.fixture
def demo(tmp_path):
    # What `make demo` sees from a user's shell: no test settings, no scale-out configuration.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_URL", "REDIS_URL", "DJANGO_", "PYTEST"))}
    port, jimeng_port = free_port(), free_port()
    env.update(GATEWAY_VAR_DIR=str(tmp_path / "demo"), PORT=str(port),
               FAKE_JIMENG_PORT=str(jimeng_port), FAKE_GEMINI_PORT=str(free_port()))
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True)
    log_path = tmp_path / "demo.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([*manage, "demo"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while True:
            text = log_path.read_text(errors="replace")
            key = KEY_LINE.search(text)
            if key and "Gateway listening" in text:
                break
            assert proc.poll() is None, f"make demo exited {proc.returncode}:\n{text[-3000:]}"
            assert time.monotonic() < deadline, f"make demo did not come up:\n{text[-3000:]}"
            time.sleep(0.2)
        started = descendants(proc.pid)  # the fakes run in sessions of their own
        yield proc, started, f"http://127.0.0.1:{port}/v1", key.group(1), f"http://127.0.0.1:{jimeng_port}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        for pid in started | descendants(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def test_the_demo_serves_the_suggested_models_offline_and_stops_cleanly(demo):
    import openai

    proc, started, base_url, key, fake_jimeng_url = demo
    sdk = openai.OpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=120)

    listed = {m.id for m in sdk.models.list().data}
    assert {"jimeng-4.5", "nanobanana", "gemini-image", "jimeng-video-3.0"} <= listed

    def image(model: str) -> tuple[str, tuple[int, int]]:
        resp = sdk.images.generate(model=model, prompt=f"a red fox, by {model}", response_format="b64_json")
        picture = Image.open(BytesIO(base64.b64decode(resp.data[0].b64_json)))
        return model, picture.size

    def video() -> str:
        made = sdk.videos.create_and_poll(model="jimeng-video-3.0", prompt="a red fox runs", seconds="5",
                                          poll_interval_ms=250)
        assert made.status == "completed", made.error
        return sdk.videos.download_content(made.id).read()[4:8]

    # The three image models on their three demo accounts (Jimeng, Dreamina, Gemini in Chromium)
    # and a video, at once, as someone trying every suggestion in turn would only be slower.
    with ThreadPoolExecutor(4) as pool:
        images = [pool.submit(image, m) for m in ("jimeng-4.5", "nanobanana", "gemini-image")]
        clip = pool.submit(video)
        sizes = dict(f.result() for f in images)
        assert clip.result() == b"ftyp"
    assert all(w > 0 and h > 0 for w, h in sizes.values()), sizes

    # The demo's Jimeng/Dreamina accounts are rich enough for a long session (not the fake's
    # default 100 credits, gone after ~30 jobs until Shanghai midnight).
    from fakes.management.commands.demo import DEMO_JIMENG_CREDITS

    sessions = requests.get(f"{fake_jimeng_url}/_fake/state", timeout=10).json()["sessions"]
    assert sessions and all(s["credits"]["total"] >= DEMO_JIMENG_CREDITS - 100 for s in sessions.values()), sessions

    assert len(started) >= 4, "expected the fakes, the web server and the worker cluster"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) is not None
    deadline = time.monotonic() + 20
    while any(running(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid in started if running(pid)]
    assert not left, f"processes the demo started are still running after SIGTERM: {left}"
