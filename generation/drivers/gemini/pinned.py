"""Which Chromium the installed Playwright release was built against (Debian's differs, §2.1)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def pinned_chromium_version() -> str:
    try:
        import playwright

        path = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
        for entry in json.loads(path.read_text())["browsers"]:
            if entry["name"] == "chromium":
                return entry["browserVersion"]
    except Exception:
        pass
    return "unknown"
