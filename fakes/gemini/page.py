"""HTML of the fake app page and of the small Google pages around it.

The app page is one self-contained document: CSS and JS are inlined from
``static/`` so nothing is fetched from elsewhere (the test machines are offline).
"""

from __future__ import annotations

import html
import json
import re
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent

TOOLS = ["Deep Research", "Create video", "{image}", "Canvas", "Guided Learning"]
ASPECT_RATIOS = ["1:1", "16:9", "9:16", "4:3", "3:4"]


@lru_cache(maxsize=None)
def _asset(relative: str) -> str:
    return (HERE / relative).read_text(encoding="utf-8")


def _json_for_script(data) -> str:
    # "</" would end the <script> element early
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


def render_app(*, base: str, app_prefix: str, hl: str, signed_in: bool, sign_in_url: str,
               avatar_url: str | None, config_blob: dict | None, tool_label: str,
               overlays_on_load: list[str], overlays_enabled: list[str], upload_agreed: bool,
               conversation: list[dict], chat: list | None, recent: list[dict], control: str,
               hosts: dict, display_suffix: str) -> str:
    config = {
        "base": base,
        "app_prefix": app_prefix,
        "hl": hl,
        "signed_in": signed_in,
        "tool_label": tool_label,
        "tools": [t.replace("{image}", tool_label) for t in TOOLS],
        "aspect_ratios": ASPECT_RATIOS,
        "overlays": overlays_enabled,
        "overlays_on_load": overlays_on_load,
        "overlay_delay_ms": 400,
        "upload_agreed": upload_agreed,
        "conversation": conversation,
        "chat": chat,
        "recent": recent,
        "control": control,
        "hosts": hosts,
        "display_suffix": display_suffix,
    }
    if signed_in:
        account = (f'<a class="account-button" href="{html.escape(hosts["accounts"])}/SignOutOptions" '
                   f'aria-label="Google Account: Fake User (fake.user@example.com)">'
                   f'<img class="account-avatar gb_avatar" src="{html.escape(avatar_url or "")}" alt="Fake User"></a>')
    else:
        account = (f'<a class="sign-in-button" href="{html.escape(sign_in_url)}" aria-label="Sign in">'
                   f'<span>Sign in</span></a>')
    wiz = ""
    if config_blob is not None:
        wiz = f"<script>window.WIZ_global_data = {_json_for_script(config_blob)};</script>"
    replacements = {
        "{{LANG}}": html.escape(hl),
        "{{CSS}}": _asset("static/app.css"),
        "{{JS}}": _asset("static/app.js"),
        "{{WIZ_SCRIPT}}": wiz,
        "{{CONFIG_JSON}}": _json_for_script(config),
        "{{BODY_CLASS}}": "signed-in" if signed_in else "signed-out",
        "{{ACCOUNT_AREA}}": account,
        "{{APP_PREFIX}}": html.escape(app_prefix),
        "{{GREETING}}": "Hello, Fake" if signed_in else "Meet Gemini, your personal AI assistant",
        "{{TOOL_LABEL}}": html.escape(tool_label),
        "{{TOOL_DISABLED}}": "" if signed_in else 'disabled aria-disabled="true"',
    }
    # one pass, so text inserted for one placeholder is never scanned for another
    return re.sub(r"\{\{[A-Z_]+\}\}", lambda m: replacements.get(m.group(0), m.group(0)),
                  _asset("templates/app.html"))


def _simple_page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            '<style>body{font:15px sans-serif;max-width:460px;margin:10vh auto;padding:24px;'
            'border:1px solid #dadce0;border-radius:8px}input{display:block;width:100%;padding:10px;'
            'margin:8px 0}button{padding:8px 20px;margin-right:8px}.error{color:#b3261e}</style>'
            f"</head><body>{body}</body></html>")


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'


def render_identifier(action: str, continue_url: str, error: str = "") -> str:
    err = f'<div class="error" role="alert">{html.escape(error)}</div>' if error else ""
    return _simple_page("Sign in - Google Accounts", (
        '<h1 id="headingText">Sign in</h1><div>to continue to Gemini</div>'
        f'<form method="post" action="{html.escape(action)}">{_hidden("continue", continue_url)}'
        '<input type="email" id="identifierId" name="identifier" autocomplete="username" '
        'aria-label="Email or phone" required>'
        f'{err}<div id="identifierNext"><button type="submit">Next</button></div></form>'))


def render_password(action: str, continue_url: str, identifier: str, error: str = "") -> str:
    err = f'<div class="error" role="alert">{html.escape(error)}</div>' if error else ""
    return _simple_page("Sign in - Google Accounts", (
        f'<h1 id="headingText">Welcome</h1><div>{html.escape(identifier)}</div>'
        f'<form method="post" action="{html.escape(action)}">{_hidden("continue", continue_url)}'
        f'{_hidden("identifier", identifier)}'
        '<input type="password" name="Passwd" autocomplete="current-password" aria-label="Enter your password" required>'
        f'{err}<div id="passwordNext"><button type="submit">Next</button></div></form>'))


def render_consent(action: str, continue_url: str) -> str:
    return _simple_page("Before you continue to Google", (
        '<h1>Before you continue to Google</h1>'
        '<p>We use cookies and data to deliver and maintain Google services.</p>'
        f'<form method="post" action="{html.escape(action)}">{_hidden("continue", continue_url)}'
        '<button type="submit" name="set_eom" value="true" aria-label="Reject all">Reject all</button>'
        '<button type="submit" name="set_eom" value="false" aria-label="Accept all">Accept all</button>'
        '</form>'))


def render_sorry(continue_url: str) -> str:
    return _simple_page("Sorry...", (
        "<h1>Sorry...</h1><p>We're sorry, but your computer or network may be sending automated queries. "
        "To protect our users, we can't process your request right now.</p>"
        f'<p class="continue">{html.escape(continue_url)}</p>'))


def render_google_home() -> str:
    return _simple_page("Google", "<h1>Google</h1>")
