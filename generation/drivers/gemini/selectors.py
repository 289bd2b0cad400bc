"""Every selector, URL and text pattern the Gemini driver relies on, in one place.

Gemini's markup changes with every deploy (gemini-web.md §2.2, §6.8: "selector churn is the main
maintenance cost"), so an operator must be able to fix a broken selector without a release. Any
UPPER_CASE name below can be replaced through the Django setting `GEMINI_OVERRIDES` (a dict, also
read from the env var `GEMINI_OVERRIDES` as JSON), e.g.

    GEMINI_OVERRIDES='{"IMAGE_TOOL_ITEM": "role=menuitemcheckbox[name=/Make image/i]",
                       "APP_QUERY": ""}'

Kinds of values:
  * "CSS" values are plain CSS: the in-page state probe (answers.py) runs them with querySelectorAll.
  * "PW" values are Playwright selectors (CSS plus `role=...`, `:has-text()`, `>>`), used only with
    page.locator().
  * "*_PATTERNS" are Python regular expressions, matched case-insensitively against visible text.

Hosts. `GEMINI_UPSTREAM_URL` (default https://gemini.google.com) is the app's base URL; the app is
opened at <upstream>/app?hl=en. When the upstream is the real site, generated images come from
IMAGE_HOSTS_REAL and sign-in pages live on SIGNIN_HOSTS_REAL. When it is anything else (the
project's fake, a recording proxy) that site must serve Google's other hosts on its own origin:
either under the same paths, or with the real host name as the first path segment
(`<upstream>/accounts.google.com/ServiceLogin`, `<upstream>/lh3.googleusercontent.com/gg-dl/...`,
which is what fakes/gemini does). Both derived host lists are then just the upstream's host, and
every URL check matches on paths (/ServiceLogin, /sorry/, /gg-dl/), which both layouts satisfy.
Set IMAGE_HOSTS / SIGNIN_HOSTS in the overrides to name other hosts explicitly. Cookies exported
from google.com are re-homed onto the upstream's host and mapped back afterwards (cookiejar.py).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit


# --- sites ------------------------------------------------------------------------------------

REAL_APP_HOST = "gemini.google.com"
APP_PATH = "/app"
# Forcing the English UI keeps the English text patterns authoritative (hamlog forces hl=en). An
# empty string keeps the account's own language; the patterns below cover a few others as well.
APP_QUERY = "hl=en"
IMAGE_HOSTS_REAL = ("lh3.googleusercontent.com", "work.fife.usercontent.google.com",
                    "lh3.google.com")
SIGNIN_HOSTS_REAL = ("accounts.google.com", "consent.google.com")
IMAGE_HOSTS: tuple | None = None   # None: derived from GEMINI_UPSTREAM_URL (module docstring)
SIGNIN_HOSTS: tuple | None = None

# A page URL on any host that means "signed out" (ServiceLogin redirect, v3 sign-in, consent wall).
SIGNIN_URL_PATTERN = r"/ServiceLogin|/v3/signin/|/signin/identifier|/InteractiveLogin|consent\.google\."
# The "unusual traffic" interstitial (www.google.com/sorry/index?continue=...).
SORRY_URL_PATTERN = r"/sorry/"
# Generated image URLs (preview src and the CDN hops), used to spot them in network traffic when
# the <img> only has a revoked blob: src.
IMAGE_URL_PATTERN = r"/(?:rd-)?gg-dl/"
# FIFE size options appended to an image URL: "=s1024-rj", "=s2048", "=w800-h600", "=mp2=s2048".
# Everything from the first "=" of the last path segment is options.
FULL_SIZE_SUFFIXES = ("=s0", "=s16383", "=s2048-rj")

# --- page landmarks (CSS unless marked PW) ----------------------------------------------------

# Signed-out markers. The prompt box is rendered for signed-out users too (spike), so only these
# count. PW; a tuple is a list of alternatives (Playwright cannot mix `role=` into a CSS list).
SIGNIN_LINK = ('a[href*="ServiceLogin"], a[href*="/v3/signin"], a[aria-label="Sign in"], '
               'a:has(> span:text-is("Sign in"))',
               'role=button[name="Sign in"]')

# Composer (Quill editor). CSS.
COMPOSER = ('rich-textarea div.ql-editor[contenteditable="true"], '
            'div.ql-editor.textarea[contenteditable="true"], '
            'div[contenteditable="true"][role="textbox"]')
# Send is rendered only while the editor has text; while generating the same button turns into Stop.
SEND_BUTTON = ('button.send-button[aria-label="Send message"], button[aria-label="Send message"], '
               'button[aria-label="发送"], button[aria-label="메시지 보내기"]')
STOP_BUTTON = ('button[aria-label="Stop response"], button[aria-label="Stop responding"], '
               'button.send-button.stop, button[aria-label="停止回答"], button[aria-label="대답 생성 중지"]')
PROGRESS = 'mat-progress-bar, [role="progressbar"]'

# Conversation. CSS.
RESPONSE_TURN = "model-response"
RESPONSE_TEXT = "message-content, .markdown"
# One element per generated image, holding both the <img> and its download button. Alternatives,
# first match wins (a CSS list would count nested elements twice).
IMAGE_SCOPE = ("generated-image", "single-image")
GENERATED_IMAGE = ("generated-image img.image, single-image.generated-image img, "
                   "div.attachment-container.generated-images img")
# The turn is over once these appear (gemflow, hamlog). CSS.
FEEDBACK_BUTTONS = ('button[aria-label="Good response"], button[aria-label="Bad response"], '
                    'button[aria-label="好的回答"], button[aria-label="不好的回答"]')
# Inline error banners in a turn ("Something went wrong (1037)"). CSS. The reference records no
# markup for these, so they are generic; page-level toasts count only when their text is recognised.
ERROR_BLOCK = '.error-message, [class*="error-container"], [role="alert"]'
PAGE_ERROR = 'mat-snack-bar-container, simple-snack-bar, .toast-container .toast, [role="alert"]'

# Download button: hidden (opacity 0) until a real hover. CSS (valid PW too).
DOWNLOAD_BUTTON = ('button[data-test-id="download-generated-image-button"], '
                   'button[aria-label="Download full size image"]')

# Image tool. PW. The tools menu moved under the "+" button in newer UIs (spike), so both paths are
# tried; `button[aria-label*="Tools"]` is avoided on purpose (matches sidebar items, hamlog).
IMAGE_TOOL_ACTIVE = 'role=button[name=/Deselect Image/i]'
IMAGE_TOOL_ITEM = ('role=menuitemcheckbox[name=/^\\s*(Create images?|Make images?|制作图片|创建图片|'
                   '生成图片|이미지 생성하기)\\s*$/i]')
TOOLS_BUTTONS = ("toolbox-drawer button.toolbox-drawer-button",
                 'toolbox-drawer button',
                 'role=button[name=/^\\s*(Tools|工具|도구)\\s*$/i]',
                 'button[aria-label="Upload & tools"]')
# Landing-page suggestion pill, seed step 7a. PW.
IMAGE_TOOL_PILL = ('button.suggestion-chip:has-text("Create image"), '
                   'button.card-zero-state:has-text("Create image")')

# Upload (edit flow). PW.
UPLOAD_MENU_BUTTON = ('button.upload-card-button, button[aria-label="Open upload file menu"], '
                      'button[aria-label="Upload & tools"]')
UPLOAD_FILES_ITEM = ('role=menuitem[name=/^\\s*(Upload files?|Upload|上传文件|上传|파일 업로드)/i]')
UPLOAD_AGREE_BUTTON = '[data-test-id="upload-image-agree-button"]'
# Fallback when no file chooser opens (seed step 8). CSS.
FILE_INPUT = 'input[type="file"][accept*="image"], input[type="file"][name="Filedata"]'
# One chip per attached file: "Image preview <filename> Remove file" (hamlog). CSS.
PREVIEW_CHIP = ('uploader-file-preview, [data-test-id="file-preview"], '
                '.file-preview-list [aria-label^="Image preview"]')

# Overlays: promo and first-visit dialogs in the CDK container (femini, seed step 9). Only dialogs
# count: our own menus live in the same container. CSS. OVERLAY_DISMISS is searched inside the
# topmost dialog (PW); without a match Escape closes it.
OVERLAY_PANE = ('.cdk-overlay-container [role="dialog"], .cdk-overlay-container [role="alertdialog"], '
                '.cdk-overlay-container mat-dialog-container')
OVERLAY_DISMISS = ('[data-test-id="close-button"], button:has-text("No, thanks"), button:has-text("Got it"), '
                   'button:has-text("Not now"), button:has-text("Dismiss"), button:has-text("Close")')

# Optional steps, off unless configured (both change what the account's history shows).
TEMPORARY_CHAT = False
TEMPORARY_CHAT_BUTTON = 'button[aria-label="Temporary chat"], button[aria-label*="临时"]'
MODE = ""  # e.g. "Pro": pick this model in the mode menu before the image tool (seed step 6)
MODE_BUTTON = '[data-test-id="bard-mode-menu-button"], .input-area-switch'
MODE_ITEM = "role=menuitemradio[name=/^\\s*{mode}\\b/i]"

# --- reply texts (Python regex, case-insensitive) ---------------------------------------------
# Gemini answers limits and refusals as ordinary chat text. Languages: English (hl=en), plus the
# Spanish of #344, Chinese and Korean that the reference quotes for UI labels.

SIGN_IN_TEXT_PATTERNS = (
    r"\bsign in to (?:your google account|continue|create)",
    r"servicelogin",
    r"登录您的 ?Google 帐号",
)
# "Usage limit" (#344, #262): out until the limit resets.
USAGE_LIMIT_PATTERNS = (
    r"as soon as your limit (?:is )?reset",
    r"your limit (?:is )?reset",
    r"reached (?:your|the) (?:daily |image )?(?:generation )?limit",
    r"image generation limit",
    r"cuando se restablezca tu l[ií]mite",
    r"(?:额度|上限).{0,10}(?:重置|已用完)",
    r"한도가 초기화",
)
# "Busy" (seed step 8): a cooldown, not a quota.
BUSY_PATTERNS = (
    r"getting a lot of requests right now",
    r"too many requests",
    r"请求过多",
    r"요청이 너무 많",
)
# Region/account gate: not something another attempt on this account fixes.
REGION_BLOCKED_PATTERNS = (
    r"image creation isn.t available in your (?:location|country|region)",
    r"can.t seem to create any .{0,40}for you right now",
    r"i can search for images,? but can.t .{0,40}create",
    r"not (?:yet )?available in your (?:country|region|location)",
    r"所在(?:地区|位置).{0,10}(?:无法|不支持)",
)
# Policy refusals: a text answer with feedback buttons and no image (§5.3).
POLICY_PATTERNS = (
    r"safeguards",
    r"can.t (?:generate|create|make) (?:that|this|images? (?:of|like|that))",
    r"(?:against|violates?) (?:my|our)? ?(?:policies|guidelines)",
    r"i.m (?:not able|unable) to (?:generate|create) (?:that|this)",
    r"无法(?:生成|创建).{0,20}(?:图片|图像)",
    r"이미지를 (?:생성|만들) 수 없",
)
# Attachment refused (PR #198).
UPLOAD_REJECTED_PATTERNS = (
    r"don.t seem to have access to that content",
)
# Only the placeholder link of an image answer, with no image (parser drift, Nativu5#62/#76).
NO_IMAGE_PLACEHOLDER_PATTERNS = (
    r"googleusercontent\.com/image_generation_content/\d+",
)
# Error banners carry Gemini's numeric code (gwa: 1037 usage limit, 1060 IP block, 1013 temporary)
# or the HTTP status of the failed request.
ERROR_CODE_PATTERN = r"(?:went wrong|error|错误|오류)\D{0,20}\(?\b(\d{3,4})\b\)?"
QUOTA_ERROR_CODES = (1037,)
RATE_LIMIT_ERROR_CODES = (1060, 429)
# A reset time shown in the reply (#262), e.g. "resets in 3 hours" / "reset at 5:00 PM".
RESET_IN_PATTERN = r"reset[s]? in (\d+) ?(minute|min|hour|hr)s?"

# --- behaviour and timing (seconds) -----------------------------------------------------------
MAX_RESUBMITS = 3             # jump-back re-submits (seed: at most 3)
LOCALE = "en-US"
TIMEZONE = ""                 # empty: the browser's default
VIEWPORT = (1440, 900)
USER_AGENT = ""               # empty: Chromium's own UA without the "Headless" marker
HEADLESS = True
# New headless Chromium gives every page a window whose omnibox popup is a WebUI page in a renderer
# of its own (~45 MB PSS per job, measured); a headless page never shows one. Playwright merges
# this --disable-features with its own list.
EXTRA_LAUNCH_ARGS = ("--disable-blink-features=AutomationControlled",
                     "--disable-features=WebUIOmniboxPopup,OmniboxPopupAim,WebUIOmniboxAimPopup")
GENERATE_PROMPT_PREFIX = ""   # e.g. "Generate an image: " (Nativu5#76)
EDIT_PROMPT_PREFIX = ""
ACTION_TIMEOUT = 15.0         # one click/fill/locator wait
CLICK_FIRST_TRY = 4.0         # a click still blocked after this looks for a dialog in the way
NAVIGATION_TIMEOUT = 45.0
APP_READY_TIMEOUT = 20.0      # composer visible after DOMContentLoaded
SUBMIT_CONFIRM_TIMEOUT = 10.0  # send accepted (editor cleared / Stop shown)
IDLE_SETTLE = 6.0             # idle with no answer for this long = truncated answer
JUMP_BACK_SETTLE = 1.0        # idle with the prompt back in the editor for this long = jump-back
FINISH_GRACE = 20.0           # images shown but the turn still running
DOWNLOAD_EVENT_TIMEOUT = 20.0  # download button -> download event
DOWNLOAD_REQUEST_TIMEOUT = 30.0
DEADLINE_MARGIN = 3.0         # kept back from task.deadline for artifacts and cleanup
MIN_ROUND_SECONDS = 10.0      # do not start another round (n > 1) with less time than this
PROBE_SLICE = 1.0             # longest single wait on the page before re-checking the deadline
ALLOW_PREVIEW_FALLBACK = False  # accept the 1024 px preview when every full-size fetch fails


@dataclass(frozen=True)
class Config:
    """The module's values with overrides applied, resolved once per job in the calling thread."""

    values: dict
    upstream_url: str
    chromium_path: str

    def __getattr__(self, name):
        if name.startswith("__"):
            # Unpickling (the config travels to the browser service) probes dunders before
            # `values` exists; answering them from `values` would recurse.
            raise AttributeError(name)
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def app_origin(self) -> str:
        parts = urlsplit(self.upstream_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def app_host(self) -> str:
        return (urlsplit(self.upstream_url).hostname or "").lower()

    @property
    def is_real_site(self) -> bool:
        return self.app_host == REAL_APP_HOST

    @property
    def app_url(self) -> str:
        url = self.app_origin + self.upstream_path + self.values["APP_PATH"]
        query = self.values["APP_QUERY"]
        return f"{url}?{query}" if query else url

    @property
    def upstream_path(self) -> str:
        return urlsplit(self.upstream_url).path.rstrip("/")

    @property
    def image_hosts(self) -> tuple:
        if self.values["IMAGE_HOSTS"]:
            return tuple(self.values["IMAGE_HOSTS"])
        return tuple(IMAGE_HOSTS_REAL) if self.is_real_site else (self.app_host,)

    @property
    def signin_hosts(self) -> tuple:
        if self.values["SIGNIN_HOSTS"]:
            return tuple(self.values["SIGNIN_HOSTS"])
        return tuple(SIGNIN_HOSTS_REAL) if self.is_real_site else (self.app_host,)

    def rx(self, name: str) -> re.Pattern:
        return re.compile(self.values[name], re.IGNORECASE)

    def matches(self, name: str, text: str) -> bool:
        return any(re.search(p, text or "", re.IGNORECASE) for p in self.values[name])


def defaults() -> dict:
    return {k: v for k, v in globals().items() if k.isupper() and not k.startswith("_")}


def _env_overrides() -> dict:
    raw = os.environ.get("GEMINI_OVERRIDES")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"GEMINI_OVERRIDES must be a JSON object: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("GEMINI_OVERRIDES must be a JSON object")
    return data


def load(settings_obj=None) -> Config:
    """Module values with settings.GEMINI_OVERRIDES (itself read from the env var) applied."""
    if settings_obj is None:
        from django.conf import settings as settings_obj
    values = defaults()
    overrides = getattr(settings_obj, "GEMINI_OVERRIDES", None)
    if overrides is None:  # outside Django settings (scripts): the env var alone
        overrides = _env_overrides()
    unknown = sorted(set(overrides) - set(values))
    if unknown:
        # A typo must not silently keep the broken selector in place.
        raise ValueError(f"GEMINI_OVERRIDES has unknown names: {', '.join(unknown)}")
    for name, value in overrides.items():
        default = values[name]
        # JSON has no tuples; and one pattern given where a list is expected must not be iterated
        # character by character, nor a list of CSS selectors reach querySelectorAll as a list.
        if isinstance(default, tuple):
            value = tuple(value) if isinstance(value, (list, tuple)) else (value,)
        elif isinstance(default, str) and isinstance(value, (list, tuple)):
            value = ", ".join(value)
        values[name] = value
    upstream = (getattr(settings_obj, "GEMINI_UPSTREAM_URL", None)
                or os.environ.get("GEMINI_UPSTREAM_URL") or "https://gemini.google.com").rstrip("/")
    chromium = (getattr(settings_obj, "CHROMIUM_PATH", None)
                or os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium")
    return Config(values=values, upstream_url=upstream, chromium_path=chromium)
