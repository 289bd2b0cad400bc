"""``manage.py fake_gemini``: serve the local fake of the Gemini web app until stopped."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Serve the local fake of gemini.google.com (app page, sign-in, image host, uploads, "
        "control API under /_fake/) until Ctrl-C or SIGTERM. Prints the base URL first."
    )
    # a dev tool: it must start even while the project's own checks are failing
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--delay-seconds", type=float, default=3.0,
                            help="how long each generation takes (default 3)")
        parser.add_argument("--image-size", type=int, default=2048,
                            help="long side of full-size images in pixels (default 2048)")
        parser.add_argument("--overlay", action="append", default=[],
                            choices=["first_visit", "promo", "upload_agree"],
                            help="show this dialog (repeatable)")
        parser.add_argument("--log-requests", action="store_true", help="one log line per request")

    def handle(self, *args, **options):
        # imported here so Django commands that never use the fake do not load Werkzeug/Pillow
        from fakes.gemini.server import FakeGemini

        fake = FakeGemini(
            host=options["host"], port=options["port"], delay_seconds=options["delay_seconds"],
            image_long_side=options["image_size"], overlays=options["overlay"],
            log_requests=options["log_requests"],
        ).start()
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.stdout.write(fake.url)
            self.stdout.write(f"app:     {fake.app_url}")
            self.stdout.write(f"control: {fake.url}/_fake/  (state, reset, delay, settings, psid, failures)")
            self.stdout.write("Stop with Ctrl-C.")
            self.stdout.flush()
            while not stop.wait(0.5):
                pass
        finally:
            fake.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("fake_gemini stopped")
