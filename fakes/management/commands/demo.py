"""`make demo`: the gateway with the bundled fake upstreams and demo accounts pointed at them.

Everything runs locally and offline; the data lives in its own GATEWAY_VAR_DIR (var/demo by
`make demo`), apart from a real installation's.
"""

import json
import os
import socket
import subprocess
import sys
import time

import requests
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from accounts.cookies import parse_credentials
from accounts.models import Account
from api.models import ApiKey

DEMO_KEY_NAME = "demo"
# What each demo Jimeng/Dreamina account holds (the fake's default, 100 + a daily claim of 60, runs
# out after ~30 jobs and parks the account until Shanghai midnight): enough for a long session.
DEMO_JIMENG_CREDITS = 1_000_000


def demo_accounts() -> list[tuple[str, str, str]]:
    """(name, provider, credentials text): the fakes accept any well-formed credentials."""
    gemini_cookies = json.dumps([
        {"domain": ".google.com", "name": "__Secure-1PSID", "value": "demo-psid-0000000001", "path": "/",
         "secure": True, "httpOnly": True, "sameSite": "no_restriction", "expirationDate": 4102444800},
        {"domain": ".google.com", "name": "__Secure-1PSIDTS", "value": "demo-psidts-0000000001", "path": "/",
         "secure": True, "httpOnly": True, "sameSite": "no_restriction", "expirationDate": 4102444800},
    ])
    return [
        ("demo-jimeng-cn", "jimeng", "demo0cn0session0000000000000001"),
        ("demo-dreamina-us", "jimeng", "us-demo0us0session00000000000001"),
        ("demo-gemini", "gemini", gemini_cookies),
    ]


def fake_jimeng_command(manage: str, port: int, delay_seconds: float) -> list[str]:
    """The fake Jimeng/Dreamina upstream of the demo, its accounts rich enough not to run dry."""
    return [sys.executable, manage, "fake_jimeng", "--port", str(port), "--delay-seconds", str(delay_seconds),
            "--initial-credits", str(DEMO_JIMENG_CREDITS)]


def _port_hint(name: str) -> str:
    return f"set FAKE_{name.upper()}_PORT (or --{name}-port) to a free port"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the fakes' servers bind: a closed connection lingering in TIME_WAIT is no obstacle.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Command(BaseCommand):
    help = "Run the gateway against the bundled fake upstreams with demo accounts (offline)."

    def add_arguments(self, parser):
        parser.add_argument("--jimeng-port", type=int, default=int(os.environ.get("FAKE_JIMENG_PORT", 8123)))
        parser.add_argument("--gemini-port", type=int, default=int(os.environ.get("FAKE_GEMINI_PORT", 8765)))
        parser.add_argument("--delay-seconds", type=float, default=3.0)

    def handle(self, *args, jimeng_port, gemini_port, delay_seconds, **options):
        manage = os.path.join(settings.BASE_DIR, "manage.py")
        fakes = {
            "jimeng": (jimeng_port, fake_jimeng_command(manage, jimeng_port, delay_seconds)),
            "gemini": (gemini_port, [sys.executable, manage, "fake_gemini", "--port", str(gemini_port),
                                     "--delay-seconds", str(delay_seconds)]),
        }
        for name, (port, _cmd) in fakes.items():
            if not _port_free(port):
                raise SystemExit(f"port {port} for the fake {name} upstream is in use (another demo?); "
                                 f"{_port_hint(name)}")
        children = [subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL)
                    for _port, cmd in fakes.values()]
        try:
            for (name, (port, _cmd)), child in zip(fakes.items(), children):
                self._wait_for(f"http://127.0.0.1:{port}/_fake/state", name, child, port)
            os.environ["JIMENG_UPSTREAM_URL"] = f"http://127.0.0.1:{jimeng_port}"
            os.environ["GEMINI_UPSTREAM_URL"] = f"http://127.0.0.1:{gemini_port}"
            # Added to the user's own (a local webhook receiver, say), not in their place.
            allowed = [h for h in os.environ.get("SSRF_ALLOWED_HOSTS", "").split(",") if h.strip()]
            os.environ["SSRF_ALLOWED_HOSTS"] = ",".join(allowed + [f"127.0.0.1:{jimeng_port}",
                                                                  f"127.0.0.1:{gemini_port}"])
            os.environ.setdefault("DEFAULT_IMAGE_MODEL", "jimeng-4.5")
            self._accounts()
            raw = self._key()
            self.stdout.write("")
            self.stdout.write("Demo: fake Jimeng, Dreamina and Gemini accounts are ready. Your demo API key:")
            self.stdout.write("")
            self.stdout.write(f"    {raw}")
            self.stdout.write("")
            self.stdout.write(f"Try:  curl {settings.PUBLIC_BASE_URL}/v1/images/generations -H 'Authorization: "
                              f"Bearer {raw}' -H 'Content-Type: application/json' "
                              "-d '{\"model\": \"jimeng-4.5\", \"prompt\": \"a red fox\"}'")
            self.stdout.write("")
            self.stdout.flush()
            call_command("serve")
        finally:
            for child in children:
                child.terminate()
            for child in children:
                child.wait(timeout=10)

    def _wait_for(self, url: str, name: str, child: subprocess.Popen, port: int) -> None:
        hint = f"the fake {name} upstream could not start on port {port}; {_port_hint(name)}"
        for _ in range(100):
            # A fake that exited (its port taken) must not let another program on that port pass
            # for it: it is asked only while our own child runs.
            if child.poll() is not None:
                raise SystemExit(hint)
            try:
                if requests.get(url, timeout=1).ok and child.poll() is None:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise SystemExit(hint)

    def _accounts(self) -> None:
        for name, provider, text in demo_accounts():
            creds = parse_credentials(text, provider=provider, source=f"demo:{name}")
            account = Account.objects.filter(name=name).first() or Account(name=name, provider=provider,
                                                                          max_concurrency=2)
            account.set_credentials(creds)
            account.save()

    def _key(self) -> str:
        # A fresh key each run, so the demo always prints one that works.
        ApiKey.objects.filter(name=DEMO_KEY_NAME).delete()
        _key, raw = ApiKey.issue(DEMO_KEY_NAME)
        return raw
