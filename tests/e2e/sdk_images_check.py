"""The Images API round trip with whichever `openai` package is importable (2.x or 3.x).

    python tests/e2e/sdk_images_check.py BASE_URL API_KEY MODEL [EXPECTED_MAJOR]

generate (url, then b64_json, then as PNG, then streamed) → edit with raw bytes, then streamed →
typed errors (400 with param, 401, 404).
Prints one JSON line and exits 0; on any failure prints why and exits 1.
"""

from __future__ import annotations

import base64
import io
import json
import sys
import urllib.request


def check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


def png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (0, 90, 200)).save(buf, "PNG")
    return buf.getvalue()


def run(base_url: str, api_key: str, model: str, expected_major: str | None) -> dict:
    import openai

    version = openai.__version__
    if expected_major:
        check(version.split(".")[0] == expected_major, f"loaded openai {version}, expected {expected_major}.x")
    client = openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=120)
    resp = client.images.generate(model=model, prompt=f"sdk {version} check", size="1024x1024")
    check(len(resp.data) == 1 and resp.data[0].url, f"generate answered {resp!r}")
    with urllib.request.urlopen(resp.data[0].url) as fetched:
        check(fetched.read(8) != b"", "the result URL serves nothing")
    resp = client.images.generate(model=model, prompt="again", response_format="b64_json")
    check(len(base64.b64decode(resp.data[0].b64_json)) > 100, "b64_json is empty")
    resp = client.images.generate(model=model, prompt="as png", output_format="png", response_format="b64_json")
    check(resp.output_format == "png" and base64.b64decode(resp.data[0].b64_json).startswith(b"\x89PNG"),
          f"output_format png answered {resp.output_format!r}")
    events = list(client.images.generate(model=model, prompt="streamed", stream=True))
    check([event.type for event in events] == ["image_generation.completed"], f"stream sent {events!r}")
    check(len(base64.b64decode(events[0].b64_json)) > 100, "the streamed image is empty")
    resp = client.images.edit(model=model, prompt="edit it", image=png())
    check(len(resp.data) == 1, "edit answered no image")
    events = list(client.images.edit(model=model, prompt="edit streamed", image=png(), stream=True))
    check([event.type for event in events] == ["image_edit.completed"], f"edit stream sent {events!r}")
    try:
        client.images.generate(model=model, prompt="x", n=9)
        raise AssertionError("n=9 was accepted")
    except openai.BadRequestError as exc:
        check(exc.status_code == 400 and exc.param == "n" and exc.request_id, f"400 looked like {exc!r}")
    try:
        openai.OpenAI(api_key="sk-gw-wrong", base_url=base_url, max_retries=0).images.generate(model=model,
                                                                                             prompt="x")
        raise AssertionError("a wrong key was accepted")
    except openai.AuthenticationError as exc:
        check(exc.code == "invalid_api_key", f"401 code {exc.code!r}")
    try:
        client.images.generate(model="no-such-model", prompt="x")
        raise AssertionError("an unknown model was accepted")
    except openai.NotFoundError as exc:
        check(exc.code == "model_not_found", f"404 code {exc.code!r}")
    return {"openai": version, "ok": True}


def main(argv: list[str]) -> int:
    base_url, api_key, model = argv[:3]
    try:
        print(json.dumps(run(base_url, api_key, model, argv[3] if len(argv) > 3 else None)))
        return 0
    except Exception as exc:  # reported, not raised: the calling test shows it
        print(f"FAILED: {type(exc).__name__}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
