"""Tests for accounts.cookies (the credential parser) and accounts.discovery. Pure Python, no DB.

Every secret-looking value below contains "SECRET" so a single substring check proves that no
error message, summary or repr leaks a cookie value.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accounts.cookies import (
    CookieParseError,
    Credentials,
    MAX_EXPIRES,
    parse_credentials,
    parse_credentials_file,
)
from accounts.discovery import AccountDiscoveryError, discover_account_files, scan_accounts

NOW = 1_800_000_000.0  # 2027-01-15, fixed so expiry checks do not depend on the clock
FUTURE = NOW + 365 * 86400
PAST = NOW - 3600
MARK = "SECRET"
PSID = "g.a000SECRETpsidvalue0123456789"
PSIDTS = "sidts-SECRETtimestamp"
SID = "5ecret0SECRET0123456789abcdef0aa"  # plausible 32-char sessionid containing the marker
SID2 = "0000SECRET1111222233334444555566"


def parse(text, **kw):
    kw.setdefault("now", NOW)
    return parse_credentials(text, **kw)


def rejected(text, fault_part, *, source="<pasted text>", line=None, **kw) -> CookieParseError:
    """Parse, expect a rejection, and check its user-facing contract."""
    if "source" not in kw and source != "<pasted text>":
        kw["source"] = source
    with pytest.raises(CookieParseError) as info:
        parse(text, **kw)
    err = info.value
    message = str(err)
    prefix = f"{source} line {line}: " if line is not None else f"{source}: "
    assert message.startswith(prefix), message
    assert err.source == source and err.line == line
    assert fault_part.lower() in message.lower(), message
    assert MARK not in message, f"a cookie value leaked into: {message}"
    assert MARK not in err.fault
    return err


def by_name(creds: Credentials, name: str, domain: str | None = None) -> dict:
    matches = [c for c in creds.cookies if c["name"] == name and (domain is None or c["domain"] == domain)]
    assert len(matches) == 1, matches
    return matches[0]


def assert_playwright_shape(creds: Credentials) -> None:
    for c in creds.cookies:
        assert set(c) == {"name", "value", "domain", "path", "expires", "httpOnly", "secure", "sameSite"}
        assert c["domain"] and c["path"], c  # Playwright needs url or domain+path
        assert c["sameSite"] in ("Lax", "None", "Strict")
        assert c["expires"] == -1 or 0 < c["expires"] <= MAX_EXPIRES
        if c["sameSite"] == "None":
            assert c["secure"] is True
        assert isinstance(c["httpOnly"], bool) and isinstance(c["secure"], bool)


def assert_no_values_in_summary(creds: Credentials) -> None:
    assert MARK not in json.dumps(creds.summary())
    assert MARK not in repr(creds)


# ---------------------------------------------------------------------------------------------
# Fixtures (inline strings)

COOKIE_EDITOR_GEMINI = [
    {"domain": ".google.com", "expirationDate": FUTURE, "hostOnly": False, "httpOnly": True,
     "name": "__Secure-1PSID", "path": "/", "sameSite": "no_restriction", "secure": True,
     "session": False, "storeId": "0", "value": PSID},
    {"domain": ".google.com", "expirationDate": FUTURE - 100, "hostOnly": False, "httpOnly": True,
     "name": "__Secure-1PSIDTS", "path": "/", "sameSite": "unspecified", "secure": True,
     "session": False, "storeId": "0", "value": PSIDTS},
    {"domain": "gemini.google.com", "hostOnly": True, "httpOnly": False, "name": "_gcl_SECRETish",
     "path": "/", "sameSite": "lax", "secure": False, "session": True, "storeId": "0", "value": "x" + MARK},
    {"domain": ".google.com.hk", "expirationDate": FUTURE, "hostOnly": False, "httpOnly": True,
     "name": "NID", "path": "/", "sameSite": "strict", "secure": True, "session": False, "value": "nid" + MARK},
    {"domain": ".youtube.com", "expirationDate": FUTURE, "hostOnly": False, "name": "VISITOR_INFO1_LIVE",
     "path": "/", "sameSite": None, "secure": True, "session": False, "value": "yt" + MARK},
]

EDIT_THIS_COOKIE_GEMINI = [
    {"domain": "google.com", "expirationDate": FUTURE, "hostOnly": False, "httpOnly": True,
     "name": "__Secure-1PSID", "path": "/", "sameSite": "None", "secure": False, "session": False,
     "storeId": "0", "value": PSID, "id": 1},
    {"domain": "accounts.google.com", "expirationDate": FUTURE, "hostOnly": True, "httpOnly": True,
     "name": "__Host-GAPS", "path": "/", "sameSite": "unspecified", "secure": True, "session": False,
     "storeId": "0", "value": "gaps" + MARK, "id": 2},
    {"domain": ".google.com", "hostOnly": False, "httpOnly": False, "name": "SIDCC",
     "path": "/", "sameSite": "weird_value", "secure": False, "session": True, "value": "cc" + MARK, "id": 3},
]

STORAGE_STATE_JIMENG = {
    "cookies": [
        {"name": "sessionid", "value": SID, "domain": ".jianying.com", "path": "/", "expires": FUTURE,
         "httpOnly": True, "secure": True, "sameSite": "None"},
        {"name": "sessionid_ss", "value": SID, "domain": ".jianying.com", "path": "/", "expires": FUTURE,
         "httpOnly": True, "secure": True, "sameSite": "None"},
        {"name": "_tea_web_id", "value": "tea" + MARK, "domain": "jimeng.jianying.com", "path": "/",
         "expires": -1, "httpOnly": False, "secure": False, "sameSite": "Lax"},
    ],
    "origins": [{"origin": "https://jimeng.jianying.com", "localStorage": [{"name": "k", "value": "v"}]}],
}

STORAGE_STATE_GEMINI = {
    "cookies": [
        {"name": "__Secure-1PSID", "value": PSID, "domain": ".google.com", "path": "/", "expires": FUTURE,
         "httpOnly": True, "secure": True, "sameSite": "Lax"},
    ],
    "origins": [],
}

NETSCAPE_GEMINI = (
    "# Netscape HTTP Cookie File\r\n"
    "# https://curl.se/docs/http-cookies.html\r\n"
    "\r\n"
    f"#HttpOnly_.google.com\tTRUE\t/\tTRUE\t{int(FUTURE)}\t__Secure-1PSID\t{PSID}\r\n"
    f".google.com\tTRUE\t/\tTRUE\t{int(FUTURE)}\t__Secure-1PSIDTS\t{PSIDTS}\r\n"
    f"gemini.google.com\tFALSE\t/app\tFALSE\t0\tsession_pref\tp{MARK}\r\n"
    f".example.org\tTRUE\t/\tFALSE\t{int(FUTURE)}\tother\to{MARK}\r\n"
)

NETSCAPE_JIMENG_US = (
    "# Netscape HTTP Cookie File\n"
    f"#HttpOnly_dreamina-api.us.capcut.com\tFALSE\t/\tTRUE\t{int(FUTURE)}\tsessionid\t{SID}\n"
    f".capcut.com\tTRUE\t/\tTRUE\t{int(FUTURE)}\tsid_tt\t{SID}\n"
)


# ---------------------------------------------------------------------------------------------
# JSON exports


def test_cookie_editor_gemini_array():
    creds = parse(json.dumps(COOKIE_EDITOR_GEMINI))
    assert creds.provider == "gemini" and creds.region is None
    names = [c["name"] for c in creds.cookies]
    assert names == ["__Secure-1PSID", "__Secure-1PSIDTS", "_gcl_SECRETish", "NID"]  # youtube dropped
    psid = by_name(creds, "__Secure-1PSID")
    assert psid == {"name": "__Secure-1PSID", "value": PSID, "domain": ".google.com", "path": "/",
                    "expires": FUTURE, "httpOnly": True, "secure": True, "sameSite": "None"}
    assert by_name(creds, "__Secure-1PSIDTS")["sameSite"] == "Lax"  # unspecified
    session = by_name(creds, "_gcl_SECRETish")
    assert session["expires"] == -1 and session["domain"] == "gemini.google.com" and session["sameSite"] == "Lax"
    assert by_name(creds, "NID")["sameSite"] == "Strict"
    assert by_name(creds, "NID")["domain"] == ".google.com.hk"  # regional google domains are kept
    assert creds.sessionid() is None
    assert_playwright_shape(creds)


def test_edit_this_cookie_gemini_array():
    creds = parse(json.dumps(EDIT_THIS_COOKIE_GEMINI))
    psid = by_name(creds, "__Secure-1PSID")
    assert psid["domain"] == ".google.com"  # hostOnly false -> leading dot added
    assert psid["sameSite"] == "None" and psid["secure"] is True  # Chromium rejects None without Secure
    gaps = by_name(creds, "__Host-GAPS")
    assert gaps["domain"] == "accounts.google.com" and gaps["path"] == "/" and gaps["secure"] is True
    sidcc = by_name(creds, "SIDCC")
    assert sidcc["sameSite"] == "Lax" and sidcc["expires"] == -1  # unknown spelling, session cookie
    assert_playwright_shape(creds)


def test_gemini_json_with_provider_given_keeps_only_google():
    creds = parse(json.dumps(COOKIE_EDITOR_GEMINI), provider="gemini")
    assert all("google" in c["domain"] for c in creds.cookies)


def test_jimeng_cookie_editor_array_detects_cn():
    data = [
        {"domain": ".jianying.com", "expirationDate": FUTURE, "hostOnly": False, "httpOnly": True,
         "name": "sessionid", "path": "/", "sameSite": "no_restriction", "secure": True, "value": SID},
        {"domain": ".google.com", "expirationDate": FUTURE, "name": "NID", "path": "/", "value": "n" + MARK},
    ]
    creds = parse(json.dumps(data))
    assert (creds.provider, creds.region) == ("jimeng", "cn")
    assert creds.sessionid() == SID and creds.token() == SID
    assert [c["name"] for c in creds.cookies] == ["sessionid"]


def test_playwright_storage_state_jimeng():
    creds = parse(json.dumps(STORAGE_STATE_JIMENG))
    assert (creds.provider, creds.region) == ("jimeng", "cn")
    assert creds.sessionid() == SID
    tea = by_name(creds, "_tea_web_id")
    assert tea["domain"] == "jimeng.jianying.com" and tea["expires"] == -1
    assert_playwright_shape(creds)
    assert creds.storage_state()["cookies"][0]["name"] == "sessionid"


def test_playwright_storage_state_gemini():
    creds = parse(json.dumps(STORAGE_STATE_GEMINI), provider="gemini")
    assert by_name(creds, "__Secure-1PSID")["value"] == PSID


def test_json_object_with_cookies_header_string_and_name_value_map():
    creds = parse(json.dumps({"cookies": f"__Secure-1PSID={PSID}; __Secure-1PSIDTS={PSIDTS}"}))
    assert creds.provider == "gemini" and by_name(creds, "__Secure-1PSID")["domain"] == ".google.com"
    creds = parse(json.dumps({"__Secure-1PSID": PSID, "__Secure-1PSIDTS": PSIDTS}))
    assert creds.provider == "gemini" and len(creds.cookies) == 2
    creds = parse(json.dumps({"cookies": {"sessionid": SID}}))
    assert (creds.provider, creds.region, creds.sessionid()) == ("jimeng", "cn", SID)


def test_single_cookie_object_and_url_field():
    creds = parse(json.dumps({"name": "sessionid", "value": SID, "url": "https://dreamina.capcut.com/ai-tool"}),
                  region="jp")
    cookie = by_name(creds, "sessionid")
    assert cookie["domain"] == "dreamina.capcut.com" and creds.region == "jp"


# ---------------------------------------------------------------------------------------------
# Netscape cookies.txt


def test_netscape_gemini_with_httponly_comments_blank_lines_and_crlf():
    creds = parse(NETSCAPE_GEMINI)
    assert creds.provider == "gemini"
    psid = by_name(creds, "__Secure-1PSID")
    assert psid["httpOnly"] is True and psid["domain"] == ".google.com" and psid["expires"] == FUTURE
    assert psid["value"] == PSID  # no trailing \r
    ts = by_name(creds, "__Secure-1PSIDTS")
    assert ts["httpOnly"] is False and ts["sameSite"] == "Lax"
    pref = by_name(creds, "session_pref")
    assert pref["domain"] == "gemini.google.com" and pref["path"] == "/app" and pref["expires"] == -1
    assert all(c["domain"] != ".example.org" for c in creds.cookies)
    assert_playwright_shape(creds)


def test_netscape_jimeng_us_region_from_host():
    creds = parse(NETSCAPE_JIMENG_US)
    assert (creds.provider, creds.region) == ("jimeng", "us")
    assert creds.token() == f"us-{SID}"
    assert by_name(creds, "sessionid")["domain"] == "dreamina-api.us.capcut.com"


def test_netscape_empty_value_with_stripped_trailing_tab():
    text = f".google.com\tTRUE\t/\tTRUE\t{int(FUTURE)}\t__Secure-1PSID\t{PSID}\n.google.com\tTRUE\t/\tFALSE\t0\tEMPTY\n"
    creds = parse(text)
    assert by_name(creds, "EMPTY")["value"] == ""


# ---------------------------------------------------------------------------------------------
# Raw Cookie header and bare tokens


@pytest.mark.parametrize("prefix", ["", "Cookie: ", "cookie:"])
def test_raw_header_gemini(prefix):
    creds = parse(f"{prefix}__Secure-1PSID={PSID}; __Secure-1PSIDTS={PSIDTS}; __Host-X=y{MARK}=pad")
    assert creds.provider == "gemini"
    assert by_name(creds, "__Secure-1PSID")["domain"] == ".google.com"
    assert by_name(creds, "__Secure-1PSID")["secure"] is True
    host = by_name(creds, "__Host-X")
    assert host["domain"] == "google.com" and host["value"] == f"y{MARK}=pad"  # '=' inside a value
    assert_playwright_shape(creds)


def test_raw_header_jimeng_defaults_to_cn_and_honours_region():
    creds = parse(f"sessionid={SID}; sid_tt={SID}")
    assert (creds.provider, creds.region) == ("jimeng", "cn")
    assert by_name(creds, "sessionid")["domain"] == ".jianying.com"
    creds = parse(f"sessionid={SID}", region="sg")
    assert creds.region == "sg" and by_name(creds, "sessionid")["domain"] == ".capcut.com"
    creds = parse(f"sessionid={SID}; store-country-code=hk")  # the site's own region cookie
    assert creds.region == "hk"


def test_raw_header_with_provider_keeps_everything_on_main_domain():
    creds = parse(f"__Secure-1PSID={PSID}; OTHER=1", provider="gemini")
    assert {c["domain"] for c in creds.cookies} == {".google.com"}


@pytest.mark.parametrize(
    "token, region, host",
    [
        (SID, "cn", ".jianying.com"),
        (f"us-{SID}", "us", ".capcut.com"),
        (f"HK-{SID}", "hk", ".capcut.com"),  # prefix is case-insensitive
        (f"jp-{SID}", "jp", ".capcut.com"),
        (f"sg-{SID}", "sg", ".capcut.com"),
        (f"  Bearer us-{SID}\n", "us", ".capcut.com"),
        (f'"sg-{SID}"', "sg", ".capcut.com"),
    ],
)
def test_bare_token_regions(token, region, host):
    creds = parse(token)
    assert (creds.provider, creds.region) == ("jimeng", region)
    assert creds.sessionid() == SID  # prefix stripped
    assert {c["name"] for c in creds.cookies} == {"sessionid", "sessionid_ss", "sid_tt"}
    assert {c["domain"] for c in creds.cookies} == {host}
    assert_playwright_shape(creds)
    assert_no_values_in_summary(creds)


def test_bare_token_with_provider_and_region():
    assert parse(SID, provider="jimeng", region="us").region == "us"  # no prefix: requested region
    assert parse(f"us-{SID}", provider="jimeng", region="us").region == "us"


# ---------------------------------------------------------------------------------------------
# Normalisation details


@pytest.mark.parametrize(
    "raw, expected",
    [("no_restriction", "None"), ("None", "None"), ("none", "None"), ("unspecified", "Lax"),
     ("lax", "Lax"), ("Lax", "Lax"), ("strict", "Strict"), ("Strict", "Strict"), (None, "Lax"),
     ("", "Lax"), ("bogus", "Lax")],
)
def test_same_site_spellings(raw, expected):
    cookie = dict(COOKIE_EDITOR_GEMINI[0], sameSite=raw, secure=False)
    result = by_name(parse(json.dumps([cookie])), "__Secure-1PSID")
    assert result["sameSite"] == expected


def test_same_site_none_forces_secure_on_plain_cookie():
    plain = {"domain": ".google.com", "name": "NID", "value": "v", "sameSite": "no_restriction",
             "secure": False, "session": True}
    cookies = [COOKIE_EDITOR_GEMINI[0], plain]
    assert by_name(parse(json.dumps(cookies)), "NID")["secure"] is True


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"expirationDate": FUTURE + 0.5}, FUTURE + 0.5),
        ({"expirationDate": FUTURE * 1000}, FUTURE),  # milliseconds
        ({"expires": -1}, -1),
        ({"expires": 0}, -1),
        ({"expiry": int(FUTURE)}, FUTURE),  # Selenium spelling
        ({"expirationDate": str(int(FUTURE))}, FUTURE),
        ({"expirationDate": FUTURE, "session": True}, -1),  # session flag wins
        ({}, -1),
        ({"expirationDate": 9e14}, MAX_EXPIRES),  # beyond Playwright's limit even as ms -> clamped
    ],
)
def test_expiry_normalisation(fields, expected):
    cookie = {"domain": ".google.com", "name": "__Secure-1PSID", "value": PSID, **fields}
    assert by_name(parse(json.dumps([cookie])), "__Secure-1PSID")["expires"] == expected


@pytest.mark.parametrize(
    "domain, host_only, expected",
    [
        (".google.com", None, ".google.com"),
        ("google.com", None, "google.com"),
        (".gemini.google.com", True, "gemini.google.com"),  # hostOnly keeps no leading dot
        ("google.com", False, ".google.com"),
        ("Google.COM.", None, "google.com"),
    ],
)
def test_domain_normalisation(domain, host_only, expected):
    cookie = {"domain": domain, "name": "__Secure-1PSID", "value": PSID}
    if host_only is not None:
        cookie["hostOnly"] = host_only
    assert by_name(parse(json.dumps([cookie])), "__Secure-1PSID")["domain"] == expected


def test_expired_cookies_are_dropped_but_live_ones_kept():
    cookies = [COOKIE_EDITOR_GEMINI[0], dict(COOKIE_EDITOR_GEMINI[1], expirationDate=PAST)]
    creds = parse(json.dumps(cookies))
    assert [c["name"] for c in creds.cookies] == ["__Secure-1PSID"]


def test_bom_bytes_crlf_and_utf16():
    text = json.dumps(COOKIE_EDITOR_GEMINI)
    assert parse(("\ufeff" + text).encode("utf-8")).provider == "gemini"
    assert parse("\ufeff" + text).provider == "gemini"
    assert parse(text.encode("utf-16")).provider == "gemini"
    assert parse(("\ufeff" + NETSCAPE_GEMINI).encode()).provider == "gemini"


def test_duplicate_cookie_keeps_first():
    creds = parse(json.dumps([COOKIE_EDITOR_GEMINI[0], dict(COOKIE_EDITOR_GEMINI[0], value="other" + MARK)]))
    assert len(creds.cookies) == 1 and creds.cookies[0]["value"] == PSID


# ---------------------------------------------------------------------------------------------
# Credentials API


def test_to_json_round_trip_through_real_json():
    for creds in (parse(json.dumps(COOKIE_EDITOR_GEMINI)), parse(f"jp-{SID}"), parse(NETSCAPE_JIMENG_US)):
        stored = json.loads(json.dumps(creds.to_json()))
        again = Credentials.from_json(stored)
        assert again == creds
        assert again.to_json() == creds.to_json()


@pytest.mark.parametrize(
    "broken",
    [
        "not a dict",
        {"provider": "gemini", "region": None, "cookies": []},
        {"provider": "other", "region": None, "cookies": [{"name": "a"}]},
        {"version": 2, "provider": "gemini", "cookies": []},
    ],
)
def test_from_json_rejects_broken_data(broken):
    with pytest.raises(CookieParseError) as info:
        Credentials.from_json(broken)
    assert str(info.value).startswith("<stored credentials>: ")


def test_from_json_rejects_bad_cookie_and_wrong_region_without_values():
    good = parse(f"us-{SID}").to_json()
    bad_cookie = json.loads(json.dumps(good))
    bad_cookie["cookies"][0]["sameSite"] = "no_restriction"
    bad_region = dict(good, region="xx")
    for data in (bad_cookie, bad_region):
        with pytest.raises(CookieParseError) as info:
            Credentials.from_json(data)
        assert MARK not in str(info.value)


def test_credentials_are_isolated_from_caller_dicts():
    creds = parse(json.dumps(STORAGE_STATE_GEMINI))
    creds.to_json()["cookies"][0]["value"] = "changed"
    creds.storage_state()["cookies"][0]["value"] = "changed"
    assert creds.cookies[0]["value"] == PSID


def test_summary_has_shape_but_no_values():
    creds = parse(json.dumps(COOKIE_EDITOR_GEMINI))
    summary = creds.summary()
    assert summary == {
        "provider": "gemini",
        "region": None,
        "cookie_names": sorted(["__Secure-1PSID", "__Secure-1PSIDTS", "_gcl_SECRETish", "NID"]),
        "domains": [".google.com", ".google.com.hk", "gemini.google.com"],
        "soonest_expiry": "2028-01-15T07:58:20Z",  # FUTURE - 100 s (the 1PSIDTS)
        "count": 4,
    }
    # Cookie names are shown; none of the fixture's values may appear.
    dumped = json.dumps(summary) + repr(creds)
    for c in creds.cookies:
        assert c["value"] not in dumped
    jimeng = parse(f"sg-{SID}")
    assert jimeng.summary()["soonest_expiry"] is None and jimeng.summary()["region"] == "sg"
    assert_no_values_in_summary(jimeng)


def test_cookie_header_for_all_and_per_host():
    cookies = [
        {"domain": ".google.com.hk", "name": "__Secure-1PSID", "value": "hk" + MARK},
        {"domain": ".google.com", "name": "__Secure-1PSID", "value": PSID},
        {"domain": ".google.com", "name": "__Secure-1PSIDTS", "value": PSIDTS},
        {"domain": "accounts.google.com", "hostOnly": True, "name": "ACC", "value": "acc"},
        {"domain": ".gemini.google.com", "name": "NID", "value": "sub"},
        {"domain": ".google.com", "name": "NID", "value": "root"},
    ]
    creds = parse(json.dumps(cookies))
    # No host: main domain (google.com) over regional, root over subdomain.
    assert creds.cookie_header() == f"__Secure-1PSID={PSID}; __Secure-1PSIDTS={PSIDTS}; ACC=acc; NID=root"
    # Host: what a browser sends there, most specific domain first.
    assert creds.cookie_header("gemini.google.com") == f"__Secure-1PSID={PSID}; __Secure-1PSIDTS={PSIDTS}; NID=sub"
    assert creds.cookie_header("https://accounts.google.com/RotateCookies") == (
        f"__Secure-1PSID={PSID}; __Secure-1PSIDTS={PSIDTS}; ACC=acc; NID=root"
    )
    assert creds.cookie_header("www.google.com.hk") == f"__Secure-1PSID=hk{MARK}"
    assert creds.cookie_header("example.org") == ""


def test_cookie_header_jimeng_token():
    creds = parse(f"us-{SID}")
    assert creds.cookie_header("dreamina-api.us.capcut.com") == f"sessionid={SID}; sessionid_ss={SID}; sid_tt={SID}"


def test_constructor_checks_shape():
    with pytest.raises(ValueError):
        Credentials(provider="jimeng", region=None, cookies=())
    with pytest.raises(ValueError):
        Credentials(provider="gemini", region="us", cookies=())


# ---------------------------------------------------------------------------------------------
# Rejections: each names the source, the line where one applies, and never a value


@pytest.mark.parametrize("empty", ["", "   \n\t ", "\ufeff", b"", b"\xef\xbb\xbf\r\n"])
def test_reject_empty(empty):
    rejected(empty, "is empty", source="cookies.txt")


def test_reject_invalid_json_with_line():
    text = '[\n  {"name": "__Secure-1PSID", "value": "' + PSID + '"}\n  {"name": "x"}\n]'
    err = rejected(text, "not valid JSON", source="cookies.json", line=3)
    assert "column" in str(err)


def test_reject_malformed_netscape_line_with_number():
    text = (
        "# Netscape HTTP Cookie File\n\n"
        f".google.com\tTRUE\t/\tTRUE\t{int(FUTURE)}\t__Secure-1PSID\t{PSID}\n"
        f".google.com\tTRUE\t/\tTRUE\n"
    )
    rejected(text, "expected 7 tab-separated fields", source="acct/cookies.txt", line=4)


@pytest.mark.parametrize(
    "line, fault",
    [
        (f".google.com\tYES\t/\tTRUE\t{int(FUTURE)}\tN\tv{MARK}", "TRUE or FALSE"),
        (f".google.com\tTRUE\t/\tTRUE\tsoon\tN\tv{MARK}", "expiry field is not a number"),
        (f".google.com\tTRUE\t/\tTRUE\t{int(FUTURE)}\t\tv{MARK}", "name is empty"),
        (f"bad host/\tTRUE\t/\tTRUE\t{int(FUTURE)}\tN\tv{MARK}", "not a host name"),
        (f".google.com\tTRUE\t/\tTRUE\t{int(FUTURE)}\tN\tv{MARK}\textra", "found 8"),
    ],
)
def test_reject_netscape_field_faults(line, fault):
    text = f"# Netscape HTTP Cookie File\r\n{line}\r\n"
    rejected(text, fault, source="cookies.txt", line=2)


def test_reject_no_cookie_for_provider_domains():
    err = rejected(json.dumps(STORAGE_STATE_JIMENG), "no cookie for Gemini", source="a.json", provider="gemini")
    assert "jianying.com" in str(err)  # says what it found instead
    rejected(NETSCAPE_GEMINI, "no cookie for Jimeng/Dreamina", provider="jimeng")
    only_other = [{"domain": ".example.org", "name": "a", "value": MARK}]
    rejected(json.dumps(only_other), "no cookie for Google (Gemini) or Jimeng/Dreamina")


def test_reject_required_cookie_missing():
    gemini = [dict(COOKIE_EDITOR_GEMINI[1])]
    rejected(json.dumps(gemini), "required __Secure-1PSID cookie is missing", source="cookies.json")
    jimeng = [{"domain": ".jianying.com", "name": "_tea_web_id", "value": "t" + MARK, "expirationDate": FUTURE}]
    rejected(json.dumps(jimeng), "required sessionid cookie is missing")
    rejected(f"NID=x{MARK}", "cannot tell the provider")
    rejected(f"NID=x{MARK}", "required __Secure-1PSID", provider="gemini")
    rejected("sessionid=; sid_tt=", "sessionid cookie is empty", provider="jimeng")


def test_reject_all_expired():
    cookies = [dict(c, expirationDate=PAST, session=False) for c in COOKIE_EDITOR_GEMINI[:2]]
    err = rejected(json.dumps(cookies), "have expired", source="cookies.json")
    assert "2027-01-15" in str(err)


def test_reject_required_cookie_expired():
    cookies = [dict(COOKIE_EDITOR_GEMINI[0], expirationDate=PAST), COOKIE_EDITOR_GEMINI[1]]
    rejected(json.dumps(cookies), "__Secure-1PSID cookie expired on 2027-01-15")


def test_expiry_uses_now_argument():
    cookies = [dict(COOKIE_EDITOR_GEMINI[0], expirationDate=NOW + 10)]
    assert parse(json.dumps(cookies), now=NOW).provider == "gemini"
    rejected(json.dumps(cookies), "have expired", now=NOW + 11)


@pytest.mark.parametrize(
    "token, fault",
    [
        (f"{SID} {SID2}", "contains spaces"),
        (f"{SID}\n{SID2}", "contains spaces"),
        ("=" + SID, "contains '=' or ';'"),
        (SID + ";", "contains '=' or ';'"),
        ("5ECRETabc", "too short"),
        ("x" * 300, "too long"),
        ("SECRET!!abcdef0123456789", "characters a sessionid cannot contain"),
        ("us-", "empty after its region prefix"),
    ],
)
def test_reject_implausible_token(token, fault):
    rejected(token, fault, source="<pasted text>")


@pytest.mark.parametrize("prefix", ["xx", "eu", "cn", "US1"])
def test_reject_unknown_region_prefix(prefix):
    token = f"{prefix}-{SID}"
    if prefix == "US1":  # not a two-letter prefix: it is simply not a sessionid
        rejected(token, "does not look like a Jimeng sessionid")
        return
    err = rejected(token, f"unknown region prefix '{prefix}-'")
    if prefix == "cn":
        assert "CN tokens take no prefix" in str(err)


def test_reject_several_sessionids_and_proxy_tokens():
    rejected(f"{SID},us-{SID2}", "2 comma-separated tokens")
    rejected(f"Bearer {SID}, {SID2}, {SID}", "3 comma-separated tokens")
    rejected(f"http://user:pw@proxy:8080@us-{SID}", "proxy")
    rejected(f"socks5://127.0.0.1:1080@{SID}", "proxy")


def test_reject_token_for_gemini_and_region_conflicts():
    rejected(SID, "bare token is only accepted for Jimeng", provider="gemini")
    rejected(f"us-{SID}", "contradicts the requested region 'hk'", region="hk")
    rejected(NETSCAPE_JIMENG_US, "region 'cn' contradicts", region="cn")
    rejected(json.dumps(STORAGE_STATE_GEMINI), "Jimeng only", region="us")
    rejected(SID, "region must be one of", region="eu")
    rejected(SID, "unknown provider", provider="midjourney")


def test_reject_ambiguous_dreamina_region_and_mixed_sites():
    dreamina = [{"domain": ".capcut.com", "name": "sessionid", "value": SID, "expirationDate": FUTURE}]
    rejected(json.dumps(dreamina), "cannot tell the Dreamina region (hk, jp, sg, us)")
    assert parse(json.dumps(dreamina), region="us").region == "us"
    sg_host = [dict(dreamina[0], domain="mweb-api-sg.capcut.com")]
    rejected(json.dumps(sg_host), "cannot tell the Dreamina region (hk, jp, sg)")
    hinted = sg_host + [{"domain": ".capcut.com", "name": "store-country-code", "value": "jp"}]
    assert parse(json.dumps(hinted)).region == "jp"
    mixed = dreamina + [{"domain": ".jianying.com", "name": "sessionid", "value": SID}]
    rejected(json.dumps(mixed), "both Jimeng (CN) and Dreamina")


def test_reject_different_sessionids_and_both_providers():
    two = [{"domain": ".jianying.com", "name": "sessionid", "value": SID},
           {"domain": "jimeng.jianying.com", "name": "sessionid", "value": SID2}]
    rejected(json.dumps(two), "2 different sessionid cookies")
    rejected(f"sessionid={SID}; sessionid={SID2}", "different sessionid cookies")
    both = COOKIE_EDITOR_GEMINI[:1] + STORAGE_STATE_JIMENG["cookies"][:1]
    rejected(json.dumps(both), "both Gemini and Jimeng/Dreamina")
    assert parse(json.dumps(both), provider="jimeng").sessionid() == SID


@pytest.mark.parametrize(
    "payload, fault",
    [
        ([], "contains no cookies"),
        ({"origins": []}, "no 'cookies' list"),
        ({"cookies": 5}, "'cookies' must be a list"),
        (["x"], "cookie entry 1 is not an object"),
        ([{"value": MARK}], "cookie entry 1 has no name"),
        ([{"name": "a b", "value": MARK}], "characters a cookie name cannot contain"),
        ([{"name": "N", "value": {"x": MARK}, "domain": ".google.com"}], "value that is not text"),
        ([{"name": "N", "value": MARK, "domain": ".google.com", "expirationDate": "tomorrow"}],
         "'expirationDate' is not a number"),
        ([{"name": "N", "value": MARK, "domain": "not a host"}], "not a host name"),
        ({"cookies": {"N": 5}}, "must have a text value"),
    ],
)
def test_reject_bad_json_structure(payload, fault):
    rejected(json.dumps(payload), fault, source="export.json")


def test_reject_bad_header_pair_with_line_when_multiline():
    rejected(f"__Secure-1PSID={PSID}; {MARK}junk", "cookie pair 2 is not name=value")
    rejected(f"__Secure-1PSID={PSID};\nNID=1; ={MARK}", "cookie pair 2 is not name=value", line=2)
    rejected("Cookie:", "the Cookie header has no cookies")
    rejected(f"Cookie: {MARK}", "cookie pair 1 is not name=value")


def test_reject_non_utf8_bytes_with_line_and_oversize():
    data = b'[\n{"name": "a",\n"value": "\xff\xfe\xfa"}]'
    rejected(data, "not UTF-8", source="cookies.json", line=3)
    rejected("x" * (1024 * 1024 + 1), "too large", source="huge.json")


def test_no_value_in_any_message_for_a_mixed_bag_of_bad_inputs():
    # Broad sweep on top of the targeted tests: feed mangled variants that still carry secrets.
    base = json.dumps(COOKIE_EDITOR_GEMINI)
    variants = [base[:-5], base.replace('"name"', '"nome"'), NETSCAPE_GEMINI.replace("\t", " "),
                f"Cookie: {PSID}", f"us-{PSID}", PSID + " " + PSIDTS]
    for text in variants:
        with pytest.raises(CookieParseError) as info:
            parse(text)
        assert MARK not in str(info.value), str(info.value)


def test_parse_credentials_file_names_account_and_file(tmp_path):
    folder = tmp_path / "account-a"
    folder.mkdir()
    (folder / "cookies.txt").write_text(f"# Netscape HTTP Cookie File\n.google.com\tTRUE\t/\n", encoding="utf-8")
    with pytest.raises(CookieParseError) as info:
        parse_credentials_file(folder / "cookies.txt", now=NOW)
    assert str(info.value).startswith("account-a/cookies.txt line 2: ")
    (tmp_path / "b.json").write_text(json.dumps(STORAGE_STATE_GEMINI), encoding="utf-8")
    assert parse_credentials_file(tmp_path / "b.json", now=NOW).provider == "gemini"
    with pytest.raises(CookieParseError) as info:
        parse_credentials_file(tmp_path / "missing.json")
    assert str(info.value).startswith("missing.json: cannot be read")


# ---------------------------------------------------------------------------------------------
# Discovery


def _write(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_discover_seed_layout(tmp_path):
    root = tmp_path / "accounts"
    _write(root / "account-b" / "cookies.txt")
    _write(root / "account-a" / "cookies.json")
    _write(root / "zeta.json")
    _write(root / "jimeng-us.txt")
    _write(root / "README.md")  # not an account file
    _write(root / ".hidden.json")
    _write(root / ".secret" / "cookies.json")
    (root / "empty-folder").mkdir()
    warnings: list[str] = []
    found = discover_account_files(root, warnings)
    assert found == [
        ("account-a", root / "account-a" / "cookies.json"),
        ("account-b", root / "account-b" / "cookies.txt"),
        ("jimeng-us", root / "jimeng-us.txt"),
        ("zeta", root / "zeta.json"),
    ]
    assert warnings == ["empty-folder/: skipped, it has no cookies.json or cookies.txt"]
    assert discover_account_files(str(root)) == found  # deterministic, str accepted


def test_discover_prefers_json_and_reports_it(tmp_path):
    _write(tmp_path / "acct" / "cookies.json")
    _write(tmp_path / "acct" / "cookies.txt")
    _write(tmp_path / "solo.txt")
    _write(tmp_path / "solo.json")
    _write(tmp_path / "acct.json")  # same name as the folder: the folder wins
    result = scan_accounts(tmp_path)
    assert result.accounts == [("acct", tmp_path / "acct" / "cookies.json"), ("solo", tmp_path / "solo.json")]
    assert "acct/: both cookies.json and cookies.txt exist; using cookies.json" in result.notes
    assert "acct: acct.json ignored, acct/cookies.json is used for this account" in result.notes
    assert "solo: solo.txt ignored, solo.json is used for this account" in result.notes


def test_discover_single_file(tmp_path):
    named = _write(tmp_path / "my-account.json")
    assert discover_account_files(named) == [("my-account", named)]
    inner = _write(tmp_path / "account-x" / "cookies.txt")
    assert discover_account_files(inner) == [("account-x", inner)]


def test_discover_missing_and_empty(tmp_path):
    with pytest.raises(AccountDiscoveryError, match="no such file or directory"):
        discover_account_files(tmp_path / "nope")
    with pytest.raises(AccountDiscoveryError, match="no account files found"):
        discover_account_files(tmp_path)
    _write(tmp_path / "notes.md")
    (tmp_path / "folder").mkdir()
    with pytest.raises(AccountDiscoveryError, match="folder/: skipped"):
        discover_account_files(tmp_path)


def test_discovered_files_parse(tmp_path):
    _write(tmp_path / "g" / "cookies.json", json.dumps(COOKIE_EDITOR_GEMINI))
    _write(tmp_path / "j.txt", f"sg-{SID}\n")
    parsed = {name: parse_credentials_file(path, now=NOW) for name, path in discover_account_files(tmp_path)}
    assert parsed["g"].provider == "gemini"
    assert (parsed["j"].provider, parsed["j"].region) == ("jimeng", "sg")
