"""The fake Jimeng/Dreamina upstream, exercised over real HTTP like a driver would.

No database: these are plain tests (they also run under pytest-django).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import threading
import time
import uuid
import zlib

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from PIL import Image

from fakes.jimeng import media
from fakes.jimeng import protocol as p
from fakes.jimeng.config import FakeConfig
from fakes.jimeng.server import FakeJimeng

TIMEOUT = 10
CN_MODEL = "high_aes_general_v40"
VIDEO_MODEL = "dreamina_ic_generate_video_model_vgfm_3.0"
SIGV4_REGION = {"cn": "cn-north-1", "us": "us-east-1", "hk": "ap-southeast-1",
                "jp": "ap-southeast-1", "sg": "ap-southeast-1"}


# --- a minimal driver-like client --------------------------------------------------

class Client:
    def __init__(self, base: str, sessionid: str, site: str = "cn", appvr: str = "8.4.0"):
        self.base, self.sessionid, self.site, self.appvr = base, sessionid, site, appvr
        self.http = requests.Session()

    @property
    def aid(self) -> int:
        return p.SITES[self.site][0]

    def params(self, **extra) -> dict:
        params = {"aid": self.aid, "device_platform": "web", "region": p.SITES[self.site][1],
                  "da_version": "3.3.9", "os": "windows", "web_version": "7.5.0"}
        if self.site == "cn":
            params["webId"] = "7391234567890123456"
        params.update(extra)
        return params

    def headers(self, path: str, **extra) -> dict:
        device_time = str(int(time.time()))
        headers = {
            "Cookie": f"_tea_web_id=1; sid_tt={self.sessionid}; sessionid={self.sessionid}; "
                      f"sessionid_ss={self.sessionid}",
            "Appid": str(self.aid), "Appvr": self.appvr, "Pf": "7", "Device-Time": device_time,
            "Sign": p.compute_sign(path, device_time, self.appvr), "Sign-Ver": "1",
        }
        headers.update(extra)
        return headers

    def post(self, path: str, body=None, params=None, headers=None) -> requests.Response:
        return self.http.post(self.base + path, json=body if body is not None else {},
                              params=self.params() if params is None else params,
                              headers=headers or self.headers(path), timeout=TIMEOUT)

    def call(self, path: str, body=None, **kw) -> dict:
        response = self.post(path, body, **kw)
        assert response.status_code == 200, response.text
        return response.json()

    # generation
    def generate(self, body: dict, **kw) -> dict:
        return self.call("/mweb/v1/aigc_draft/generate", body, **kw)

    def history(self, *ids: str, key: str = "history_ids") -> dict:
        return self.call("/mweb/v1/get_history_by_ids", {key: list(ids)})

    def wait(self, history_id: str, timeout: float = 8.0, final=(50, 30)) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self.history(history_id)["data"]
            if history_id in data and data[history_id]["status"] in final:
                return data[history_id]
            time.sleep(0.03)
        raise AssertionError(f"job {history_id} did not finish")

    # uploads (§7.1 / §7.3)
    def upload_token(self, scene: int = 2) -> dict:
        envelope = self.call("/mweb/v1/get_upload_token", {"scene": scene})
        assert envelope["ret"] == "0", envelope
        return envelope["data"]

    def signed(self, method: str, url: str, token: dict, service: str, body: bytes = b"",
               region: str | None = None) -> dict:
        request = AWSRequest(method=method, url=url, data=body,
                             headers={"Content-Type": "application/json"} if body else {})
        creds = Credentials(token["access_key_id"], token["secret_access_key"], token["session_token"])
        SigV4Auth(creds, service, region or SIGV4_REGION[self.site]).add_auth(request)
        return dict(request.headers)

    def apply(self, token: dict, size: int) -> requests.Response:
        service_id = token.get("service_id") or token.get("space_name")
        url = (f"{self.base}/?Action=ApplyImageUpload&Version=2018-08-01&ServiceId={service_id}"
               f"&FileSize={size}&s=abc123xyz0")
        return self.http.get(url, headers=self.signed("GET", url, token, "imagex"), timeout=TIMEOUT)

    def put_bytes(self, store: dict, data: bytes, crc: str | None = None) -> requests.Response:
        return self.http.post(
            f"{self.base}/upload/v1/{store['StoreUri']}", data=data, timeout=TIMEOUT,
            headers={"Authorization": store["Auth"], "Content-Type": "application/octet-stream",
                     "Content-CRC32": crc or f"{zlib.crc32(data) & 0xFFFFFFFF:08x}",
                     "Content-Disposition": 'attachment; filename="undefined"'})

    def commit(self, token: dict, session_key: str) -> requests.Response:
        service_id = token.get("service_id") or token.get("space_name")
        url = f"{self.base}/?Action=CommitImageUpload&Version=2018-08-01&ServiceId={service_id}"
        body = json.dumps({"SessionKey": session_key}).encode()
        headers = self.signed("POST", url, token, "imagex", body)
        headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
        return self.http.post(url, data=body, headers=headers, timeout=TIMEOUT)

    def upload_image(self, data: bytes) -> str:
        token = self.upload_token(2)
        applied = self.apply(token, len(data)).json()["Result"]["UploadAddress"]
        store = applied["StoreInfos"][0]
        assert self.put_bytes(store, data).json()["code"] == 2000
        result = self.commit(token, applied["SessionKey"]).json()["Result"]
        assert result["Results"][0]["UriStatus"] == 2000
        return result["Results"][0]["Uri"]


def image_body(prompt: str, model: str = CN_MODEL, ratio: str = "1:1", resolution: str = "2k",
               blend_uris=(), aid: int = p.AID_CN, version: str = "3.3.9") -> dict:
    width, height = p.IMAGE_SIZES[resolution][ratio]
    code = p.RATIO_CODES[ratio] + (100 if resolution == "4k" else 0)
    core = {"type": "", "id": str(uuid.uuid4()), "model": model, "prompt": prompt,
            "sample_strength": 0.5, "intelligent_ratio": False, "image_ratio": code,
            "negative_prompt": "",
            "large_image_info": {"type": "", "id": str(uuid.uuid4()), "min_version": "3.0.2",
                                 "width": width, "height": height, "resolution_type": resolution}}
    if blend_uris:
        core["prompt"] = "##" * len(blend_uris) + prompt
        abilities = {"type": "", "id": "a", "blend": {
            "type": "", "id": "b", "min_features": [], "core_param": core,
            "ability_list": [{"type": "", "id": str(i), "name": "byte_edit", "image_uri_list": [u],
                              "image_list": [{"type": "image", "image_uri": u, "uri": u}],
                              "strength": 0.5} for i, u in enumerate(blend_uris)],
            "prompt_placeholder_info_list": [{"type": "", "id": "x", "ability_index": i}
                                             for i in range(len(blend_uris))],
            "postedit_param": {"type": "", "id": "y", "generate_type": 0}},
            "gen_option": {"type": "", "id": "z", "generate_all": False}}
        generate_type, min_version = "blend", "3.2.9"
    else:
        core["seed"] = 2_512_345_678
        abilities = {"type": "", "id": "a", "generate": {
            "type": "", "id": "g", "core_param": core,
            "gen_option": {"type": "", "id": "o", "generate_all": False}}}
        generate_type, min_version = "generate", "3.0.2"
    draft = {"type": "draft", "id": str(uuid.uuid4()), "min_version": min_version,
             "min_features": [], "is_from_tsn": True, "version": version,
             "main_component_id": "c",
             "component_list": [{"type": "image_base_component", "id": "c",
                                 "min_version": min_version, "aigc_mode": "workbench",
                                 "generate_type": generate_type, "abilities": abilities}]}
    submit_id = str(uuid.uuid4())
    scene = {"type": "image", "scene": "ImageBasicGenerate", "modelReqKey": model,
             "resolutionType": resolution, "abilityList": [], "benefitCount": 4}
    metrics = {"promptSource": "custom", "generateCount": 1, "enterFrom": "click",
               "sceneOptions": json.dumps([scene]), "generateId": submit_id,
               "isRegenerate": False}
    return {"extend": {"root_model": model}, "submit_id": submit_id,
            "metrics_extra": json.dumps(metrics), "draft_content": json.dumps(draft),
            "http_common_info": {"aid": aid}}


def video_body(prompt: str, model: str = VIDEO_MODEL, ratio: str = "16:9", seconds: int = 5,
               frames=(), benefit_type: str = "basic_video_operation_vgfm_v_three",
               aid: int = p.AID_CN) -> dict:
    def frame(uri):
        return {"format": "", "height": 0, "id": str(uuid.uuid4()), "image_uri": uri, "name": "",
                "platform_type": 1, "source_from": "upload", "type": "image", "uri": uri,
                "width": 0}

    gen_input = {"type": "", "id": "i", "min_version": "3.0.5", "prompt": prompt,
                 "video_mode": 2, "fps": 24, "duration_ms": seconds * 1000, "idip_meta_list": []}
    if frames:
        gen_input["first_frame_image"] = frame(frames[0])
    if len(frames) > 1:
        gen_input["end_frame_image"] = frame(frames[1])
    metrics = json.dumps({"promptSource": "custom", "functionMode": "first_last_frames",
                          "sceneOptions": json.dumps([{"type": "video", "modelReqKey": model,
                                                       "videoDuration": seconds}])})
    draft = {"type": "draft", "id": "d", "min_version": "3.0.5", "min_features": [],
             "is_from_tsn": True, "version": "3.3.9", "main_component_id": "c",
             "component_list": [{
                 "type": "video_base_component", "id": "c", "min_version": "1.0.0",
                 "generate_type": "gen_video",
                 "abilities": {"type": "", "id": "a", "gen_video": {
                     "id": "g", "type": "",
                     "text_to_video_params": {"type": "", "id": "t",
                                              "video_gen_inputs": [gen_input],
                                              "video_aspect_ratio": ratio, "seed": 123,
                                              "model_req_key": model, "priority": 0},
                     "video_task_extra": metrics}},
                 "process_type": 1}]}
    commerce = {"benefit_type": benefit_type, "resource_id": "generate_video",
                "resource_id_type": "str", "resource_sub_type": "aigc"}
    return {"extend": {"root_model": model, "m_video_commerce_info": commerce,
                       "m_video_commerce_info_list": [commerce]},
            "submit_id": str(uuid.uuid4()), "metrics_extra": metrics,
            "draft_content": json.dumps(draft), "http_common_info": {"aid": aid}}


def png_bytes(colour=(10, 200, 30), size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def history_id_of(envelope: dict) -> str:
    assert envelope["ret"] == "0", envelope
    return envelope["data"]["aigc_data"]["history_record_id"]


@pytest.fixture(scope="module")
def fake():
    with FakeJimeng(delay_seconds=0.2) as server:
        yield server


@pytest.fixture(autouse=True)
def clean(fake):
    fake.reset()
    fake.configure(**FakeConfig(delay_seconds=0.2).as_dict())
    yield


@pytest.fixture
def client(fake):
    return Client(fake.url, "sess-" + uuid.uuid4().hex[:12])


# --- text-to-image -------------------------------------------------------------------

def test_generate_envelope_and_status_machine(fake, client):
    fake.set_delay(1.0)
    envelope = client.generate(image_body("a lighthouse at dusk"))
    assert envelope["ret"] == "0" and isinstance(envelope["systime"], str)
    assert len(envelope["logid"]) > 14 and envelope["logid"][:14].isdigit()
    aigc = envelope["data"]["aigc_data"]
    history_id = aigc["history_record_id"]
    assert history_id.isdigit() and 13 <= len(history_id) <= 14
    assert aigc["status"] == 20 and aigc["task"]["status"] == 20 and aigc["item_list"] == []
    polling = aigc["queue_info"]["polling_config"]
    assert polling["interval_seconds"] > 0 and polling["timeout_seconds"] == 86400

    seen = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        record = client.history(history_id)["data"][history_id]
        if not seen or seen[-1] != record["status"]:
            seen.append(record["status"])
        if record["status"] == 50:
            break
        assert record["item_list"] == []
        time.sleep(0.02)
    assert seen == [20, 42, 45, 50]
    assert record["fail_code"] == "" and record["finished_image_count"] == 4
    assert len(record["item_list"]) == 4
    item = record["item_list"][0]
    assert len(item["common_attr"]["id"]) == 19
    assert item["image"]["large_images"][0]["image_uri"].startswith("tos-cn-i-tb4s082cfz/")
    assert fake.submissions(session=client.sessionid) == 1


def test_queue_positions_count_the_jobs_still_queued(fake, client):
    fake.set_delay(100.0)  # queued for the first 15 s
    first, second = (history_id_of(client.generate(image_body(f"queued {i}"))) for i in range(2))

    def queue(history_id):
        info = client.history(history_id)["data"][history_id]["queue_info"]
        return info["queue_idx"], info["queue_length"]

    assert queue(first) == (1, 2) and queue(second) == (2, 2)
    fake.advance_clock(20)  # both are rendering now
    third = history_id_of(client.generate(image_body("queued later")))
    assert queue(first) == (0, 0) and queue(third) == (1, 1)
    fake.advance_clock(-20)  # a clock that goes back puts them in the queue again (and the
    assert queue(first) == (1, 2) and queue(second) == (2, 2)  # third is not created yet)


@pytest.mark.parametrize("ratio,resolution", [
    ("1:1", "1k"), ("16:9", "1k"), ("21:9", "1k"), ("3:4", "2k"), ("9:16", "2k"), ("3:2", "4k"),
])
def test_result_image_has_requested_pixel_size(client, ratio, resolution):
    history_id = history_id_of(client.generate(
        image_body(f"[delay:0] size test {ratio} {resolution}", ratio=ratio, resolution=resolution)))
    record = client.wait(history_id)
    large = record["item_list"][0]["image"]["large_images"][0]
    expected = p.IMAGE_SIZES[resolution][ratio]
    assert (large["width"], large["height"]) == expected
    response = requests.get(large["image_url"], timeout=TIMEOUT)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == expected


def test_images_depend_on_prompt_and_index(client):
    colours = []
    for prompt in ("[delay:0] a green meadow", "[delay:0] a purple nebula"):
        record = client.wait(history_id_of(client.generate(image_body(prompt, resolution="1k"))))
        pixels = []
        for item in record["item_list"][:2]:
            data = requests.get(item["image"]["large_images"][0]["image_url"], timeout=TIMEOUT).content
            image = Image.open(io.BytesIO(data))
            assert image.info["prompt"] == prompt
            pixels.append(image.convert("RGB").getpixel((2, 2)))
        assert pixels[0] != pixels[1]
        colours.append(pixels[0])
    assert colours[0] != colours[1]


def test_first_result_image_is_rendered_while_the_job_generates(fake, client):
    fake.set_delay(1.0)
    history_id = history_id_of(client.generate(image_body("[count:2] rendered ahead", resolution="1k")))

    def ready():  # indexes of this job's images the CDN holds
        return sorted(spec.index for spec, *_size in fake._state.images.cached() if spec.label == history_id)

    deadline = time.monotonic() + 0.8
    while not ready() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ready() == [0]  # the first of two, before the job has ended
    assert client.history(history_id)["data"][history_id]["status"] != 50
    record = client.wait(history_id)
    first, second = (requests.get(item["image"]["large_images"][0]["image_url"], timeout=TIMEOUT)
                     for item in record["item_list"])
    assert first.status_code == second.status_code == 200
    assert Image.open(io.BytesIO(first.content)).info["index"] == "0"
    assert Image.open(io.BytesIO(second.content)).info["index"] == "1"
    assert ready() == [0, 1]


def test_an_image_asked_for_while_it_renders_is_rendered_once():
    from fakes.jimeng.gallery import RenderedImages

    calls, started, release = [], threading.Event(), threading.Event()

    def render(name):
        calls.append(name)
        started.set()
        release.wait(5)
        return name.encode()

    images = RenderedImages(render, capacity=2)
    images.prepare(("a",))
    assert started.wait(5)
    got = []
    readers = [threading.Thread(target=lambda: got.append(images.get(("a",)))) for _ in range(3)]
    for reader in readers:
        reader.start()
    release.set()
    for reader in readers:
        reader.join(5)
    assert got == [b"a"] * 3 and calls == ["a"]
    images.get(("b",)), images.get(("c",))
    assert images.cached() == [("b",), ("c",)] and calls == ["a", "b", "c"]  # the oldest was dropped


def test_background_renders_run_in_a_helper_process_at_lower_priority():
    from fakes.jimeng import gallery
    from fakes.jimeng.gallery import RenderedImages

    # os.nice(0) renders the niceness of the process it runs in.
    images = RenderedImages(os.nice, offload=True)
    images.prepare((0,))
    deadline = time.monotonic() + 30  # the helper is spawned on first use
    while (0,) not in images.cached() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert images.get((0,)) == min(19, os.nice(0) + gallery.HELPER_NICENESS)
    assert images.get((1,)) == os.nice(0)  # a render a request waits for runs here, at full priority


def test_the_render_helper_ends_when_its_fake_is_killed_outright():
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT
    from tests.support.processes import running

    # A process that starts the helper, says the helper's pid, then waits to be killed.
    script = ("import os, time\n"
              "from fakes.jimeng import gallery\n"
              "print(gallery.render_in_helper(os.getpid), flush=True)\n"
              "time.sleep(120)\n")
    owner = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        helper = int(owner.stdout.readline())
        assert helper != owner.pid and os.path.exists(f"/proc/{helper}")
    finally:
        owner.send_signal(signal.SIGKILL)  # no chance to stop its helper
        owner.wait()
    deadline = time.monotonic() + 10
    while running(helper) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(helper), "the render helper outlived the fake that started it"


def test_a_background_render_is_done_here_when_the_helper_cannot_run_it(monkeypatch):
    from concurrent.futures.process import BrokenProcessPool

    from fakes.jimeng import gallery
    from fakes.jimeng.gallery import RenderedImages

    class Broken:
        def submit(self, *args):
            raise BrokenProcessPool("helper died")

        def shutdown(self, **kwargs):
            pass

    monkeypatch.setattr(gallery, "_helper_pool", lambda: Broken())
    images = RenderedImages(os.nice, offload=True)
    images.prepare((0,))
    deadline = time.monotonic() + 5
    while (0,) not in images.cached() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert images.cached() == [(0,)] and images.get((0,)) == os.nice(0)


def test_history_is_keyed_and_private(fake, client):
    body = image_body("[delay:0] keyed")
    history_id = history_id_of(client.generate(body))
    data = client.history(history_id, "99999999999999")["data"]
    assert list(data) == [history_id]
    by_submit = client.history(body["submit_id"], key="submit_ids")["data"]
    assert by_submit[body["submit_id"]]["history_record_id"] == history_id
    other = Client(fake.url, "someone-else")
    assert other.history(history_id)["data"] == {}


def test_cdn_urls_are_signed_and_expire(fake, client):
    record = client.wait(history_id_of(client.generate(image_body("[delay:0] cdn", resolution="1k"))))
    url = record["item_list"][0]["image"]["large_images"][0]["image_url"]
    assert "x-expires=" in url and "x-signature=" in url
    assert requests.get(url, timeout=TIMEOUT).status_code == 200
    assert requests.get(url.split("?")[0], timeout=TIMEOUT).status_code == 403
    tampered = url.replace("aigc_resize:1328:1328", "aigc_resize:1000:1000")
    assert requests.get(tampered, timeout=TIMEOUT).status_code == 403
    fake.advance_clock(fake.config.url_ttl_seconds + 5)
    assert requests.get(url, timeout=TIMEOUT).status_code == 403


def test_format_and_cover_variants(fake, client):
    fake.configure(image_format="webp")
    record = client.wait(history_id_of(client.generate(image_body("[delay:0] webp", ratio="16:9",
                                                                 resolution="1k"))))
    item = record["item_list"][0]
    large = item["image"]["large_images"][0]
    assert large["format"] == "webp"
    data = requests.get(large["image_url"], timeout=TIMEOUT).content
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    cover = Image.open(io.BytesIO(requests.get(item["common_attr"]["cover_url"], timeout=TIMEOUT).content))
    assert max(cover.size) == 720 and cover.size[0] > cover.size[1]


# --- request checks ----------------------------------------------------------------

def test_login_errors(fake, client):
    assert requests.post(fake.url + "/mweb/v1/get_history_by_ids", params=client.params(),
                         json={"history_ids": []}, timeout=TIMEOUT).json()["ret"] == "1015"
    for sessionid in ("expired-abc", "invalid-xyz"):
        assert Client(fake.url, sessionid).history("1")["ret"] == "1015"
    fake.invalidate_session(client.sessionid)
    assert client.generate(image_body("x"))["ret"] == "1015"
    intl = Client(fake.url, "expired-intl", site="us")
    assert intl.call("/commerce/v1/benefits/user_credit", params={})["ret"] == "34010105"


def test_sign_header_is_verified(client):
    path = "/mweb/v1/get_history_by_ids"
    bad = client.headers(path, Sign="0" * 32)
    assert client.call(path, {"history_ids": []}, headers=bad)["ret"] == "4013"
    missing = {k: v for k, v in client.headers(path).items() if k not in ("Sign", "Device-Time")}
    assert client.call(path, {"history_ids": []}, headers=missing)["ret"] == "4013"


def test_region_and_version_gates(fake, client):
    wrong = client.params(region="US")
    assert client.call("/mweb/v1/get_history_by_ids", {"history_ids": []}, params=wrong)["ret"] == "3000"
    assert client.generate(image_body("x", model="external_model_gemini_flash_image_v25"))["ret"] == "3000"
    assert client.generate(image_body("x", version="2.9.0"))["ret"] == "3018"
    client.history()  # binds the session to CN
    assert Client(fake.url, client.sessionid, site="sg").history()["ret"] == "3000"
    old = Client(fake.url, "intl-old", site="sg", appvr="5.8.0")
    assert old.history()["ret"] == "3018"
    us = Client(fake.url, "intl-us", site="us")
    assert us.generate(image_body("[delay:0] nano", model="external_model_gemini_flash_image_v25",
                                  aid=p.AID_INTL))["ret"] == "0"


def test_account_info_liveness(fake, client):
    path = "/passport/account/info/v2"
    envelope = client.call(path, params=client.params(account_sdk_source="web"))
    assert envelope["ret"] == "0" and envelope["data"]["user_id"]
    sg = Client(fake.url, "sg-user", site="sg")
    response = sg.post(path, params=sg.params(account_sdk_source="web"))
    assert response.status_code == 404 and "TLB" in response.text
    us = Client(fake.url, "us-user", site="us")
    assert us.call(path, params=us.params(account_sdk_source="web"))["data"]["user_id"]


# --- uploads and blend -------------------------------------------------------------

def test_blend_with_uploaded_images(fake, client):
    inputs = [png_bytes((255, 0, 0)), png_bytes((0, 0, 255), (80, 80))]
    uris = [client.upload_image(data) for data in inputs]
    assert all(uri.startswith("tos-cn-i-tb4s082cfz/") for uri in uris)
    assert client.call("/mweb/v1/algo_proxy", {"scene": "image_face_ip",
                                               "file_list": [{"file_uri": uris[0]}]})["ret"] == "0"
    envelope = client.generate(image_body("[delay:0] merge them", resolution="1k", blend_uris=uris))
    record = client.wait(history_id_of(envelope))
    assert envelope["data"]["aigc_data"]["generate_type"] == 12
    assert record["status"] == 50 and len(record["item_list"]) == 4
    uploads = {u["store_uri"]: u for u in fake.uploads()}
    for uri, data in zip(uris, inputs):
        assert uploads[uri]["sha256"] == hashlib.sha256(data).hexdigest()
        assert uploads[uri]["committed"]
    job = fake.jobs()[0]
    assert job["kind"] == "blend" and job["prompt"] == "[delay:0] merge them"
    assert job["input_uris"] == uris


def test_blend_refuses_unknown_uri(client):
    bogus = "tos-cn-i-tb4s082cfz/" + "0" * 32
    assert client.generate(image_body("x", blend_uris=[bogus]))["ret"] == "1000"


def test_sigv4_is_verified(client):
    token = client.upload_token(2)
    url = (f"{client.base}/?Action=ApplyImageUpload&Version=2018-08-01&ServiceId=tb4s082cfz"
           f"&FileSize=10&s=abcdefghij")
    headers = client.signed("GET", url, token, "imagex")
    headers["Authorization"] = headers["Authorization"][:-4] + "0000"
    response = requests.get(url, headers=headers, timeout=TIMEOUT)
    error = response.json()["ResponseMetadata"]["Error"]
    assert response.status_code == 401
    assert error["Code"] == "InvalidAuthorization" and error["CodeN"] == 100024
    wrong_secret = dict(token, secret_access_key="not-the-secret")
    response = requests.get(url, headers=client.signed("GET", url, wrong_secret, "imagex"),
                            timeout=TIMEOUT)
    assert "Error" in response.json()["ResponseMetadata"]
    response = requests.get(url, headers=client.signed("GET", url, token, "imagex",
                                                       region="us-east-1"), timeout=TIMEOUT)
    assert "Error" in response.json()["ResponseMetadata"]


def _gateway_style_sigv4(url_query: str, token: dict, region: str, service: str) -> dict:
    """§7.2 exactly: sorted raw query, only x-amz-date;x-amz-security-token signed."""
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    query = "&".join(sorted(url_query.split("&")))
    headers = f"x-amz-date:{amz_date}\nx-amz-security-token:{token['session_token']}\n"
    signed = "x-amz-date;x-amz-security-token"
    canonical = "\n".join(["GET", "/", query, headers, signed, hashlib.sha256(b"").hexdigest()])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + token["secret_access_key"]).encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {"x-amz-date": amz_date, "x-amz-security-token": token["session_token"],
            "authorization": f"AWS4-HMAC-SHA256 Credential={token['access_key_id']}/{scope}, "
                             f"SignedHeaders={signed}, Signature={signature}"}


def test_gateway_style_sigv4_is_accepted(client):
    token = client.upload_token(2)
    query = "Action=ApplyImageUpload&Version=2018-08-01&ServiceId=tb4s082cfz&FileSize=5&s=k2j3h4g5f6"
    response = requests.get(f"{client.base}/?{query}", timeout=TIMEOUT,
                            headers=_gateway_style_sigv4(query, token, "cn-north-1", "imagex"))
    assert response.status_code == 200, response.text
    assert response.json()["Result"]["UploadAddress"]["StoreInfos"][0]["StoreUri"]


def test_upload_crc_and_auth_are_checked(client):
    token = client.upload_token(2)
    data = png_bytes()
    applied = client.apply(token, len(data)).json()["Result"]["UploadAddress"]
    store = applied["StoreInfos"][0]
    response = client.put_bytes(store, data, crc="deadbeef")
    assert response.status_code == 400 and response.json()["code"] != 2000
    response = client.put_bytes(dict(store, Auth="SpaceKey/wrong"), data)
    assert response.status_code == 401
    result = client.commit(token, applied["SessionKey"]).json()["Result"]
    assert result["Results"][0]["UriStatus"] != 2000  # nothing arrived yet
    ok = client.put_bytes(store, data).json()
    assert ok["code"] == 2000 and ok["data"]["crc32"] == f"{zlib.crc32(data) & 0xFFFFFFFF:08x}"
    result = client.commit(token, applied["SessionKey"]).json()["Result"]
    assert result["Results"][0]["UriStatus"] == 2000
    assert result["PluginResult"][0]["ImageWidth"] == 64


# --- credits --------------------------------------------------------------------

def test_credits_ledger_and_daily_claim(fake, client):
    fake.configure(initial_credits=0, daily_credits=60, image_cost=4)
    balance = client.call("/commerce/v1/benefits/user_credit", params={})
    assert balance["ret"] == "0" and json.loads(balance["response"]) == balance["data"]
    assert balance["data"]["credit"] == {"gift_credit": 0, "purchase_credit": 0, "vip_credit": 0}

    refused = client.generate(image_body("no money"))
    assert refused["ret"] == "1006"
    assert refused["data"]["fail_code"] == "1006"
    assert refused["data"]["fail_starling_key"] == p.INSUFFICIENT_CREDITS_STARLING_KEY

    claim = client.call("/commerce/v1/benefits/credit_receive", {"time_zone": "Asia/Shanghai"})
    assert claim["ret"] == "0" and claim["data"]["receive_quota"] == 60
    assert claim["data"]["cur_total_credits"] == 60
    again = client.call("/commerce/v1/benefits/credit_receive", {"time_zone": "Asia/Shanghai"})
    assert again["ret"] != "0"

    client.wait(history_id_of(client.generate(image_body("[delay:0] paid"))))
    data = client.call("/commerce/v1/benefits/user_credit", params={})["data"]
    assert data["credit"]["gift_credit"] == 56
    assert data["credits_detail"]["gift_credits"][0]["residual_credits"] == 56

    failed = client.wait(history_id_of(client.generate(image_body("[delay:0] [fail:gen_failed]"))))
    assert failed["status"] == 30
    assert fake.credits(client.sessionid)["total"] == 56  # refunded

    fake.advance_clock(86400)  # the claimed gift credits expire at midnight; a new claim opens
    assert fake.credits(client.sessionid)["total"] == 0
    assert client.call("/commerce/v1/benefits/credit_receive", {})["data"]["receive_quota"] == 60


def test_claim_failures(fake, client):
    fake.queue_failure("claim_shark", session=client.sessionid)
    assert client.call("/commerce/v1/benefits/credit_receive", {})["ret"] == "-4"
    fake.queue_failure("claim_param")
    assert client.call("/commerce/v1/benefits/credit_receive", {})["ret"] == "34010100"
    fake.set_credits(client.sessionid, daily_quota=0)
    claim = client.call("/commerce/v1/benefits/credit_receive", {})
    assert claim["ret"] == "0" and claim["data"]["receive_quota"] == 0


# --- failure markers ---------------------------------------------------------------

@pytest.mark.parametrize("marker,ret", [
    ("login", "1015"), ("no_credits", "1006"), ("no_credits_legacy", "5000"),
    ("antibot", "1019"), ("abnormal", "4013"), ("version", "3018"), ("region", "3000"),
    ("busy", "1014"), ("benefit", "5001"), ("param", "1000"), ("ret:4001", "4001"),
])
def test_ret_markers(fake, client, marker, ret):
    envelope = client.generate(image_body(f"cat [fail:{marker}]"))
    assert envelope["ret"] == ret and isinstance(envelope["errmsg"], str)
    assert fake.submissions() == 0


@pytest.mark.parametrize("marker,status", [
    ("rate_limit", 429), ("http_429", 429), ("http_500", 500), ("http_502", 502), ("http_404", 404),
    ("html", 200),
])
def test_http_markers(client, marker, status):
    response = client.post("/mweb/v1/aigc_draft/generate", image_body(f"cat [fail:{marker}]"))
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("marker,fail_code,items", [
    ("content_policy", "2038", 0), ("content_policy:2047", "2047", 0), ("gen_failed", "1017", 0),
    ("gen_failed:2039", "2039", 0), ("partial", "1017", 2),
])
def test_job_failure_markers(client, marker, fail_code, items):
    record = client.wait(history_id_of(client.generate(image_body(f"[delay:0] x [fail:{marker}]"))))
    assert record["status"] == 30 and record["fail_code"] == fail_code
    assert len(record["item_list"]) == items


def test_polling_anomalies(fake, client):
    missing = history_id_of(client.generate(image_body("[delay:0] [fail:missing_history]")))
    stuck = history_id_of(client.generate(image_body("[delay:0] [fail:never_finish]")))
    odd = history_id_of(client.generate(image_body("[delay:5] [fail:unknown_status]")))
    bare = history_id_of(client.generate(image_body("[delay:0] [fail:no_large_images]")))
    escaped = history_id_of(client.generate(image_body("[delay:0] [fail:escaped_urls]")))
    time.sleep(1.0)
    data = client.history(missing, stuck, odd, bare, escaped)["data"]
    assert missing not in data
    assert data[stuck]["status"] == 45 and data[stuck]["item_list"] == []
    assert data[odd]["status"] == 99
    assert data[bare]["status"] == 50 and data[bare]["item_list"][0]["image"]["large_images"] == []
    url = data[escaped]["item_list"][0]["image"]["large_images"][0]["image_url"]
    assert "\\u0026" in url
    assert requests.get(url, timeout=TIMEOUT).status_code == 403
    assert requests.get(url.replace("\\u0026", "&"), timeout=TIMEOUT).status_code == 200
    fake.advance_clock(5)
    assert client.wait(odd)["status"] == 50
    assert client.history(missing)["data"] == {} and client.history(stuck)["data"][stuck]["status"] == 45


def test_count_marker_and_cdn_expired(client):
    record = client.wait(history_id_of(client.generate(image_body("[delay:0] [count:2] [fail:cdn_expired]"))))
    assert len(record["item_list"]) == 2
    url = record["item_list"][0]["image"]["large_images"][0]["image_url"]
    assert requests.get(url, timeout=TIMEOUT).status_code == 403


def test_lost_response_creates_the_job(fake, client):
    response = client.post("/mweb/v1/aigc_draft/generate", image_body("retry me [fail:lost_response]"))
    assert response.status_code == 502
    assert fake.submissions(prompt="retry me [fail:lost_response]") == 1
    with pytest.raises(requests.ConnectionError):
        client.post("/mweb/v1/aigc_draft/generate", image_body("drop [fail:lost_response:reset]"))
    assert fake.submissions() == 2


def test_reset_and_slow(client):
    with pytest.raises(requests.ConnectionError):
        client.post("/mweb/v1/aigc_draft/generate", image_body("x [fail:reset]"))
    started = time.monotonic()
    assert client.generate(image_body("[delay:0] x [fail:slow:0.3]"))["ret"] == "0"
    assert time.monotonic() - started >= 0.3


# --- video -----------------------------------------------------------------------

def test_text_to_video(fake, client):
    fake.configure(delay_seconds=2.0, video_absent_fraction=0.5)
    envelope = client.generate(video_body("a paper boat on a river", ratio="16:9"))
    history_id = history_id_of(envelope)
    assert client.history(history_id)["data"] == {}  # not visible right after submit
    fake.advance_clock(1.1)
    assert client.history(history_id)["data"][history_id]["status"] == 45
    fake.advance_clock(1.0)
    record = client.wait(history_id)
    assert record["status"] == 50 and len(record["item_list"]) == 1
    item = record["item_list"][0]
    preview = item["common_attr"]["transcoded_video"]["origin"]["video_url"]
    data = requests.get(preview, timeout=TIMEOUT).content
    assert data[4:8] == b"ftyp"
    hq = client.call("/mweb/v1/get_local_item_list", {
        "item_id_list": [item["item_id"]], "pack_item_opt": {"scene": 1, "need_data_integrity": True},
        "is_for_video_download": True})
    hq_url = hq["data"]["item_list"][0]["common_attr"]["transcoded_video"]["origin"]["video_url"]
    assert hq_url != preview
    info = media.probe_video(requests.get(hq_url, timeout=TIMEOUT).content)
    assert (info["width"], info["height"]) == p.VIDEO_FRAME_SIZES["16:9"]
    assert info["codec"] == "h264"
    cover = requests.get(item["common_attr"]["cover_url"], timeout=TIMEOUT)
    assert cover.status_code == 200 and cover.headers["Content-Type"] == "image/jpeg"


def test_image_to_video_first_and_last_frame(client):
    frames = [client.upload_image(png_bytes((250, 10, 10), (90, 160))),
              client.upload_image(png_bytes((10, 10, 250), (90, 160)))]
    record = client.wait(history_id_of(client.generate(video_body("[delay:0] morph", ratio="1:1",
                                                                  frames=frames))))
    url = record["item_list"][0]["video"]["play_url"]
    info = media.probe_video(requests.get(url, timeout=TIMEOUT).content)
    width, height = p.VIDEO_FRAME_SIZES["9:16"]  # the input image decides the ratio
    assert (info["width"], info["height"]) == (width // 2, height // 2)


def test_video_gates(fake, client):
    seedance = video_body("omni", model="dreamina_seedance_40_pro",
                          benefit_type="dreamina_video_seedance_20_pro")
    assert client.generate(seedance)["ret"] == "1019"
    with_bogus = client.generate(seedance, params=client.params(a_bogus="x" * 40))
    assert with_bogus["ret"] == "4013"
    fake.configure(seedance_a_bogus_ok=True)
    assert client.generate(video_body("[delay:0] ok", model="dreamina_seedance_40_pro",
                                      benefit_type="dreamina_video_seedance_20_pro"),
                           params=client.params(a_bogus="x" * 40))["ret"] == "0"
    wrong = video_body("x", model="dreamina_seedance_40", benefit_type="dreamina_video_seedance_20_fast")
    assert client.generate(wrong, params=client.params(a_bogus="y"))["ret"] == "5001"
    assert client.generate(video_body("x", benefit_type="generate_video_veo3"))["ret"] == "5001"
    assert client.generate(video_body("x", model="dreamina_veo3_generate_video",
                                      benefit_type="generate_video_veo3"))["ret"] == "3000"


def test_seedance_omni_reference_is_shark_gated(fake, client):
    image = client.upload_image(png_bytes())
    body = video_body("", model="dreamina_seedance_40_pro",
                      benefit_type="dreamina_video_seedance_20_video_add")
    draft = json.loads(body["draft_content"])
    draft["min_version"], draft["min_features"] = "3.3.9", ["AIGC_Video_UnifiedEdit"]
    gen_input = draft["component_list"][0]["abilities"]["gen_video"]["text_to_video_params"][
        "video_gen_inputs"][0]
    gen_input.update(min_version="3.3.9", prompt="", unified_edit_input={
        "type": "", "id": "u",
        "material_list": [{"type": "", "id": "m", "material_type": "image", "image_info": {
            "type": "image", "id": "i", "source_from": "upload", "platform_type": 1, "name": "",
            "image_uri": image, "uri": image, "width": 64, "height": 48, "format": "png"}}],
        "meta_list": [{"meta_type": "text", "text": "[delay:0] dance like "},
                      {"meta_type": "image", "text": "", "material_ref": {"material_idx": 0}}]})
    body["draft_content"] = json.dumps(draft)
    refused = client.generate(body)
    assert refused["ret"] == "1019" and refused["errmsg"] == "shark not pass"
    assert refused["data"]["aigc_data"] is None
    fake.configure(seedance_a_bogus_ok=True)
    accepted = client.generate(body, params=client.params(a_bogus="signed-in-a-browser"))
    record = client.wait(history_id_of(accepted))
    assert record["status"] == 50 and fake.jobs()[0]["video"]["mode"] == "omni"
    assert fake.jobs()[0]["prompt"] == "[delay:0] dance like"


def test_vod_upload_flow(client):
    token = client.upload_token(1)
    assert token["space_name"] == "dreamina"
    data = media.render_mp4(media.VideoSpec("clip"), 64, 64)
    url = (f"{client.base}/?Action=ApplyUploadInner&Version=2020-11-19&SpaceName=dreamina"
           f"&FileType=video&IsInner=1&FileSize={len(data)}&s=qwertyuiop")
    node = requests.get(url, headers=client.signed("GET", url, token, "vod", region="cn-north-1"),
                        timeout=TIMEOUT).json()["Result"]["InnerUploadAddress"]["UploadNodes"][0]
    assert client.put_bytes(node["StoreInfos"][0], data).json()["code"] == 2000
    url = f"{client.base}/?Action=CommitUploadInner&Version=2020-11-19&SpaceName=dreamina"
    body = json.dumps({"SessionKey": node["SessionKey"], "Functions": []}).encode()
    result = requests.post(url, data=body, timeout=TIMEOUT, headers=client.signed(
        "POST", url, token, "vod", body, region="cn-north-1")).json()["Result"]["Results"][0]
    assert result["Vid"] == node["Vid"] and result["VideoMeta"]["Width"] == 64
    assert 1.0 <= result["VideoMeta"]["Duration"] <= 2.0


# --- control API and concurrency ----------------------------------------------------

def test_control_api(fake, client):
    base = fake.url + "/_fake"
    assert requests.post(base + "/delay", json={"seconds": 0.05}, timeout=TIMEOUT).json()["ok"]
    assert requests.post(base + "/credits", json={"session": client.sessionid, "gift": 3},
                         timeout=TIMEOUT).json()["credits"]["total"] == 3
    assert client.generate(image_body("too expensive"))["ret"] == "1006"
    requests.post(base + "/credits", json={"session": client.sessionid, "gift": 100}, timeout=TIMEOUT)
    queued = requests.post(base + "/failures", json={"name": "busy", "count": 2, "endpoint": "history"},
                           timeout=TIMEOUT).json()
    assert queued["queued"]["count"] == 2
    assert [client.history("1")["ret"] for _ in range(3)] == ["1014", "1014", "0"]
    requests.post(base + "/failures", json={"name": "gen_failed", "arg": "2039"}, timeout=TIMEOUT)
    record = client.wait(history_id_of(client.generate(image_body("queued failure"))))
    assert record["fail_code"] == "2039"
    requests.post(base + "/failures", json={"name": "apply_error"}, timeout=TIMEOUT)
    token = client.upload_token(2)
    assert client.apply(token, 10).json()["ResponseMetadata"]["Error"]["CodeN"] == 100024
    requests.post(base + "/sessions/invalid", json={"session": client.sessionid}, timeout=TIMEOUT)
    assert client.history("1")["ret"] == "1015"
    state = requests.get(base + "/state", timeout=TIMEOUT).json()
    assert state["submissions"]["by_session"][client.sessionid] == 1
    assert state["submissions"]["by_prompt"]["queued failure"] == 1
    assert state["sessions"][client.sessionid]["invalid"] is True
    assert state["requests"]["generate"] == 2
    assert any(entry.get("ret") == "1015" for entry in state["request_log"])
    assert requests.post(base + "/failures", json={"name": "nope"}, timeout=TIMEOUT).status_code == 400
    assert requests.post(base + "/reset", timeout=TIMEOUT).json()["ok"]
    assert requests.get(base + "/state", timeout=TIMEOUT).json()["submissions"]["total"] == 0
    catalogue = requests.get(base + "/failures", timeout=TIMEOUT).json()["catalogue"]
    assert {"login", "content_policy", "never_finish", "partial"} <= {f["name"] for f in catalogue}


def test_concurrent_submissions_are_all_counted(fake):
    clients = [Client(fake.url, f"conc-{i}") for i in range(4)]
    errors = []

    def submit(c, n):
        for k in range(n):
            if c.generate(image_body(f"[delay:0] conc {k}"))["ret"] != "0":
                errors.append(k)

    threads = [threading.Thread(target=submit, args=(c, 5)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    state = fake.state()
    assert state["submissions"]["total"] == 20
    assert all(state["submissions"]["by_session"][c.sessionid] == 5 for c in clients)
    assert all(s["credits"]["total"] == 100 - 5 * 4 for s in state["sessions"].values())
