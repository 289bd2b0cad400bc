"""Reading Gemini's page: the in-page state probe, and what a text answer or error banner means.

Gemini reports limits, refusals and blocks as ordinary chat text (gemini-web.md §5.3), so the
driver's error mapping (§1.5) is a matter of matching that text against the patterns in
selectors.py. Kept apart from the click-by-click flow so the mapping can be read (and changed) in
one place.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from generation.drivers.base import (
    ContentPolicy,
    CredentialsRejected,
    GenerationBlocked,
    QuotaExhausted,
    RateLimited,
    UpstreamFailure,
)

# The probe. `sel` holds the CSS landmarks from selectors.py; `base` is the number of answer
# turns before our submission (a turn beyond it is ours); `last` is the key of the state the caller
# already knows. Resolves at once with a different state, else on the first DOM change or image
# load that changes it, else after `slice` ms so the caller can check its deadline.
PROBE_JS = r"""
(args) => {
  const sel = args.sel;
  const shown = (el) => {
    if (!el || !el.isConnected) return false;
    const st = getComputedStyle(el);
    if (st.display === 'none' || st.visibility === 'hidden') return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const anyShown = (css, root) => Array.from((root || document).querySelectorAll(css)).some(shown);
  const snap = () => {
    const turns = document.querySelectorAll(sel.turn);
    const t = turns.length > args.base ? turns[turns.length - 1] : null;
    let turn = null;
    if (t) {
      const body = t.querySelector(sel.text) || t;
      const err = Array.from(t.querySelectorAll(sel.error)).filter(shown).map(e => e.innerText).join(' ');
      turn = {
        text: (body.innerText || '').trim().slice(0, 4000),
        error: err.trim().slice(0, 500),
        feedback: anyShown(sel.feedback, t),
        images: Array.from(t.querySelectorAll(sel.image)).map(img => ({
          src: img.currentSrc || img.src || '',
          loaded: !!(img.complete && img.naturalWidth > 0),
          width: img.naturalWidth || 0, height: img.naturalHeight || 0,
        })),
      };
    }
    const editor = document.querySelector(sel.composer);
    const pageErr = Array.from(document.querySelectorAll(sel.pageError)).filter(shown)
      .map(e => e.innerText).join(' ').trim().slice(0, 500);
    return {
      url: location.href,
      turns: turns.length,
      turn,
      stop: anyShown(sel.stop),
      send: anyShown(sel.send),
      progress: anyShown(sel.progress),
      editor: editor ? (editor.innerText || '').trim() : null,
      overlay: anyShown(sel.overlay),
      pageError: pageErr,
    };
  };
  const key = (s) => JSON.stringify([s.url, s.turns, s.stop, s.send, s.progress, !!s.editor, s.overlay,
    s.pageError, s.turn && [s.turn.error, s.turn.feedback, !!s.turn.text,
    s.turn.images.map(i => [i.src, i.loaded])]]);
  const first = snap();
  first.key = key(first);
  if (first.key !== args.last) return first;
  return new Promise((resolve) => {
    let done = false, scheduled = false, timer = null;
    const finish = (s) => {
      if (done) return;
      done = true;
      obs.disconnect();
      document.removeEventListener('load', onChange, true);
      clearTimeout(timer);
      s = s || snap();
      s.key = key(s);
      resolve(s);
    };
    const check = () => {
      scheduled = false;
      const s = snap();
      if (key(s) !== args.last) finish(s);
    };
    const onChange = () => {
      if (!scheduled) { scheduled = true; setTimeout(check, 0); }
    };
    const obs = new MutationObserver(onChange);
    obs.observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
    document.addEventListener('load', onChange, true);  // <img> loads change no DOM
    timer = setTimeout(() => finish(null), args.slice);
  });
}
"""


def probe_args(cfg, base: int, last: str | None, slice_ms: int) -> dict:
    return {
        "sel": {"turn": cfg.RESPONSE_TURN, "text": cfg.RESPONSE_TEXT, "error": cfg.ERROR_BLOCK,
                "feedback": cfg.FEEDBACK_BUTTONS, "image": cfg.GENERATED_IMAGE, "composer": cfg.COMPOSER,
                "stop": cfg.STOP_BUTTON, "send": cfg.SEND_BUTTON, "progress": cfg.PROGRESS,
                "overlay": cfg.OVERLAY_PANE, "pageError": cfg.PAGE_ERROR},
        "base": base,
        "last": last or "",
        "slice": int(slice_ms),
    }


def classify_error(cfg, text: str, strict: bool = True) -> None:
    """Map an error banner ("Something went wrong (1037)") to a DriverError.

    Page-level toasts are checked with strict=False: they also say harmless things
    ("Downloading full size…"), so only a recognised error raises.
    """
    match = cfg.rx("ERROR_CODE_PATTERN").search(text)
    code = int(match.group(1)) if match else None
    if code in cfg.QUOTA_ERROR_CODES:
        raise QuotaExhausted(f"Gemini reported its usage limit (error {code}).", until=reset_time(cfg, text))
    if code in cfg.RATE_LIMIT_ERROR_CODES:
        raise RateLimited(f"Gemini refused the request for now (error {code}).")
    classify_text(cfg, text, fallback=False)
    if strict or code is not None:
        raise UpstreamFailure(f"Gemini reported an error: {short(text)}", code="upstream_error")


def classify_text(cfg, text: str, fallback: bool = True) -> None:
    """Map a text answer with no image to the error it stands for (§1.5, §5.3)."""
    said = short(text)
    if cfg.matches("SIGN_IN_TEXT_PATTERNS", text):
        raise CredentialsRejected(f"Gemini asked to sign in: {said}")
    if cfg.matches("USAGE_LIMIT_PATTERNS", text):
        raise QuotaExhausted(f"Gemini's image limit for this account is reached: {said}",
                             until=reset_time(cfg, text))
    if cfg.matches("BUSY_PATTERNS", text):
        raise RateLimited(f"Gemini is busy: {said}")
    if cfg.matches("REGION_BLOCKED_PATTERNS", text):
        raise GenerationBlocked(f"Gemini will not create images for this account or region: {said}")
    if cfg.matches("UPLOAD_REJECTED_PATTERNS", text):
        raise UpstreamFailure(f"Gemini could not read the attached image: {said}", code="upload_failed")
    if cfg.matches("POLICY_PATTERNS", text):
        raise ContentPolicy(f"Gemini refused the prompt: {said}")
    if cfg.matches("NO_IMAGE_PLACEHOLDER_PATTERNS", text):
        raise UpstreamFailure("Gemini's answer announced an image but contained none.",
                              code="generation_failed")
    if fallback:
        err = UpstreamFailure(f"Gemini answered with text instead of an image: {said}",
                              code="no_image_returned")
        err.failover = False  # the prompt, not the account, decided this
        raise err


def reset_time(cfg, text: str):
    """When a usage limit ends, if the reply says (#262); None lets the runner use its default."""
    match = cfg.rx("RESET_IN_PATTERN").search(text)
    if not match:
        return None  # the runner then applies EXHAUSTED_DEFAULT_SECONDS
    amount = int(match.group(1))
    unit = timedelta(hours=1) if match.group(2).lower().startswith("h") else timedelta(minutes=1)
    return datetime.now(timezone.utc) + amount * unit


def short(text: str, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
