"""The Videos API round trip with whichever `openai` package is importable (2.x or 3.x).

    python tests/e2e/sdk_video_check.py BASE_URL API_KEY MODEL [EXPECTED_MAJOR]

create_and_poll → download_content (an MP4) → list (the video is there) → delete → retrieve (404).
Prints one JSON line with what it saw and exits 0; on any failure prints why and exits 1. The
e2e suite runs it once with the venv's openai 3.x and once with openai 2.x on PYTHONPATH.
"""

from __future__ import annotations

import json
import sys
import time
import warnings


class CheckFailed(Exception):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise CheckFailed(what)


def run(base_url: str, api_key: str, model: str, expected_major: str | None) -> dict:
    import openai

    version = openai.__version__
    if expected_major is not None:
        check(version.split(".")[0] == expected_major, f"loaded openai {version}, expected {expected_major}.x")
    client = openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=60)
    started = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "the Sora API is scheduled to shut down"
        video = client.videos.create_and_poll(model=model, prompt=f"sdk {version} round trip", seconds="5",
                                              size="1280x720", poll_interval_ms=200)
        check(video.status == "completed", f"status {video.status!r}, error {video.error!r}")
        check(video.progress == 100, f"progress {video.progress}")
        check(video.id.startswith("video_") and video.seconds == "5", f"video {video.id} seconds {video.seconds}")
        data = client.videos.download_content(video.id).read()
        check(data[4:8] == b"ftyp", f"content is not an MP4: {data[:16]!r}")
        thumb = client.videos.download_content(video.id, variant="thumbnail").read()
        check(thumb[:3] == b"\xff\xd8\xff", "thumbnail is not a JPEG")
        listed = [v.id for v in client.videos.list(limit=5)]
        check(video.id in listed, f"{video.id} not in the list {listed}")
        deleted = client.videos.delete(video.id)
        check(deleted.deleted is True and deleted.id == video.id, f"delete answered {deleted!r}")
        try:
            client.videos.retrieve(video.id)
        except openai.NotFoundError:
            pass
        else:
            raise CheckFailed("the deleted video can still be retrieved")
    return {"openai": version, "video": video.id, "bytes": len(data), "listed": len(listed),
            "seconds": round(time.monotonic() - started, 2)}


def main(argv: list[str]) -> int:
    if len(argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        summary = run(argv[1], argv[2], argv[3], argv[4] if len(argv) == 5 else None)
    except CheckFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # an SDK exception is a failed check too, with its own words
        print(f"FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
