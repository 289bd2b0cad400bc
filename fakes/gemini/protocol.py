"""Wire shapes of Gemini's internal endpoints, as far as the reference documents them.

The fake page talks to its backend with the same request and reply shapes the
real app uses (gemini-web.md §1.8, §1.8.1, §3), so a driver that captures the
network traffic, or an HTTP driver, sees familiar data. Slots the reference does
not pin down are reconstructions and are marked as such.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field

XSSI_GUARD = ")]}'\n"

# Model ids the reference lists (§3 step 5); used only to label submissions.
MODEL_IDS = {
    "9d8ca3786ebdfbea": "Pro",
    "fbb127bbb056c959": "Fast",
    "5bf011840784117a": "Thinking",
    "e6fa609c3fa255c0": "Pro",
    "56fdd199312815e2": "Fast",
    "e051ce1aa80aa576": "Thinking",
}
MODE_TO_MODEL_ID = {"Fast": "fbb127bbb056c959", "Thinking": "5bf011840784117a", "Pro": "9d8ca3786ebdfbea"}

# Reconstruction: the reference gives the error code path [5][2][0][1][0] but not the type string.
ERROR_TYPE = "type.googleapis.com/assistant.boq.bard.application.BardErrorInfo"

# The fake's own envelope for "the page cancelled this turn itself" (jump-back). The real
# cancellation happens in the client; the fake needs some signal to trigger it.
JUMP_BACK_ENVELOPE = ["fake.jump_back"]


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def frame(envelopes: list) -> str:
    """One length-prefixed frame; the length counts UTF-16 units after the digits (§1.8.1)."""
    body = "\n" + json.dumps(envelopes, ensure_ascii=False, separators=(",", ":")) + "\n"
    return f"{utf16_len(body)}{body}"


def decode_frames(body: str) -> list[list]:
    """Parse a whole StreamGenerate/batchexecute body into its frames (used by tests)."""
    text = body[4:] if body.startswith(")]}'") else body
    # Work in UTF-16 units so the lengths line up with what the server counted.
    units = text.encode("utf-16-le")
    pos, frames = 0, []
    while pos < len(units):
        # skip stray whitespace between frames
        while pos < len(units) and units[pos:pos + 2].decode("utf-16-le").isspace():
            pos += 2
        start = pos
        while pos < len(units) and units[pos:pos + 2].decode("utf-16-le").isdigit():
            pos += 2
        if start == pos:
            break
        length = int(units[start:pos].decode("utf-16-le"))
        chunk = units[pos:pos + 2 * length].decode("utf-16-le")
        pos += 2 * length
        frames.append(json.loads(chunk))
    return frames


def new_hex(n: int = 16) -> str:
    return secrets.token_hex(n // 2)


@dataclass
class GenerateRequest:
    prompt: str
    files: list[tuple[str, str]] = field(default_factory=list)  # (upload ref, file name)
    chat: tuple[str, str, str] | None = None  # (cid, rid, rcid) of the previous turn
    temporary: bool = False
    image_tool: bool | None = None  # None: the client did not say (HTTP drivers)
    aspect_ratio: str = "1:1"
    model_id: str | None = None

    @property
    def mode(self) -> str | None:
        return MODEL_IDS.get(self.model_id or "")


class BadRequest(ValueError):
    pass


def parse_generate_form(freq: str | None, model_header: str | None) -> GenerateRequest:
    """Decode ``f.req`` = ``[null, "<inner JSON>"]`` (§1.8 step 5, §3 step 5)."""
    if not freq:
        raise BadRequest("missing f.req")
    try:
        outer = json.loads(freq)
        inner = json.loads(outer[1])
        head = inner[0]
        prompt = head[0]
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise BadRequest(f"malformed f.req: {exc}") from exc
    if not isinstance(prompt, str):
        raise BadRequest("prompt must be a string")
    files = []
    raw_files = head[3] if len(head) > 3 and head[3] else []
    for item in raw_files:
        try:
            ref = item[0][0]
            name = item[1] if len(item) > 1 and item[1] else "file"
        except (TypeError, IndexError) as exc:
            raise BadRequest("malformed file entry") from exc
        files.append((str(ref), str(name)))
    chat = None
    meta = inner[2] if len(inner) > 2 else None
    if isinstance(meta, list) and meta and meta[0]:
        chat = (meta[0], meta[1] if len(meta) > 1 else "", meta[2] if len(meta) > 2 else "")
    temporary = len(inner) > 45 and inner[45] == 1
    # Fake-only slot 49: the page's image-tool state (the real slot is not documented).
    image_tool, aspect = None, "1:1"
    extra = inner[49] if len(inner) > 49 else None
    if isinstance(extra, dict):
        image_tool = bool(extra.get("image_tool"))
        aspect = str(extra.get("aspect_ratio") or "1:1")
    model_id = None
    if model_header:
        try:
            parsed = json.loads(model_header)
            model_id = parsed[4] if len(parsed) > 4 else None
        except (ValueError, TypeError, IndexError):
            model_id = None
    return GenerateRequest(prompt=prompt, files=files, chat=chat, temporary=temporary,
                           image_tool=image_tool, aspect_ratio=aspect, model_id=model_id)


def image_node(url: str, file_name: str, image_id: str) -> list:
    # Head shape observed in Nativu5/Gemini-FastAPI#62: [null,null,null,[null,1,"<n>.png","<url>"]]
    return [[None, None, None, [None, 1, file_name, url]], [image_id]]


def candidate(rcid: str, text: str, *, done: bool, images: list | None = None,
              keyed_images: bool = False) -> list:
    """Candidate list: [0] rcid, [1][0] text, [8][0] 2 when complete, [12] image block."""
    cand: list = [rcid, [text]] + [None] * 11
    cand[8] = [2 if done else 1]
    if images:
        if keyed_images:
            # image-to-image replies put the list under a string-keyed object (§1.8.1, [12][0]["8"][0])
            cand[12] = [{"8": [images]}]
        else:
            block: list = [None] * 8
            block[7] = [images]
            cand[12] = block
    return cand


def inner_payload(cid: str, rid: str, cand: list | None, *, final: bool) -> str:
    inner: list = [None] * 28
    inner[1] = [cid, rid]
    if cand is not None:
        inner[4] = [cand]
    if final:
        inner[25] = f"!{new_hex(32)}"  # opaque context string; present means "turn saved"
        now = time.time()
        inner[27] = [[[None, None, None, [int(now), int((now % 1) * 1e9)]]]]
    return json.dumps(inner, ensure_ascii=False, separators=(",", ":"))


def data_envelope(inner_json: str) -> list:
    return ["wrb.fr", None, inner_json]


def error_envelope(code: int) -> list:
    return ["wrb.fr", None, None, None, None, [3, None, [[ERROR_TYPE, [code]]]]]


def bare_status_envelope(status: int) -> list:
    return ["wrb.fr", None, None, None, None, [status]]


def trailer_frames() -> list[str]:
    return [frame([["di", 382], ["af.httprm", 381, str(secrets.randbelow(10**19)), 17]])]


def batch_reply(rpcid: str, payload) -> str:
    inner = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return XSSI_GUARD + frame([["wrb.fr", rpcid, inner, None, None, None, "generic"]]) + "".join(
        trailer_frames())


def parse_batch_form(freq: str | None) -> list[tuple[str, object]]:
    """``f.req = [[[rpcid, "<payload JSON>", null, "generic"], ...]]`` → [(rpcid, payload)]."""
    if not freq:
        raise BadRequest("missing f.req")
    try:
        calls = json.loads(freq)[0]
        out = []
        for call in calls:
            payload = json.loads(call[1]) if isinstance(call[1], str) and call[1] else call[1]
            out.append((call[0], payload))
        return out
    except (ValueError, TypeError, IndexError) as exc:
        raise BadRequest(f"malformed f.req: {exc}") from exc


# --- client side, for tests and HTTP drivers talking to the fake -------------------


def build_generate_form(prompt: str, *, files: list[tuple[str, str]] | None = None,
                        chat: tuple[str, str, str] | None = None, temporary: bool = False,
                        image_tool: bool | None = None, aspect_ratio: str = "1:1", at: str = "") -> dict:
    """Form fields of a StreamGenerate POST, shaped like the page (and §3 step 5) sends them."""
    inner: list = [None] * 69
    inner[0] = [prompt, 0, None, [[[ref], name] for ref, name in files] if files else None, None, None, 0]
    inner[1] = ["en"]
    inner[2] = ([chat[0], chat[1], chat[2], None, None, None, None, None, None, ""] if chat
                else ["", "", "", None, None, None, None, None, None, ""])
    inner[7] = 1
    if temporary:
        inner[45] = 1
    if image_tool is not None:
        inner[49] = {"image_tool": image_tool, "aspect_ratio": aspect_ratio}
    return {"f.req": json.dumps([None, json.dumps(inner)]), "at": at}


def parse_reply(body: str) -> dict:
    """Fold a StreamGenerate body into the last known answer state (the page does the same)."""
    out: dict = {"cid": None, "rid": None, "rcid": None, "text": None, "images": [], "done": False,
                 "final": False, "error_code": None, "jump_back": False, "ui": {}, "frames": 0}
    for envelopes in decode_frames(body):
        out["frames"] += 1
        for env in envelopes:
            if env[0] == JUMP_BACK_ENVELOPE[0]:
                out["jump_back"] = True
            elif env[0] == "fake.ui":
                out["ui"] = env[1]
            elif env[0] == "wrb.fr" and isinstance(env[2], str):
                inner = json.loads(env[2])
                if inner[1]:
                    out["cid"], out["rid"] = inner[1][0], inner[1][1]
                if len(inner) > 4 and inner[4]:
                    cand = inner[4][0]
                    out["rcid"], out["text"] = cand[0], cand[1][0]
                    out["done"] = bool(cand[8]) and cand[8][0] == 2
                    nodes = []
                    block = cand[12] if len(cand) > 12 else None
                    if isinstance(block, list) and len(block) > 7 and block[7]:
                        nodes = block[7][0]
                    elif isinstance(block, list) and block and isinstance(block[0], dict):
                        nodes = block[0].get("8", [[]])[0]
                    out["images"] = [{"url": n[0][3][3], "name": n[0][3][2], "id": n[1][0]} for n in nodes]
                if len(inner) > 25 and isinstance(inner[25], str):
                    out["final"] = True
            elif env[0] == "wrb.fr" and len(env) > 5 and isinstance(env[5], list):
                try:
                    out["error_code"] = env[5][2][0][1][0]
                except (IndexError, TypeError):
                    out["error_code"] = env[5][0] if env[5] else None
    return out
