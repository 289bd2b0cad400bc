"""Wire-level constants of the Jimeng / Dreamina web API (see docs/fakes/jimeng.md).

Everything here is data taken from the protocol reference; the fake and its tests
both import it so that a value is written down exactly once.
"""

from __future__ import annotations

import hashlib

# --- sites -----------------------------------------------------------------

AID_CN = 513695
AID_INTL = 513641

# site -> (aid, region query value, SigV4 region, ImageX service id)
SITES = {
    "cn": (AID_CN, "cn", "cn-north-1", "tb4s082cfz"),
    "us": (AID_INTL, "US", "us-east-1", "wopfjsm1ax"),
    "hk": (AID_INTL, "HK", "ap-southeast-1", "wopfjsm1ax"),
    "jp": (AID_INTL, "JP", "ap-southeast-1", "wopfjsm1ax"),
    "sg": (AID_INTL, "SG", "ap-southeast-1", "wopfjsm1ax"),
}
INTL_SITES = ("us", "hk", "jp", "sg")
# HK/JP/SG share the SG API host, which answers /passport/account/info/v2 with 404.
SG_HOST_SITES = ("hk", "jp", "sg")
VOD_SPACE = "dreamina"
VOD_SIGV4_REGION = "cn-north-1"
IMAGEX_VERSION = "2018-08-01"
VOD_VERSION = "2020-11-19"


def site_for(aid: str | int | None, region: str | None) -> str | None:
    """Site named by an (aid, region) pair, or None when they disagree."""
    region = (region or "").strip().lower()
    if str(aid) == str(AID_CN):
        return "cn" if region in ("", "cn") else None
    if str(aid) == str(AID_INTL):
        return region if region in INTL_SITES else None
    return None


def is_intl(site: str | None) -> bool:
    # "intl": an international call whose exact region is unknown (user_credit has no query)
    return site in INTL_SITES or site == "intl"


# --- Sign header (§2.5) ----------------------------------------------------

PLATFORM_CODE = "7"
VERSION_CODE = "8.4.0"
DA_VERSION = "3.3.9"
MIN_INTL_APPVR = "8.4.0"
MIN_INTL_DA_VERSION = "3.3.8"


def compute_sign(path: str, device_time: str | int, appvr: str = VERSION_CODE,
                 pf: str = PLATFORM_CODE) -> str:
    """The `Sign` header value for a request path (query string excluded)."""
    raw = f"9e2c|{path[-7:]}|{pf}|{appvr}|{device_time}||11ac"
    return hashlib.md5(raw.encode()).hexdigest()


def version_tuple(value: str | None) -> tuple[int, ...]:
    """'3.3.20' -> (3, 3, 20); unparsable parts count as 0 so bad input sorts low."""
    parts = []
    for piece in str(value or "").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts) or (0,)


def version_at_least(value: str | None, minimum: str) -> bool:
    return version_tuple(value) >= version_tuple(minimum)


# --- upstream ret codes (§8.1) ---------------------------------------------

RET_OK = "0"
RET_MESSAGES = {
    "0": "success",
    "1000": "invalid parameter",
    "1006": "积分不足",
    "5000": "积分不足",
    "5001": "credit prededuct failed",
    "1014": "system busy",
    "1015": "check login error",
    "34010105": "login error",
    "34010100": "param error",
    "3018": "permission denied",
    "3000": "region not allow",
    "1019": "shark not pass",
    "-4": "shark check reject",
    "4013": "疑似存在异常行为",
    "2003": "risk not pass",
    "4001": "content violation",
    "4002": "param error",
    "5002": "video generation failed",
}
INSUFFICIENT_CREDITS_STARLING_KEY = "web_dre_m10n_generate_popup_credit_ininsufficient_title"

# --- history status machine (§6.1) ------------------------------------------

STATUS_QUEUED = 20
STATUS_PROCESSING = 42
STATUS_FINALIZING = 45
STATUS_DONE = 50
STATUS_FAILED = 30

FAIL_CONTENT = "2038"
FAIL_CONTENT_SEEDANCE_FAST = "2047"
FAIL_GENERIC = "1017"

# Fractions of a job's generation time at which its status moves on.
PHASE_PROCESSING_AT = 0.15
PHASE_FINALIZING_AT = 0.40

GENERATE_TYPE_TEXT2IMG = 1
GENERATE_TYPE_BLEND = 12
GENERATE_TYPE_VIDEO = 10  # not observed upstream; any stable value will do

# --- image models (§5.1) -----------------------------------------------------

_CN, _US, _ASIA = ("cn",), ("us",), ("hk", "jp", "sg")
_ALL = _CN + _US + _ASIA

# model_req_key -> (display name, sites)
IMAGE_MODELS = {
    "high_aes_general_v50": ("图片 5.0 Lite", _CN + _ASIA),
    "high_aes_general_v43": ("图片 4.7", _CN),
    "high_aes_general_v42": ("图片 4.6", _CN + _ASIA),
    "high_aes_general_v40l": ("图片 4.5", _ALL),
    "high_aes_general_v41": ("图片 4.1", _ALL),
    "high_aes_general_v40": ("图片 4.0", _ALL),
    "high_aes_general_v30l_art_fangzhou:general_v3.0_18b": ("图片 3.1", _CN),
    "high_aes_general_v30l:general_v3.0_18b": ("图片 3.0", _ALL),
    "high_aes_general_v21_L:general_v2.1_L": ("图片 2.1", _CN),
    "high_aes_general_v20_L:general_v2.0_L": ("图片 2.0 Pro", _CN),
    "high_aes_general_v20:general_v2.0": ("图片 2.0", _CN),
    "high_aes_general_v14:general_v1.4": ("图片 1.4", _CN),
    "text2img_xl_sft": ("图片 XL Pro", _CN),
    "external_model_gemini_flash_image_v25": ("Nano Banana", _US + _ASIA),
    "dreamina_image_lib_1": ("Nano Banana Pro", _US + _ASIA),
}

# --- video models (§5.2) and their benefit types (§9, §4.5) ------------------

_SEEDANCE_20_PRO = (
    "dreamina_video_seedance_20_pro",
    "dreamina_video_seedance_20_video_add",
    "seedance_20_pro_720p_output",
    "seedance_20_pro_1080p_output",
    "seedance_20_pro_4k_output",
)
_VGFM = ("basic_video_operation_vgfm_v_three",)

# model_req_key -> (display name, sites, accepted benefit types)
VIDEO_MODELS = {
    "dreamina_seedance_40_pro": ("Seedance 2.0", _CN, _SEEDANCE_20_PRO),
    "dreamina_seedance_40": (
        "Seedance 2.0 Fast", _CN,
        ("dreamina_seedance_20_fast", "dreamina_seedance_20_fast_with_video"),
    ),
    "dreamina_seedance_40_pro_vision": ("Seedance 2.0 VIP", _CN, _SEEDANCE_20_PRO),
    "dreamina_seedance_40_vision": (
        "Seedance 2.0 Fast VIP", _CN,
        ("seedance_20_fast_720p_output", "dreamina_seedance_20_fast"),
    ),
    "dreamina_seedance_40_mini": ("Seedance 2.0 Mini", _CN, ("seedance_20_mini_720p_output",)),
    "dreamina_ic_generate_video_model_vgfm_3.5_pro": (
        "视频 3.5 Pro", _ALL, ("dreamina_video_seedance_15_pro",),
    ),
    "dreamina_ic_generate_video_model_vgfm_3.0_pro": (
        "视频 3.0 Pro", _CN + _ASIA, _VGFM + ("basic_video_operation_vgfm_v_three_pro",),
    ),
    "dreamina_ic_generate_video_model_vgfm_3.0": ("视频 3.0", _ALL, _VGFM),
    "dreamina_ic_generate_video_model_vgfm_3.0_fast": (
        "视频 3.0 Fast", _CN + _ASIA, _VGFM + ("basic_video_operation_vgfm_v_three_1080",),
    ),
    "dreamina_ic_generate_video_model_vgfm_lite": ("视频 2.0", _CN + _ASIA, _VGFM),
    "dreamina_ic_generate_video_model_vgfm1.0": ("视频 2.0 Pro", _CN + _ASIA, _VGFM),
    "dreamina_veo3_generate_video": ("Veo 3", _ASIA, ("generate_video_veo3",)),
    "dreamina_veo3.1_generate_video": ("Veo 3.1", _ASIA, ("generate_video_veo3.1",)),
    "dreamina_sora2_generate_video": ("Sora 2", _ASIA, ("generate_video_sora2",)),
}


SEEDANCE_20_FAST = ("dreamina_seedance_40", "dreamina_seedance_40_vision")


def is_seedance_20(model_key: str) -> bool:
    """Seedance 2.0 generate calls sit behind the a_bogus anti-bot gate (§4.5, §12)."""
    return "seedance_40" in model_key


# --- image sizes ------------------------------------------------------------

# image_ratio codes for 1k/2k; 4k uses 100 + code (§5.3).
RATIO_CODES = {"1:1": 1, "3:4": 2, "16:9": 3, "4:3": 4, "9:16": 5, "2:3": 6, "3:2": 7, "21:9": 8}
CODE_RATIOS = {code: ratio for ratio, code in RATIO_CODES.items()}

# resolution_type -> ratio -> (width, height); the service README's table is authoritative.
IMAGE_SIZES = {
    "1k": {
        "1:1": (1328, 1328), "4:3": (1472, 1104), "3:4": (1104, 1472), "16:9": (1664, 936),
        "9:16": (936, 1664), "3:2": (1584, 1056), "2:3": (1056, 1584), "21:9": (2016, 864),
    },
    "2k": {
        "1:1": (2048, 2048), "4:3": (2304, 1728), "3:4": (1728, 2304), "16:9": (2560, 1440),
        "9:16": (1440, 2560), "3:2": (2496, 1664), "2:3": (1664, 2496), "21:9": (3024, 1296),
    },
    "4k": {
        "1:1": (4096, 4096), "4:3": (4608, 3456), "3:4": (3456, 4608), "16:9": (5120, 2880),
        "9:16": (2880, 5120), "3:2": (4992, 3328), "2:3": (3328, 4992), "21:9": (6048, 2592),
    },
}
MAX_IMAGE_SIDE = 8192
DEFAULT_IMAGE_COUNT = 4


def ratio_for_code(code) -> str | None:
    try:
        code = int(code)
    except (TypeError, ValueError):
        return None
    return CODE_RATIOS.get(code if code < 100 else code - 100)


def table_size(resolution_type: str | None, ratio: str | None) -> tuple[int, int]:
    by_ratio = IMAGE_SIZES.get((resolution_type or "2k").lower(), IMAGE_SIZES["2k"])
    return by_ratio.get(ratio or "1:1", by_ratio["1:1"])


# --- video ------------------------------------------------------------------

VIDEO_RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16", "21:9")
# Stand-in MP4 frame sizes (HQ "origin" file); the preview file is half of each side.
VIDEO_FRAME_SIZES = {
    "16:9": (256, 144), "9:16": (144, 256), "1:1": (192, 192),
    "4:3": (224, 168), "3:4": (168, 224), "21:9": (336, 144),
}
VIDEO_FRAMES = 12
VIDEO_FPS = 8


def nearest_video_ratio(width: int, height: int) -> str:
    aspect = width / height if height else 1.0

    def distance(ratio: str) -> float:
        w, h = (int(x) for x in ratio.split(":"))
        return abs(w / h - aspect)

    return min(VIDEO_RATIOS, key=distance)


# --- upload flow ------------------------------------------------------------

UPLOAD_OK_CODE = 2000
URI_STATUS_OK = 2000

# ImageX/VOD OpenAPI errors: (Code, CodeN). The first two are documented; the
# parameter error is the fake's own choice (the reference names none).
OPENAPI_AUTH_ERROR = ("InvalidAuthorization", 100024)
OPENAPI_TOKEN_ERROR = ("InvalidToken", 30406)
OPENAPI_PARAM_ERROR = ("InvalidParameter", 100009)
URI_STATUS_FAILED = 2001

# Upload-host `code` values besides 2000: the fake's own choices (undocumented upstream).
UPLOAD_FAILED_CODE = 4000
UPLOAD_CRC_CODE = 4003
UPLOAD_NOT_FOUND_CODE = 4004
UPLOAD_AUTH_CODE = 4010
