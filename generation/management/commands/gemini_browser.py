"""Run the machine's Gemini browser service in the foreground.

Workers start it by themselves on their first Gemini job; run it by hand only to watch its log.
The authentication key comes from the environment (set by the worker that starts it), or is
derived from this installation's settings when started by hand.
"""

from __future__ import annotations

import logging
import os

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the Gemini browser service (one warm Chromium shared by this machine's workers)."

    def add_arguments(self, parser):
        parser.add_argument("--owner-pid", type=int, default=None,
                            help="exit when this process ends (the worker pool's owner)")
        parser.add_argument("--idle-seconds", type=float, default=None,
                            help="exit after this long without jobs (default GEMINI_BROWSER_IDLE_SECONDS)")

    def handle(self, *args, owner_pid=None, idle_seconds=None, **options):
        from django.conf import settings

        from generation.drivers.gemini import client
        from generation.drivers.gemini.service import AUTHKEY_ENV, BrowserService

        raw = os.environ.pop(AUTHKEY_ENV, "")  # not inherited by node and Chromium
        key = bytes.fromhex(raw) if raw else client.authkey()
        if idle_seconds is None:
            idle_seconds = settings.GEMINI_BROWSER_IDLE_SECONDS
        logging.getLogger("generation.drivers.gemini").setLevel(logging.INFO)
        raise SystemExit(BrowserService(key, owner_pid, idle_seconds).serve())
