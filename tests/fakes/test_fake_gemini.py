"""The fake Gemini web app, exercised over real HTTP and in a real Chromium like a driver would.

No database: these are plain tests (they also run under pytest-django). Browser tests skip
when /usr/bin/chromium is absent.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
from PIL import Image

from fakes.gemini import failures, images, protocol
from fakes.gemini.server import FakeGemini

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
TIMEOUT = 10
STREAM = "/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate"


@pytest.fixture(scope="module")
def fake():
    with FakeGemini(delay_seconds=0.3, jump_back_after=0.3, progress_interval=0.1) as server:
        yield server


@pytest.fixture(autouse=True)
def clean(fake):
    fake.reset()
    yield


def generate(fake, prompt, *, cookies=None, **form_options):
    cookies = fake.cookies() if cookies is None else cookies
    return requests.post(fake.url + STREAM, data=protocol.build_generate_form(prompt, **form_options),
                         cookies=cookies, timeout=TIMEOUT, allow_redirects=False)


def generated_image_url(fake, prompt="Generate an image of a lighthouse", **kwargs) -> str:
    resp = generate(fake, prompt, **kwargs)
    assert resp.status_code == 200, resp.text
    reply = protocol.parse_reply(resp.text)
    assert reply["done"] and reply["final"] and reply["images"], reply
    return reply["images"][0]["url"]


# --- sign-in and cookies -------------------------------------------------------------


def test_app_without_cookie_redirects_to_service_login(fake):
    resp = requests.get(fake.app_url + "?hl=en", allow_redirects=False, timeout=TIMEOUT)
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith(fake.url + "/accounts.google.com/ServiceLogin?continue=")
    assert unquote(parse_qs(urlsplit(location).query)["continue"][0]) == fake.app_url + "?hl=en"
    login = requests.get(location, timeout=TIMEOUT)
    assert login.status_code == 200 and 'id="identifierId"' in login.text


@pytest.mark.parametrize("psid, where", [
    ("expired-abc", "/accounts.google.com/ServiceLogin?continue="),
    ("invalid-abc", "/accounts.google.com/ServiceLogin?continue="),
    ("consent-abc", "/consent.google.com/ml?continue="),
    ("blocked-abc", "/www.google.com/sorry/index?continue="),
])
def test_psid_markers_select_the_signed_out_variant(fake, psid, where):
    resp = requests.get(fake.app_url, cookies=fake.cookies(psid=psid), allow_redirects=False, timeout=TIMEOUT)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith(fake.url + where)
    if "sorry" in where:
        assert requests.get(resp.headers["Location"], timeout=TIMEOUT).status_code == 429


def test_signed_out_page_still_renders_the_prompt_box_with_a_sign_in_link(fake):
    resp = requests.get(fake.app_url, cookies=fake.cookies(psid="signedout-abc"), timeout=TIMEOUT)
    assert resp.status_code == 200
    assert 'aria-label="Enter a prompt for Gemini"' in resp.text
    assert re.search(r'<a class="sign-in-button" href="[^"]*accounts\.google\.com/ServiceLogin[^"]*" '
                     r'aria-label="Sign in">', resp.text)
    assert '"SNlM0e":' not in resp.text
    assert "__Secure-1PSIDTS" not in resp.headers.get("Set-Cookie", "")
    # a signed-out session answers in text and never creates an image
    reply = protocol.parse_reply(generate(fake, "Generate a cat", cookies=fake.cookies(psid="signedout-abc")).text)
    assert reply["text"] == failures.SIGN_IN_TEXT and not reply["images"]


def test_app_page_serves_landmarks_config_blob_and_rotates_psidts(fake):
    resp = requests.get(fake.app_url, cookies=fake.cookies(psidts="sidts-old"), timeout=TIMEOUT)
    assert resp.status_code == 200
    html = resp.text
    for landmark in ['<rich-textarea', 'class="ql-editor ql-blank textarea', 'contenteditable="true"',
                     'role="textbox"', 'aria-label="Open upload file menu"', 'class="upload-card-button"',
                     "<toolbox-drawer", 'data-test-id="bard-mode-menu-button"', 'aria-label="Temporary chat"',
                     'class="cdk-overlay-container"', "<images-files-uploader", '"SNlM0e":', '"cfb2h":',
                     '"FdrFJe":']:
        assert landmark in html, landmark
    assert "http://" not in html.replace(fake.url, "").replace("http://googleusercontent.com", "") \
        .replace("http://www.w3.org", ""), "the page must not reference other hosts"
    rotated = resp.cookies.get("__Secure-1PSIDTS")
    assert rotated and rotated.startswith("sidts-") and rotated != "sidts-old"
    assert "Secure" in resp.headers["Set-Cookie"] and "HttpOnly" in resp.headers["Set-Cookie"]
    state = fake.state()
    assert state["current_psidts"]["g.a000fake-session"] == rotated
    assert state["per_psid"]["g.a000fake-session"]["page_loads"] == 1


def test_notoken_account_gets_a_page_without_config_blob(fake):
    resp = requests.get(fake.app_url, cookies=fake.cookies(psid="notoken-1"), timeout=TIMEOUT)
    assert resp.status_code == 200 and '"SNlM0e":' not in resp.text and "<rich-textarea" in resp.text


def test_rotate_cookies_endpoint_modes(fake):
    url = fake.host_url("accounts") + "/RotateCookies"
    body = '[000,"-0000000000000000000"]'
    headers = {"Content-Type": "application/json"}
    ok = requests.post(url, data=body, headers=headers, cookies=fake.cookies(), timeout=TIMEOUT)
    assert ok.status_code == 200 and ok.cookies.get("__Secure-1PSIDTS", "").startswith("sidts-")
    assert requests.post(url, data=body, headers=headers, cookies=fake.cookies(psid="expired-x"),
                         timeout=TIMEOUT).status_code == 401
    fake.configure(rotation_mode="no_cookie")
    quiet = requests.post(url, data=body, headers=headers, cookies=fake.cookies(), timeout=TIMEOUT)
    assert quiet.status_code == 200 and "__Secure-1PSIDTS" not in quiet.headers.get("Set-Cookie", "")
    fake.configure(rotation_mode="ok", rotation_min_interval=60)
    other = fake.cookies(psid="g.a000other")
    assert requests.post(url, data=body, cookies=other, timeout=TIMEOUT).status_code == 200
    assert requests.post(url, data=body, cookies=other, timeout=TIMEOUT).status_code == 429  # too frequent
    issued = [(c["psid"], c["via"]) for c in fake.state()["cookies_issued"] if c["name"] == "__Secure-1PSIDTS"]
    assert issued == [("g.a000fake-session", "RotateCookies"), ("g.a000other", "RotateCookies")]


def test_password_sign_in_issues_a_new_session(fake):
    accounts = fake.host_url("accounts")
    session = requests.Session()
    step1 = session.post(accounts + "/v3/signin/identifier",
                         data={"identifier": "someone@example.com", "continue": fake.app_url}, timeout=TIMEOUT)
    assert 'name="Passwd"' in step1.text
    step2 = session.post(accounts + "/v3/signin/challenge/pwd", allow_redirects=False, timeout=TIMEOUT,
                         data={"identifier": "someone@example.com", "Passwd": "pw", "continue": fake.app_url})
    assert step2.status_code == 302 and step2.headers["Location"] == fake.app_url
    psid = step2.cookies["__Secure-1PSID"]
    assert psid.startswith("g.a000")
    assert requests.get(fake.app_url, cookies=fake.cookies(psid=psid), timeout=TIMEOUT).status_code == 200


# --- StreamGenerate and the image host -----------------------------------------------


def test_stream_generate_frames_use_utf16_lengths_and_carry_the_image(fake):
    resp = generate(fake, "Generate an image of a fox 🦊 in snow")
    assert resp.status_code == 200 and resp.text.startswith(")]}'\n")
    body = resp.text[len(")]}'\n"):]
    length = int(re.match(r"\d+", body).group())
    digits = len(str(length))
    frame_text = body[digits:]
    units = frame_text.encode("utf-16-le")[: 2 * length].decode("utf-16-le")
    json.loads(units)  # the first frame is exactly `length` UTF-16 units long
    reply = protocol.parse_reply(resp.text)
    assert reply["cid"].startswith("c_") and reply["rid"].startswith("r_")
    assert reply["done"] and reply["final"] and len(reply["images"]) == 1
    assert "image_generation_content/0" in reply["text"]
    assert re.fullmatch(re.escape(fake.url) + r"/lh3\.googleusercontent\.com/gg-dl/AOI_d_[\w-]+",
                        reply["images"][0]["url"])
    submission = fake.state()["submissions"][0]
    assert submission["prompt"] == "Generate an image of a fox 🦊 in snow" and submission["status"] == "image"


def test_image_host_size_suffixes_and_redirect_chain(fake):
    url = generated_image_url(fake, "Generate an image of a red barn")
    cookies = fake.cookies()
    preview = requests.get(url + "=s1024-rj", cookies=cookies, timeout=TIMEOUT)
    assert preview.status_code == 200 and preview.headers["Content-Type"] == "image/jpeg"
    assert [r.status_code for r in preview.history] == [302, 302]
    assert "/work.fife.usercontent.google.com/rd-gg-dl/" in preview.history[1].url
    assert "/lh3.googleusercontent.com/rd-gg-dl/" in preview.url
    assert Image.open(io.BytesIO(preview.content)).size == (1024, 1024)

    original = requests.get(url + "=s0", cookies=cookies, timeout=TIMEOUT)
    img = Image.open(io.BytesIO(original.content))
    assert (img.format, img.size) == ("PNG", (2048, 2048))
    # real pixels that depend on the prompt
    assert img.convert("RGB").getpixel((3, 3)) == images.prompt_colour("Generate an image of a red barn")
    for suffix in ("=s16383", "=s2048", "=s2048-rj"):
        assert Image.open(io.BytesIO(requests.get(url + suffix, cookies=cookies, timeout=TIMEOUT).content)).size \
            == (2048, 2048)

    download = requests.get(url + "=d", cookies=cookies, timeout=TIMEOUT)
    assert re.fullmatch(r'attachment; filename="Gemini_Generated_Image_[a-z0-9]{16}\.png"',
                        download.headers["Content-Disposition"])
    assert download.content == original.content

    # gwa-style full size: each hop answers with the next URL as text
    hop = url + "=d-I?alr=yes"
    kinds = []
    for _ in range(5):
        resp = requests.get(hop, cookies=cookies, timeout=TIMEOUT, allow_redirects=False)
        kinds.append(resp.headers["Content-Type"].split(";")[0])
        if kinds[-1] != "text/plain":
            break
        hop = resp.text
    assert kinds == ["text/plain", "text/plain", "image/png"]


def test_image_host_needs_the_session_cookie_and_rejects_malformed_suffixes(fake):
    url = generated_image_url(fake)
    anonymous = requests.get(url + "=s1024-rj", timeout=TIMEOUT)
    assert anonymous.status_code == 403 and [r.status_code for r in anonymous.history] == [302]
    assert requests.get(url + "=s0", cookies=fake.cookies(psid="expired-1"), timeout=TIMEOUT).status_code == 403
    assert requests.get(url + "=mp2=s2048", cookies=fake.cookies(), timeout=TIMEOUT).status_code == 400
    assert requests.get(url[:-4] + "XXXX=s0", cookies=fake.cookies(), timeout=TIMEOUT).status_code == 404
    # cors-mode fetches are bounced to another origin, where the missing CORS header fails them
    cors = requests.get(url + "=s0", cookies=fake.cookies(), headers={"Sec-Fetch-Mode": "cors"},
                        allow_redirects=False, timeout=TIMEOUT)
    assert cors.status_code == 302 and "fake_cross_origin=1" in cors.headers["Location"]
    assert "Access-Control-Allow-Origin" not in cors.headers


def test_full_size_failures_leave_the_preview_working(fake):
    for marker, status in (("image_403", 403), ("chain_broken", 404)):
        url = generated_image_url(fake, f"Generate a kite [fail:{marker}]")
        assert requests.get(url + "=s1024-rj", cookies=fake.cookies(), timeout=TIMEOUT).status_code == 200
        assert requests.get(url + "=s0", cookies=fake.cookies(), timeout=TIMEOUT).status_code == status
        assert requests.get(url + "=d", cookies=fake.cookies(), timeout=TIMEOUT).status_code == status


def test_batchexecute_full_size_url_and_account_status(fake):
    resp = generate(fake, "Generate an image of a boat")
    reply = protocol.parse_reply(resp.text)
    image = reply["images"][0]
    payload = [[[None, None, None, [None, None, None, None, None, ""]], [image["id"], 0], None, [19, ""],
                None, None, None, None, None, ""], [reply["rid"], reply["rcid"], reply["cid"], None, ""], 1, 0, 1]
    freq = json.dumps([[["c8o8Fe", json.dumps(payload), None, "generic"]]])
    out = requests.post(fake.url + "/_/BardChatUi/data/batchexecute?rpcids=c8o8Fe", data={"f.req": freq},
                        cookies=fake.cookies(), timeout=TIMEOUT)
    envelope = protocol.decode_frames(out.text)[0][0]
    assert envelope[:2] == ["wrb.fr", "c8o8Fe"] and json.loads(envelope[2]) == [image["url"]]

    def status(psid):
        freq = json.dumps([[["otAQ7b", "[]", None, "generic"]]])
        body = requests.post(fake.url + "/_/BardChatUi/data/batchexecute?rpcids=otAQ7b", data={"f.req": freq},
                             cookies=fake.cookies(psid=psid), timeout=TIMEOUT).text
        return json.loads(protocol.decode_frames(body)[0][0][2])[14]

    assert (status("g.a000ok"), status("expired-1"), status("region-1")) == (1000, 1016, 1060)


def test_uploads_are_recorded_with_sha256_and_attached_to_the_submission(fake):
    data = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(data, "PNG")
    data = data.getvalue()
    up = requests.post(fake.host_url("push") + "/upload", files={"file": ("ref.png", data, "image/png")},
                       headers={"Push-ID": "feeds/mcudyrk2a4khkz", "X-Tenant-Id": "bard-storage"},
                       cookies=fake.cookies(), timeout=TIMEOUT)
    assert up.status_code == 200 and up.text.startswith("/contrib_service/ttl_1d/")
    # the resumable variant (seed HTTP engine)
    start = requests.post(fake.host_url("resumable") + "/upload/?authuser=0", data="File name: second.png",
                          headers={"X-Goog-Upload-Command": "start", "X-Goog-Upload-Protocol": "resumable",
                                   "X-Tenant-ID": "bard-storage", "X-Goog-Upload-Header-Content-Type": "image/png",
                                   "Push-ID": "feeds/mcudyrk2a4khkz"}, timeout=TIMEOUT)
    final = requests.post(start.headers["X-Goog-Upload-URL"], data=data, timeout=TIMEOUT,
                          headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"})
    assert final.status_code == 200 and final.text.startswith("/contrib_service/ttl_1d/")

    resp = generate(fake, "Make it blue", files=[(up.text, "ref.png"), (final.text, "second.png")])
    reply = protocol.parse_reply(resp.text)
    assert reply["images"], reply  # image-to-image answers use the string-keyed block
    assert '{"8":' in resp.text.replace("\\", "")
    state = fake.state()
    sha = hashlib.sha256(data).hexdigest()
    assert [(u["filename"], u["sha256"], u["size"]) for u in state["uploads"]] == \
        [("ref.png", sha, len(data)), ("second.png", sha, len(data))]
    assert [a["sha256"] for a in state["submissions"][0]["attachments"]] == [sha, sha]
    assert fake.upload_bytes(up.text) == data


# --- failure modes ------------------------------------------------------------------------

TEXT_MODES = ["usage_limit", "busy", "region", "blocked", "search_only", "refusal", "upload_rejected",
              "sign_in_text", "text_only"]
QUOTED = {  # fragments the reference quotes and drivers match on
    "usage_limit": "limit is reset",
    "busy": "I'm getting a lot of requests right now",
    "region": "image creation isn't available in your location",
    "blocked": "can't seem to create any",
    "search_only": "I can search for images, but can't",
    "refusal": "due to safeguards related to third-party content",
    "upload_rejected": "I don't seem to have access to that content",
    "sign_in_text": "sign in",
}


@pytest.mark.parametrize("mode", TEXT_MODES)
def test_text_answer_failure_markers(fake, mode):
    reply = protocol.parse_reply(generate(fake, f"Generate a tree [fail:{mode}]").text)
    assert reply["done"] and reply["final"] and not reply["images"]
    assert reply["text"] == failures.CATALOG[mode].text
    if mode in QUOTED:
        assert QUOTED[mode] in reply["text"]
    assert fake.state()["submissions"][0]["clean_prompt"] == "Generate a tree"


@pytest.mark.parametrize("marker, code", [("[fail:code:1037]", 1037), ("[fail:code]", 1013),
                                          ("[fail:usage_limit_code]", 1037), ("[fail:upload_status]", 13)])
def test_error_envelopes(fake, marker, code):
    reply = protocol.parse_reply(generate(fake, f"Generate a tree {marker}").text)
    assert reply["error_code"] == code and not reply["images"]


def test_transport_and_session_failures(fake):
    assert generate(fake, "Generate a [fail:http_429]").status_code == 429
    assert generate(fake, "Generate a [fail:http_500]").status_code == 500
    sorry = generate(fake, "Generate a [fail:ip_block]")
    assert sorry.status_code == 302 and "/www.google.com/sorry/index?" in sorry.headers["Location"]
    assert generate(fake, "Generate a [fail:signed_out]").status_code == 401
    # the session stays dead afterwards, as a real expired cookie would
    assert requests.get(fake.app_url, cookies=fake.cookies(), allow_redirects=False,
                        timeout=TIMEOUT).status_code == 302
    fake.restore_psid("g.a000fake-session")
    assert requests.get(fake.app_url, cookies=fake.cookies(), timeout=TIMEOUT).status_code == 200


def test_stream_shapes_of_no_image_truncated_and_jump_back(fake):
    no_image = protocol.parse_reply(generate(fake, "Generate a [fail:no_image]").text)
    assert no_image["done"] and not no_image["images"]
    assert no_image["text"] == "http://googleusercontent.com/image_generation_content/0"
    truncated = protocol.parse_reply(generate(fake, "Generate a [fail:truncated]").text)
    assert not truncated["done"] and not truncated["final"]
    prompt = "Generate a dog [fail:jump_back:2]"
    outcomes = [protocol.parse_reply(generate(fake, prompt).text)["jump_back"] for _ in range(3)]
    assert outcomes == [True, True, False]
    assert [s["status"] for s in fake.state()["submissions"]] == ["no_image", "truncated", "jump_back",
                                                                  "jump_back", "image"]


def test_natural_failures_without_markers(fake):
    # no image tool and nothing asking for a picture: a text answer
    assert protocol.parse_reply(generate(fake, "What is the capital of France?").text)["text"] == \
        failures.TEXT_ONLY_TEXT
    assert protocol.parse_reply(generate(fake, "What is the capital?", image_tool=True).text)["images"]
    # an unknown upload reference gives the bare [13] status
    reply = protocol.parse_reply(generate(fake, "Edit this", files=[("/contrib_service/ttl_1d/nope", "x.png")]).text)
    assert reply["error_code"] == 13
    # accounts marked region- never get images
    assert protocol.parse_reply(generate(fake, "Generate a cat", cookies=fake.cookies(psid="region-1")).text)[
        "text"] == failures.REGION_TEXT


def test_markers_unknown_names_stay_in_the_prompt():
    assert failures.strip_markers("a [fail:busy] cat [fail:nope]") == "a cat [fail:nope]"
    assert failures.parse_markers("x [fail:jump_back:2][fail:overlay]") == [("jump_back", "2"), ("overlay", None)]


def test_every_failure_mode_is_documented():
    doc = (ROOT / "docs" / "fakes" / "gemini.md").read_text(encoding="utf-8")
    for name in failures.CATALOG:
        assert f"`{name}`" in doc, name


# --- control API -------------------------------------------------------------------------


def test_control_api_over_http(fake):
    ctl = fake.url + "/_fake"
    assert requests.post(ctl + "/delay", json={"seconds": 0.05}, timeout=TIMEOUT).json() == {"delay_seconds": 0.05}
    queued = requests.post(ctl + "/failures", json={"mode": "busy", "count": 2}, timeout=TIMEOUT).json()
    assert queued["queued"] == {"mode": "busy", "arg": None, "remaining": 2}
    assert requests.post(ctl + "/failures", json={"mode": "nope"}, timeout=TIMEOUT).status_code == 400
    texts = [protocol.parse_reply(generate(fake, "Generate a cat").text)["text"] for _ in range(3)]
    assert texts[:2] == [failures.BUSY_TEXT] * 2 and "image_generation_content" in texts[2]
    # a marker wins over the queue and leaves it untouched
    requests.post(ctl + "/failures", json={"mode": "refusal"}, timeout=TIMEOUT)
    assert protocol.parse_reply(generate(fake, "Generate [fail:busy]").text)["text"] == failures.BUSY_TEXT
    assert requests.delete(ctl + "/failures", timeout=TIMEOUT).json()["queue"] == []

    requests.post(ctl + "/psid/invalidate", json={"psid": "g.a000fake-session"}, timeout=TIMEOUT)
    assert requests.get(fake.app_url, cookies=fake.cookies(), allow_redirects=False, timeout=TIMEOUT).status_code == 302
    requests.post(ctl + "/psid/invalidate", json={"psid": "g.a000fake-session", "mode": "link"}, timeout=TIMEOUT)
    assert 'aria-label="Sign in"' in requests.get(fake.app_url, cookies=fake.cookies(), timeout=TIMEOUT).text
    requests.post(ctl + "/psid/restore", json={"psid": "g.a000fake-session"}, timeout=TIMEOUT)

    assert requests.post(ctl + "/settings", json={"overlays": ["promo"]}, timeout=TIMEOUT).json()["overlays"] == ["promo"]
    assert requests.post(ctl + "/settings", json={"bogus": 1}, timeout=TIMEOUT).status_code == 400

    state = requests.get(ctl + "/state", timeout=TIMEOUT).json()
    assert state["submissions_count"] == 4 and state["delay_seconds"] == 0.05
    assert state["prompts"][-1] == "Generate [fail:busy]"
    assert state["per_psid"]["g.a000fake-session"]["submissions"] == 4
    assert requests.post(ctl + "/reset", timeout=TIMEOUT).json() == {"ok": True}
    after = fake.state()
    assert after["submissions_count"] == 0 and after["delay_seconds"] == 0.3 and after["settings"]["overlays"] == []
    assert {row["name"] for row in requests.get(ctl + "/", timeout=TIMEOUT).json()["failures"]} == set(failures.CATALOG)


def test_delay_is_applied_by_the_server_stream(fake):
    fake.set_delay(0.6)
    resp = generate(fake, "Generate a clock")
    assert resp.elapsed.total_seconds() < 0.5  # headers come at once; the answer is streamed
    assert protocol.parse_reply(resp.text)["images"]
    submission = fake.state()["submissions"][0]
    assert submission["finished_at"] - submission["at"] >= 0.55


def test_management_command_serves_until_sigterm(tmp_path):
    # minimal settings, so the test does not depend on the project's configuration
    script = ("import django, sys; from django.conf import settings; "
              "settings.configure(INSTALLED_APPS=['fakes']); django.setup(); "
              "from django.core.management import ManagementUtility; "
              "ManagementUtility(['manage.py', 'fake_gemini', '--port', '0', '--delay-seconds', '0.1']).execute()")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        base = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base), base
        assert requests.get(base + "/_fake/state", timeout=TIMEOUT).json()["delay_seconds"] == 0.1
        assert requests.get(base + "/app", allow_redirects=False, timeout=TIMEOUT).status_code == 302
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- in a real browser --------------------------------------------------------------------

def browser_test(fn):
    fn = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium")(fn)
    return pytest.mark.browser(fn)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM)
        yield instance
        instance.close()


@pytest.fixture
def context(browser, fake):
    ctx = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    ctx.add_cookies(fake.playwright_cookies(psid="g.a000browser", psidts="sidts-start"))
    yield ctx
    ctx.close()


def type_and_send(page, prompt):
    editor = page.locator('rich-textarea div.ql-editor[contenteditable="true"][role="textbox"]')
    editor.click()
    page.keyboard.type(prompt)
    page.locator('button.send-button[aria-label="Send message"]').click()


@browser_test
def test_browser_generate_and_download_full_size(fake, context):
    from playwright.sync_api import expect

    fake.set_delay(0.8)  # long enough to see the stop button
    page = context.new_page()
    page.goto(fake.app_url, wait_until="domcontentloaded")
    assert page.locator('a[href*="accounts.google.com/ServiceLogin"]').count() == 0
    page.locator("toolbox-drawer button.toolbox-drawer-button").click()
    page.locator("toolbox-drawer-item button[role=menuitemcheckbox]", has_text="Create image").click()
    expect(page.get_by_role("button", name="Deselect Image")).to_be_visible()
    expect(page.locator("rich-textarea .ql-editor")).to_have_attribute("data-placeholder", "Describe your image")
    expect(page.locator("button.send-button")).to_have_count(0)  # only present once there is text

    prompt = "A lighthouse at dusk"
    type_and_send(page, prompt)
    expect(page.locator('button[aria-label="Stop response"]')).to_be_visible()
    img = page.locator("model-response").last.locator(
        "message-content div.markdown div.attachment-container.generated-images generated-image "
        "single-image.generated-image.large div.image-container img.image.loaded")
    expect(img).to_be_visible(timeout=TIMEOUT * 1000)
    expect(img).to_have_attribute("alt", ", AI generated")
    assert re.search(r"/lh3\.googleusercontent\.com/gg-dl/AOI_d_[\w-]+=s1024-rj$", img.get_attribute("src"))
    expect(page.locator('button[aria-label="Good response"]')).to_be_visible()
    expect(page.locator('button[aria-label="Stop response"]')).to_have_count(0)
    assert re.search(r"/app/[0-9a-f]{16}$", page.url)

    # seed's strategy 2 (in-page fetch of the CDN URL) fails as on the real site ...
    fetched = page.evaluate("src => fetch(src).then(() => 'ok', e => 'error: ' + e)", img.get_attribute("src"))
    assert fetched.startswith("error")
    # ... while the authenticated context can fetch the original size
    original = context.request.get(img.get_attribute("src").replace("=s1024-rj", "=s0"))
    assert original.ok and Image.open(io.BytesIO(original.body())).size == (2048, 2048)

    with page.expect_download() as info:
        page.locator('download-generated-image-button button[data-test-id="download-generated-image-button"]'
                     '[aria-label="Download full size image"]').click()
    download = info.value
    assert re.fullmatch(r"Gemini_Generated_Image_[a-z0-9]{16}\.png", download.suggested_filename)
    png = Image.open(download.path())
    assert (png.format, png.size) == ("PNG", (2048, 2048))
    assert png.convert("RGB").getpixel((3, 3)) == images.prompt_colour(prompt)

    state = fake.state()
    assert state["submissions"][0]["image_tool"] is True and state["submissions"][0]["prompt"] == prompt
    jar = {c["name"]: c["value"] for c in context.cookies()}
    assert jar["__Secure-1PSIDTS"] == state["current_psidts"]["g.a000browser"] != "sidts-start"


@browser_test
def test_browser_edit_attaches_the_file_through_the_file_chooser(fake, context, tmp_path):
    from playwright.sync_api import expect

    source = tmp_path / "cat.png"
    Image.new("RGB", (320, 200), (220, 40, 40)).save(source)
    page = context.new_page()
    page.goto(fake.app_url, wait_until="domcontentloaded")
    assert page.locator("input[type=file]").count() == 0  # created only for the chooser
    page.locator('button.upload-card-button[aria-label="Open upload file menu"]').click()
    with page.expect_file_chooser() as chooser:
        page.locator(".cdk-overlay-container [role=menuitem]", has_text="Upload files").click()
    assert chooser.value.element.get_attribute("name") == "Filedata" and chooser.value.is_multiple()
    chooser.value.set_files(str(source))
    chip = page.locator("uploader-file-preview", has_text="cat.png")
    expect(chip.get_by_role("img", name="Image preview")).to_be_visible()
    expect(chip.get_by_role("button", name="Remove file")).to_be_visible()

    type_and_send(page, "Make the cat blue")
    expect(page.locator("model-response generated-image img.loaded")).to_be_visible(timeout=TIMEOUT * 1000)
    state = fake.state()
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    assert [(u["filename"], u["sha256"], u["size"]) for u in state["uploads"]] == \
        [("cat.png", sha, source.stat().st_size)]
    assert state["submissions"][0]["attachments"][0]["sha256"] == sha


@browser_test
def test_browser_refusal_and_jump_back_markers(fake, context):
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto(fake.app_url, wait_until="domcontentloaded")
    type_and_send(page, "Draw a famous mouse [fail:refusal]")
    answer = page.locator("model-response").last
    expect(answer.locator("message-content")).to_contain_text("safeguards related to third-party content")
    expect(answer.get_by_role("button", name="Good response")).to_be_visible()
    assert answer.locator("generated-image").count() == 0

    prompt = "Draw a dog [fail:jump_back:1]"
    type_and_send(page, prompt)
    editor = page.locator("rich-textarea .ql-editor")
    expect(editor).to_have_text(prompt)  # the page put the prompt back and went idle
    expect(page.locator("model-response")).to_have_count(1)
    page.locator('button[aria-label="Send message"]').click()
    expect(page.locator("model-response generated-image img.loaded")).to_be_visible(timeout=TIMEOUT * 1000)
    assert [s["status"] for s in fake.state()["submissions"]] == ["refusal", "jump_back", "image"]
