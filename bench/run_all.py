"""Every benchmark, one after another (they share the machine's cores, so never at once).

    .venv/bin/python -m bench.run_all [--quick]      # or: make bench

Each writes its own bench/results/<name>.json and prints its figures.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

BENCHES = ("images_jimeng", "images_gemini", "videos_poll", "videos_upstream")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer requests, for a smoke run")
    parser.add_argument("names", nargs="*", metavar="name", help=f"which to run (default all: {', '.join(BENCHES)})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(BENCHES))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    for name in args.names or BENCHES:
        started = time.monotonic()
        print(f"=== bench.{name}", flush=True)
        importlib.import_module(f"bench.{name}").main(["--quick"] if args.quick else [])
        print(f"=== bench.{name} took {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
