"""The failure modes the fake can inject, and how a submission picks them.

Every row of the reference's failure table (gemini-web.md §5.3) has at least one
mode here. A mode is selected per submission either by a marker in the prompt
(``[fail:<name>]`` or ``[fail:<name>:<arg>]``) or by the control queue
(``POST /_fake/failures``). Markers win over the queue so one test can mix both.

Two kinds exist:

* ``outcome`` modes replace the normal image answer (at most one applies);
* ``modifier`` modes keep the image answer but change how it is shown or
  downloaded (they combine freely with each other).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The reply texts below keep the exact fragments the reference quotes, because
# drivers classify replies by substring (seed http_generator step 8).
USAGE_LIMIT_TEXT = (
    "I can create more images as soon as your limit is reset. Check your usage in Settings."
)
BUSY_TEXT = (
    "I couldn't do that because I'm getting a lot of requests right now. "
    "Please try again later."
)
REGION_TEXT = "Sorry, image creation isn't available in your location."
BLOCKED_TEXT = "I can't seem to create any images for you right now. Please try again later."
SEARCH_ONLY_TEXT = "I can search for images, but can't help you create them."
REFUSAL_TEXT = (
    "I can't generate that image due to safeguards related to third-party content. "
    "Is there something else I can help you with?"
)
UPLOAD_REJECTED_TEXT = (
    "I don't seem to have access to that content. Try uploading the file again."
)
SIGN_IN_TEXT = "To create images, sign in to your Google Account."
TEXT_ONLY_TEXT = (
    "Here is a short written answer instead of a picture. "
    "Ask me to create an image if you want one."
)
PLACEHOLDER_URL = "http://googleusercontent.com/image_generation_content/{index}"


@dataclass(frozen=True)
class FailureMode:
    name: str
    kind: str  # "outcome" or "modifier"
    summary: str
    reference_row: str  # the §5.3 row it stands for
    text: str | None = None  # reply text for text-answer outcomes
    arg_help: str | None = None


CATALOG: dict[str, FailureMode] = {
    m.name: m
    for m in [
        # --- answers that arrive as ordinary text (no generated-image) ---
        FailureMode("usage_limit", "outcome", "text answer: limit reached", "Usage limit", USAGE_LIMIT_TEXT),
        FailureMode("busy", "outcome", "text answer: too many requests", "Busy", BUSY_TEXT),
        FailureMode("region", "outcome", "text answer: not available in your location",
                    "Region / image blocked", REGION_TEXT),
        FailureMode("blocked", "outcome", "text answer: can't create any images right now",
                    "Region / image blocked", BLOCKED_TEXT),
        FailureMode("search_only", "outcome", "text answer: can search but not create",
                    "Region / image blocked", SEARCH_ONLY_TEXT),
        FailureMode("refusal", "outcome", "text answer: policy refusal (feedback buttons present)",
                    "Policy refusal", REFUSAL_TEXT),
        FailureMode("upload_rejected", "outcome", "text answer: no access to the attached content",
                    "Upload rejected", UPLOAD_REJECTED_TEXT),
        FailureMode("sign_in_text", "outcome", "text answer asking to sign in",
                    "Expired / invalid cookies", SIGN_IN_TEXT),
        FailureMode("text_only", "outcome", "plain text answer without an image",
                    "Policy refusal", TEXT_ONLY_TEXT),
        FailureMode("no_image", "outcome",
                    "finished answer whose text only holds the image_generation_content placeholder, "
                    "no generated-image", "No image returned"),
        # --- protocol / transport failures ---
        FailureMode("code", "outcome",
                    "StreamGenerate error envelope with the given code (default 1013); "
                    "the page shows 'Something went wrong (<code>)'",
                    "Usage limit / Temporary server error / IP block",
                    arg_help="error code, e.g. 1037, 1013, 1060"),
        FailureMode("usage_limit_code", "outcome", "error envelope with code 1037", "Usage limit"),
        FailureMode("upload_status", "outcome", "bare status envelope [13] (failed upload)",
                    "Upload rejected"),
        FailureMode("http_429", "outcome", "StreamGenerate answers HTTP 429", "IP block / too many requests"),
        FailureMode("http_500", "outcome", "StreamGenerate answers HTTP 500", "Temporary server error"),
        FailureMode("ip_block", "outcome",
                    "StreamGenerate redirects to www.google.com/sorry (429); the page follows it",
                    "IP block / too many requests"),
        FailureMode("signed_out", "outcome",
                    "the session dies: the PSID is invalidated, StreamGenerate answers 401 and the page "
                    "navigates to accounts.google.com/ServiceLogin", "Expired / invalid cookies"),
        FailureMode("never_finish", "outcome",
                    "the answer never completes; Stop stays visible and keep-alive frames flow until "
                    "the page stops it or the fake shuts down", "Slow generation"),
        FailureMode("jump_back", "outcome",
                    "after min(delay, jump_back_after) the turn vanishes, the prompt is put back in the "
                    "editor and the page is idle again (image tool and attachments dropped)",
                    "Generation cancelled / jump-back",
                    arg_help="N: only the first N submissions of the same prompt jump back (default: all)"),
        FailureMode("truncated", "outcome",
                    "the stream ends without the completion marker; the page goes idle with an empty "
                    "answer and no feedback buttons", "Stream truncated"),
        # --- modifiers of a successful image answer ---
        FailureMode("slow", "modifier", "answer after the given number of seconds instead of the delay",
                    "Slow generation", arg_help="seconds (default 30)"),
        FailureMode("no_download", "modifier",
                    "no download button: the driver must fetch the image URL itself", "Download failure"),
        FailureMode("download_noop", "modifier",
                    "the download button shows its toast but never starts a download", "Download failure"),
        FailureMode("image_403", "modifier",
                    "full-size fetches of the image answer 403 (the preview still loads)", "Download failure"),
        FailureMode("chain_broken", "modifier",
                    "the redirect chain of full-size fetches ends in 404 (the preview still loads)",
                    "Download failure"),
        FailureMode("blob_src", "modifier",
                    "the <img> src is a blob: URL that is revoked after load", "Download failure"),
        FailureMode("overlay", "modifier",
                    "a promo dialog with a click-blocking backdrop opens in .cdk-overlay-container "
                    "when the answer is shown", "Overlays"),
    ]
}

OUTCOME_CODES = {"usage_limit_code": 1037}

MARKER_RE = re.compile(r"\[fail:([a-z0-9_]+)(?::([^\]\s]*))?\]", re.IGNORECASE)


def parse_markers(prompt: str) -> list[tuple[str, str | None]]:
    """Known markers in the order they appear; unknown names are left in the prompt."""
    found = []
    for match in MARKER_RE.finditer(prompt or ""):
        name = match.group(1).lower()
        if name in CATALOG:
            found.append((name, match.group(2) or None))
    return found


def strip_markers(prompt: str) -> str:
    def keep_unknown(match: re.Match) -> str:
        return "" if match.group(1).lower() in CATALOG else match.group(0)

    return re.sub(r"\s{2,}", " ", MARKER_RE.sub(keep_unknown, prompt or "")).strip()


@dataclass
class Plan:
    """What one submission will do; built by the server from markers, queue and account."""

    outcome: str = "image"  # "image", "jump_back" or any outcome name of CATALOG
    arg: str | None = None
    modifiers: dict[str, str | None] = field(default_factory=dict)
    source: str = "default"  # "marker", "queue", "account" or "default"

    @property
    def text(self) -> str | None:
        mode = CATALOG.get(self.outcome)
        return mode.text if mode else None

    def error_code(self) -> int:
        if self.outcome in OUTCOME_CODES:
            return OUTCOME_CODES[self.outcome]
        try:
            return int(self.arg) if self.arg else 1013
        except ValueError:
            return 1013

    def slow_seconds(self) -> float | None:
        if "slow" not in self.modifiers:
            return None
        try:
            return float(self.modifiers["slow"] or 30)
        except ValueError:
            return 30.0

    def as_dict(self) -> dict:
        return {"outcome": self.outcome, "arg": self.arg, "modifiers": dict(self.modifiers),
                "source": self.source}


def split(selected: list[tuple[str, str | None]]) -> tuple[list[tuple[str, str | None]], dict]:
    """Separate outcome selections (ordered) from modifiers (merged)."""
    outcomes, modifiers = [], {}
    for name, arg in selected:
        if CATALOG[name].kind == "outcome":
            outcomes.append((name, arg))
        else:
            modifiers[name] = arg
    return outcomes, modifiers


def catalog_rows() -> list[dict]:
    return [
        {"name": m.name, "kind": m.kind, "summary": m.summary, "reference_row": m.reference_row,
         "text": m.text, "arg": m.arg_help}
        for m in CATALOG.values()
    ]
