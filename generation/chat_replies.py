"""Shaping chat answers: the `chat.completion` object, `chat.completion.chunk` frames, the media
markdown and the progress lines (gateway-anchors.md §C for the wire the SDK parses)."""

from __future__ import annotations

import time

from api.errors import ApiError
from generation import outcomes
from generation.event_streams import error_frame, frame
from generation.media import signed_url
from generation.responses import estimate_tokens
from generation.waiting import JobSnapshot, JobState

# Video progress is reported in steps, so a long video adds ten lines to the chat, not a hundred.
PROGRESS_STEP = 10
DONE = b"data: [DONE]\n\n"


class MediaMissing(ApiError):
    def __init__(self):
        super().__init__(502, "The job finished without a file.", code="upstream_error", type="server_error")


def media_markdown(snap: JobSnapshot) -> str:
    """Links to the gateway's own copies: images inline, a video as a link (markdown has no video
    element) under its thumbnail. Raises when a succeeded job left no file."""
    files = {kind: [f for f in snap.files if f["kind"] == kind] for kind in ("image", "video", "thumbnail")}
    lines = []
    if files["video"]:
        if files["thumbnail"]:
            lines.append(f"![video thumbnail]({signed_url(files['thumbnail'][0]['file'])})")
        lines.append(f"[video]({signed_url(files['video'][0]['file'])})")
    lines.extend(f"![image_{i}]({signed_url(f['file'])})" for i, f in enumerate(files["image"]))
    if not lines:
        raise MediaMissing()
    return "\n\n".join(lines)


def failure(snap: JobSnapshot) -> ApiError:
    """The error a failed job gives a stream's client: the envelope generation.service.wait_for
    raises (same status, type, code and message). A stream's headers are already sent, so the
    retry hint is not read (no database call on the event loop)."""
    return outcomes.snapshot_error(snap, lookup=False)


def progress_line(state: JobState, *, video: bool) -> str:
    """What the client sees while the job runs, from the job's real state."""
    if state.status == "queued":
        text = "Queued…"
    elif state.attempts == 0:  # claimed by a worker, which is waiting for a free account slot
        text = "Waiting for a free account…"
    else:
        text = "Generating…"
        if video and state.progress:
            text += f" {state.progress // PROGRESS_STEP * PROGRESS_STEP}%"
    if state.attempts > 1:
        text += f" (another account, attempt {state.attempts})"
    return text


def usage(prompt: str, content: str) -> dict:
    prompt_tokens, completion_tokens = estimate_tokens(prompt), estimate_tokens(content)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def completion_id(job) -> str:
    # The job's own id, so an operator can go from a chat reply to the job in the admin.
    return f"chatcmpl-{job.pk.hex}"


def completion(job, model: str, prompt: str, content: str) -> dict:
    return {
        "id": completion_id(job), "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop",
                     "logprobs": None}],
        "usage": usage(prompt, content),
    }


class ChunkWriter:
    """`chat.completion.chunk` frames of one stream: same id, created and model on each."""

    def __init__(self, job, model: str, *, include_usage: bool):
        self.id = completion_id(job)
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage
        self.content = ""  # everything sent, for the usage estimate

    def _frame(self, choices: list, **extra) -> bytes:
        payload = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                   "choices": choices}
        if self.include_usage:
            payload["usage"] = None  # as OpenAI does: null on every chunk but the usage chunk
        payload.update(extra)
        return frame(payload)

    def role(self) -> bytes:
        return self._frame([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])

    def text(self, content: str) -> bytes:
        self.content += content
        return self._frame([{"index": 0, "delta": {"content": content}, "finish_reason": None}])

    def stop(self) -> bytes:
        return self._frame([{"index": 0, "delta": {}, "finish_reason": "stop"}])

    def usage(self, prompt: str) -> bytes:
        return self._frame([], usage=usage(prompt, self.content))

    @staticmethod
    def error(error: ApiError) -> bytes:
        return error_frame(error)
