"""`manage.py fake_jimeng`: run the fake Jimeng/Dreamina upstream until Ctrl-C or SIGTERM."""

import signal
import threading

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = ("Run the local fake of the Jimeng/Dreamina web API upstream (API, commerce, "
            "ImageX/VOD, upload host and CDN on one base URL). See docs/fakes/jimeng.md.")

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8123, help="0 picks a free port")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--delay-seconds", type=float, default=3.0,
                            help="generation time of each job (default 3)")
        parser.add_argument("--initial-credits", type=int, default=None)
        parser.add_argument("--daily-credits", type=int, default=None)
        parser.add_argument("--image-format", choices=["png", "jpeg", "webp"], default=None)
        parser.add_argument("--public-url", default=None,
                            help="base used in generated URLs (default: the request's Host)")
        parser.add_argument("--no-sign-check", action="store_true",
                            help="do not verify the Sign header")
        parser.add_argument("--no-strict-region", action="store_true",
                            help="do not bind a sessionid to the first site it is used on")
        parser.add_argument("--seedance-a-bogus-ok", action="store_true",
                            help="accept any a_bogus on Seedance 2.0 generate calls")
        parser.add_argument("--log-requests", action="store_true")

    def handle(self, *args, **options):
        from fakes.jimeng.server import FakeJimeng  # lazy: keep manage.py startup light

        settings = {
            key: options[key]
            for key in ("initial_credits", "daily_credits", "image_format", "public_url")
            if options[key] is not None
        }
        if options["no_sign_check"]:
            settings["check_sign"] = False
        if options["no_strict_region"]:
            settings["strict_region"] = False
        if options["seedance_a_bogus_ok"]:
            settings["seedance_a_bogus_ok"] = True
        fake = FakeJimeng(host=options["host"], port=options["port"],
                          delay_seconds=options["delay_seconds"],
                          verbose=options["log_requests"], **settings)

        stopping = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopping.set())
        fake.start()
        self.stdout.write(f"fake Jimeng upstream listening on {fake.url}")
        self.stdout.write(f"  set JIMENG_UPSTREAM_URL={fake.url}   control API: {fake.url}/_fake/state")
        self.stdout.flush()
        try:
            while not stopping.wait(0.5):
                pass
        finally:
            fake.stop()
            self.stdout.write("fake Jimeng upstream stopped")
