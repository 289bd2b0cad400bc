"""Every Jimeng / Dreamina protocol constant, as data (jimeng-protocol.md is the source).

Nothing here is an official contract: the upstream changes versions, hosts and codes without
notice. So each UPPERCASE name can be replaced at runtime by the Django setting (or environment
variable, as JSON) `JIMENG_OVERRIDES = {"NAME": value}`; code reads them through `config.get()`,
never by importing them directly. An override replaces the whole value (no deep merge), so a
table is restated in full when one row changes.
"""

# --- sites (§1) --------------------------------------------------------------------------------
# One entry per account region. `api` serves /mweb and /passport, `commerce` serves /commerce,
# `imagex` takes uploads, `web` is the browser origin used in Referer headers, `region_param` is the
# `region=` query value, `lan`/`loc` the headers of the same names.
SITES = {
    "cn": {
        "api": "https://jimeng.jianying.com",
        "commerce": "https://jimeng.jianying.com",
        "imagex": "https://imagex.bytedanceapi.com",
        "aws_region": "cn-north-1",
        "imagex_service_id": "tb4s082cfz",
        "aid": 513695,
        "region_param": "cn",
        "lan": "zh-Hans",
        "loc": "cn",
        "web": "https://jimeng.jianying.com",
    },
    "us": {
        "api": "https://dreamina-api.us.capcut.com",
        "commerce": "https://commerce.us.capcut.com",
        "imagex": "https://imagex16-normal-us-ttp.capcutapi.us",
        "aws_region": "us-east-1",
        "imagex_service_id": "wopfjsm1ax",
        "aid": 513641,
        "region_param": "US",
        "lan": "en",
        "loc": "us",
        "web": "https://dreamina.capcut.com",
    },
    "hk": {
        "api": "https://mweb-api-sg.capcut.com",
        "commerce": "https://commerce-api-sg.capcut.com",
        "imagex": "https://imagex-normal-sg.capcutapi.com",
        "aws_region": "ap-southeast-1",
        "imagex_service_id": "wopfjsm1ax",
        "aid": 513641,
        "region_param": "HK",
        "lan": "en",
        "loc": "hk",
        "web": "https://dreamina.capcut.com",
    },
    "jp": {
        "api": "https://mweb-api-sg.capcut.com",
        "commerce": "https://commerce-api-sg.capcut.com",
        "imagex": "https://imagex-normal-sg.capcutapi.com",
        "aws_region": "ap-southeast-1",
        "imagex_service_id": "wopfjsm1ax",
        "aid": 513641,
        "region_param": "JP",
        "lan": "ja",
        "loc": "jp",
        "web": "https://dreamina.capcut.com",
    },
    "sg": {
        "api": "https://mweb-api-sg.capcut.com",
        "commerce": "https://commerce-api-sg.capcut.com",
        "imagex": "https://imagex-normal-sg.capcutapi.com",
        "aws_region": "ap-southeast-1",
        "imagex_service_id": "wopfjsm1ax",
        "aid": 513641,
        "region_param": "SG",
        "lan": "en",
        "loc": "sg",
        "web": "https://dreamina.capcut.com",
    },
}
# Video reference uploads go here for every region (only CN is known to work, §1).
VOD_HOST = "https://vod.bytedanceapi.com"
VOD_SPACE_FALLBACK = "dreamina"

# --- client identity (§2.3–2.5) ------------------------------------------------------------------
APPVR = "8.4.0"              # Appvr header; older values trigger ret 3018 on Dreamina
PLATFORM_CODE = "7"          # Pf header, also part of Sign
APP_SDK_VERSION = "48.0.0"
SIGN_VERSION = "1"
SIGN_PREFIX = "9e2c"
SIGN_SUFFIX = "11ac"
SIGN_PATH_CHARS = 7          # Sign hashes the last 7 characters of the request path
DA_VERSION = "3.3.9"
WEB_VERSION = "7.5.0"
DEVICE_PLATFORM = "web"
OS_PARAM = "windows"
AIGC_FEATURES = "app_lip_sync"
# Further query parameters on every /mweb, /passport and credit_receive call, besides aid, region,
# webId, device_platform, da_version, os, web_version and aigc_features (each its own constant).
DEFAULT_QUERY_EXTRA = {"web_component_open_flag": "1"}
# Only the CN site gets `webId` (§2.4).
WEB_ID_REGIONS = ["cn"]
# Sent with every API call; Appid/Appvr/Pf/Sign/Device-Time/Lan/Loc/Origin/Referer are added per call.
BROWSER_HEADERS = {
    "Accept": "application/json, text/plain, */*",
    # The browser also offers br/zstd; requests cannot decode those without extra packages.
    "Accept-Encoding": "gzip, deflate",
    "Accept-Language": "zh-CN,zh;q=0.9",
    "Cache-Control": "no-cache",
    "Pragma": "no-cache",
    "Priority": "u=1, i",
    "Sec-Ch-Ua": '"Chromium";v="142", "Google Chrome";v="142", "Not_A Brand";v="99"',
    "Sec-Ch-Ua-Mobile": "?0",
    "Sec-Ch-Ua-Platform": '"Windows"',
    "Sec-Fetch-Dest": "empty",
    "Sec-Fetch-Mode": "cors",
    "Sec-Fetch-Site": "same-origin",
    "User-Agent": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                   "Chrome/142.0.0.0 Safari/537.36"),
    "Tdid": "",
}
# The cookie's sid_guard carries a stale fixed expiry date that upstream evidently ignores (§2.2).
SID_GUARD_LIFETIME = 5184000
SID_GUARD_EXPIRY = "Mon, 03-Feb-2025 08:17:09 GMT"

# --- paths (§4.0) ---------------------------------------------------------------------------------
PATH_GENERATE = "/mweb/v1/aigc_draft/generate"
PATH_HISTORY = "/mweb/v1/get_history_by_ids"
PATH_LOCAL_ITEMS = "/mweb/v1/get_local_item_list"
PATH_USER_CREDIT = "/commerce/v1/benefits/user_credit"
PATH_CREDIT_RECEIVE = "/commerce/v1/benefits/credit_receive"
PATH_ACCOUNT_INFO = "/passport/account/info/v2"
PATH_UPLOAD_TOKEN = "/mweb/v1/get_upload_token"
PATH_ALGO_PROXY = "/mweb/v1/algo_proxy"
PATH_UPLOAD = "/upload/v1/"
# Referer paths on the web origin (§2.3).
REFERER_IMAGE = "/ai-tool/generate?type=image"
REFERER_VIDEO = "/ai-tool/generate?type=video"
REFERER_CREDIT = {"cn": "/ai-tool/image/generate", "intl": "/"}
REFERER_CREDIT_RECEIVE = "/ai-tool/home"
CREDIT_RECEIVE_TIME_ZONE = "Asia/Shanghai"   # sent for international accounts too (§4.8)

# --- transport (§2.7) ---------------------------------------------------------------------------
HTTP_TIMEOUT = 45.0          # seconds per request, shortened to what the job's deadline leaves
HTTP_RETRIES = 3             # extra attempts for idempotent calls on network errors / HTTP >= 500
HTTP_RETRY_DELAY = 5.0
LOG_EXCERPT_CHARS = 1500     # of each request/response body kept in the upstream log
LOG_MAX_ENTRIES = 40         # exchanges kept per attempt: the first LOG_KEEP_FIRST and the latest
LOG_KEEP_FIRST = 10
DOWNLOAD_MAX_BYTES = 64 * 1024 * 1024

# --- draft payloads (§4.1, §4.2) ------------------------------------------------------------------
DRAFT_VERSION = "3.3.9"
DRAFT_MIN_VERSION = "3.0.2"
BLEND_MIN_VERSION = "3.2.9"
CREATED_PLATFORM = 3
BENEFIT_COUNT = 4
SEED_RANGE = [2_500_000_000, 2_600_000_000]
DEFAULT_SAMPLE_STRENGTH = 0.5
BLEND_PROMPT_PLACEHOLDER = "##"   # prefixed once per input image
BLEND_MAX_INPUTS = 10
MAX_IMAGES_PER_JOB = 4
# Models for which `intelligent_ratio` is honoured; we always send an explicit ratio anyway.
INTELLIGENT_RATIO_KEYS = ["high_aes_general_v40", "high_aes_general_v41", "high_aes_general_v40l",
                          "high_aes_general_v42", "high_aes_general_v50"]
# CN-only safety pre-check of uploaded images (§4.11); failures other than a violation are ignored.
CN_IMAGE_SAFETY_CHECK = True
ALGO_PROXY_BABI_PARAM = {"scenario": "image_video_generation", "feature_key": "aigc_to_image",
                         "feature_entrance": "to-generate",
                         "feature_entrance_detail": "to-generate-algo_proxy"}

# --- image models (§5.1): public id -> {region: model_req_key} -------------------------------------
# A region missing from a row means the model is not offered on that site.
_ALL = ("cn", "us", "hk", "jp", "sg")
_CN_ASIA = ("cn", "hk", "jp", "sg")
_INTL = ("us", "hk", "jp", "sg")


def _rows(key, regions):
    return {r: key for r in regions}


IMAGE_MODELS = {
    "jimeng-5.0": _rows("high_aes_general_v50", _CN_ASIA),
    "jimeng-4.7": _rows("high_aes_general_v43", ("cn",)),
    "jimeng-4.6": _rows("high_aes_general_v42", _CN_ASIA),
    "jimeng-4.5": _rows("high_aes_general_v40l", _ALL),
    "jimeng-4.1": _rows("high_aes_general_v41", _ALL),
    "jimeng-4.0": _rows("high_aes_general_v40", _ALL),
    "jimeng-3.1": _rows("high_aes_general_v30l_art_fangzhou:general_v3.0_18b", ("cn",)),
    "jimeng-3.0": _rows("high_aes_general_v30l:general_v3.0_18b", _ALL),
    "jimeng-2.1": _rows("high_aes_general_v21_L:general_v2.1_L", ("cn",)),
    "jimeng-xl-pro": _rows("text2img_xl_sft", ("cn",)),
    "nanobanana": _rows("external_model_gemini_flash_image_v25", _INTL),
    "nanobananapro": _rows("dreamina_image_lib_1", _INTL),
}
NANOBANANA_KEYS = ["external_model_gemini_flash_image_v25"]
NANOBANANAPRO_KEYS = ["dreamina_image_lib_1"]

# --- ratio x resolution -> (width, height, image_ratio) (§5.3; sizes from the service README) -----
RESOLUTIONS = ["1k", "2k", "4k"]
DEFAULT_RESOLUTION = "2k"
DEFAULT_RATIO = "1:1"
IMAGE_SIZES = {
    "1k": {
        "1:1": [1328, 1328, 1], "3:4": [1104, 1472, 2], "16:9": [1664, 936, 3], "4:3": [1472, 1104, 4],
        "9:16": [936, 1664, 5], "2:3": [1056, 1584, 6], "3:2": [1584, 1056, 7], "21:9": [2016, 864, 8],
    },
    "2k": {
        "1:1": [2048, 2048, 1], "3:4": [1728, 2304, 2], "16:9": [2560, 1440, 3], "4:3": [2304, 1728, 4],
        "9:16": [1440, 2560, 5], "2:3": [1664, 2496, 6], "3:2": [2496, 1664, 7], "21:9": [3024, 1296, 8],
    },
    "4k": {
        "1:1": [4096, 4096, 101], "3:4": [3456, 4608, 102], "16:9": [5120, 2880, 103],
        "4:3": [4608, 3456, 104], "9:16": [2880, 5120, 105], "2:3": [3328, 4992, 106],
        "3:2": [4992, 3328, 107], "21:9": [6048, 2592, 108],
    },
}
# nanobananapro at 4k has its own sizes and keeps the 1k/2k ratio codes (§5.3).
NANOBANANAPRO_4K_SIZES = {
    "1:1": [4096, 4096, 1], "3:4": [3520, 4693, 2], "16:9": [5404, 3040, 3], "4:3": [4693, 3520, 4],
    "9:16": [3040, 5404, 5], "2:3": [3328, 4992, 6], "3:2": [4992, 3328, 7], "21:9": [6197, 2656, 8],
}
# nanobanana: the US site only makes 1024x1024 "2k"; the other Dreamina sites force 1k.
NANOBANANA_US_SIZE = [1024, 1024, 1, "2k"]
NANOBANANA_ASIA_RESOLUTION = "1k"

# --- polling (§4.6, §6) ---------------------------------------------------------------------------
STATUS_QUEUED = 20
STATUS_PROCESSING = [42, 45]
STATUS_SUCCESS = 50
STATUS_FAILED = 30
# Seen as "success" by one gateway and "processing" by another; done only when items are present.
STATUS_MAYBE_DONE = [10, 21]
POLL_FIRST_DELAY = 1.0        # seconds after submit before the first poll (images)
POLL_FIRST_DELAY_VIDEO = 5.0
POLL_MIN_INTERVAL = 1.0       # near the expected finish
POLL_BASE_INTERVAL = 3.0      # while processing
POLL_MAX_INTERVAL = 30.0      # ceiling of the back-off while queued (upstream suggests 30 s)
POLL_QUEUE_BACKOFF = 1.5      # multiplier per poll while the job waits in the queue
POLL_STABLE_ROUNDS = 5        # polls with an unchanged, non-zero item count before taking partials
POLL_MISSING_GRACE = 15.0     # seconds a just-submitted record may be absent (eventual consistency)
POLL_MISSING_GRACE_VIDEO = 60.0
POLL_ERROR_TOLERANCE = 5      # consecutive network errors swallowed while polling
POLL_DEADLINE_RESERVE = 2.0   # seconds kept before the job deadline to download results
# Optional thumbnail variants requested with image polls (§4.6); the server may ignore them.
POLL_IMAGE_INFO = {
    "width": 2048, "height": 2048, "format": "webp",
    "image_scene_list": [
        {"scene": "smart_crop", "width": 360, "height": 360, "uniq_key": "smart_crop-w:360-h:360",
         "format": "webp"},
        {"scene": "smart_crop", "width": 480, "height": 480, "uniq_key": "smart_crop-w:480-h:480",
         "format": "webp"},
        {"scene": "smart_crop", "width": 720, "height": 720, "uniq_key": "smart_crop-w:720-h:720",
         "format": "webp"},
        {"scene": "smart_crop", "width": 720, "height": 480, "uniq_key": "smart_crop-w:720-h:480",
         "format": "webp"},
        {"scene": "normal", "width": 2400, "height": 2400, "uniq_key": "2400", "format": "webp"},
        {"scene": "normal", "width": 1080, "height": 1080, "uniq_key": "1080", "format": "webp"},
        {"scene": "normal", "width": 720, "height": 720, "uniq_key": "720", "format": "webp"},
        {"scene": "normal", "width": 480, "height": 480, "uniq_key": "480", "format": "webp"},
        {"scene": "normal", "width": 360, "height": 360, "uniq_key": "360", "format": "webp"},
    ],
}

# --- video models (§5.2): public id -> {region: model_req_key} -------------------------------------
_ASIA = ("hk", "jp", "sg")
VIDEO_MODELS = {
    "jimeng-video-seedance-2.0": _rows("dreamina_seedance_40_pro", ("cn",)),
    "jimeng-video-seedance-2.0-fast": _rows("dreamina_seedance_40", ("cn",)),
    "jimeng-video-3.5-pro": _rows("dreamina_ic_generate_video_model_vgfm_3.5_pro", _ALL),
    "jimeng-video-3.0-pro": _rows("dreamina_ic_generate_video_model_vgfm_3.0_pro", _CN_ASIA),
    "jimeng-video-3.0": _rows("dreamina_ic_generate_video_model_vgfm_3.0", _ALL),
    "jimeng-video-3.0-fast": _rows("dreamina_ic_generate_video_model_vgfm_3.0_fast", _CN_ASIA),
    "jimeng-video-2.0-pro": _rows("dreamina_ic_generate_video_model_vgfm1.0", _CN_ASIA),
    "jimeng-video-2.0": _rows("dreamina_ic_generate_video_model_vgfm_lite", _CN_ASIA),
    "jimeng-video-veo3": _rows("dreamina_veo3_generate_video", _ASIA),
    "jimeng-video-veo3.1": _rows("dreamina_veo3.1_generate_video", _ASIA),
    "jimeng-video-sora2": _rows("dreamina_sora2_generate_video", _ASIA),
}
# Allowed durations in seconds per public id (§9); the first is the default. Others: VIDEO_SECONDS_DEFAULT.
VIDEO_SECONDS = {
    "jimeng-video-veo3": [8],
    "jimeng-video-veo3.1": [8],
    "jimeng-video-sora2": [4, 8, 12],
    "jimeng-video-3.5-pro": [5, 10, 12],
    "jimeng-video-seedance-2.0": [5] + [s for s in range(4, 16) if s != 5],
    "jimeng-video-seedance-2.0-fast": [5] + [s for s in range(4, 16) if s != 5],
}
VIDEO_SECONDS_DEFAULT = [5, 10]
# `m_video_commerce_info.benefit_type` per model_req_key (§9, [IP] getVideoBenefitType); a wrong one
# is refused with "credit prededuct failed". Keys not listed get VIDEO_BENEFIT_TYPE_DEFAULT.
VIDEO_BENEFIT_TYPES = {
    "dreamina_seedance_40_pro": "dreamina_video_seedance_20_pro",
    "dreamina_seedance_40": "dreamina_seedance_20_fast",   # no "video_" in this one (§4.5)
    "dreamina_ic_generate_video_model_vgfm_3.5_pro": "dreamina_video_seedance_15_pro",
    "dreamina_veo3_generate_video": "generate_video_veo3",
    "dreamina_veo3.1_generate_video": "generate_video_veo3.1",
    "dreamina_sora2_generate_video": "generate_video_sora2",
}
VIDEO_BENEFIT_TYPE_DEFAULT = "basic_video_operation_vgfm_v_three"
# Per-resolution benefit types, {model_req_key: {"1080p": benefit_type}}, winning over the table above.
# [ZZ] sends "basic_video_operation_vgfm_v_three_1080" for 3.0-fast at 1080p; [IP] the default.
VIDEO_BENEFIT_TYPES_BY_RESOLUTION = {}
VIDEO_COMMERCE_INFO = {"resource_id": "generate_video", "resource_id_type": "str", "resource_sub_type": "aigc"}
# Only these models take `resolution` (sceneOptions and video_gen_inputs, §9); 3.0-pro is 1080p by itself.
VIDEO_RESOLUTION_KEYS = ["dreamina_ic_generate_video_model_vgfm_3.0",
                         "dreamina_ic_generate_video_model_vgfm_3.0_fast"]
VIDEO_RESOLUTIONS = ["720p", "1080p"]
VIDEO_DEFAULT_RESOLUTION = "720p"
VIDEO_RATIOS = ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"]
VIDEO_DEFAULT_RATIO = "16:9"
# Video draft (§4.4).
VIDEO_DRAFT_MIN_VERSION = "3.0.5"
VIDEO_COMPONENT_MIN_VERSION = "1.0.0"
VIDEO_FPS = 24
VIDEO_MODE = 2
VIDEO_PRIORITY = 0
VIDEO_SEED_RANGE = [0, 2 ** 32]
VIDEO_FUNCTION_MODE = "first_last_frames"
VIDEO_SCENE = "BasicVideoGenerateButton"
VIDEO_ENTER_FROM = "use_bgimage_prompt"
VIDEO_POSITION = "page_bottom_box"
MAX_VIDEO_FRAMES = 2          # first frame, last frame
# Seedance 2.0 generate calls need a browser-made `a_bogus` (§4.5, §12) that this driver cannot make;
# these rets on these keys end the job with that explanation instead of cooling accounts down.
VIDEO_ANTIBOT_KEYS = ["dreamina_seedance_40_pro", "dreamina_seedance_40"]
VIDEO_ANTIBOT_RETS = ["1019", "4013"]

# --- video polling (§4.6, §6.4): one poll per runner call; the waits are returned as poll_after ----
VIDEO_POLL_ABSENT_INTERVAL = 5.0     # the record is not visible yet (right after submit)
VIDEO_POLL_QUEUED_INTERVAL = 15.0
VIDEO_POLL_BASE_INTERVAL = 10.0      # while rendering
VIDEO_POLL_MIN_INTERVAL = 0.8        # once the forecast finish time is near or past
VIDEO_EXPECTED_SECONDS = 180.0       # assumed render time when the record carries no forecast
VIDEO_PROGRESS_QUEUED_MAX = 10       # progress never passes this while the job waits in the queue
VIDEO_PROGRESS_FINALIZING_FLOOR = 50  # status 45 means at least this much
VIDEO_PROGRESS_MAX = 99              # until the upstream says 50
# find_video: how long to keep asking for a submit_id before concluding it never arrived (the record
# can be invisible for ~10 s after submit, §11.2), and the pause between asks.
VIDEO_FIND_GRACE = 12.0
VIDEO_FIND_INTERVAL = 2.0
# High-bitrate URL (§4.7), and the patterns scanned for when the item shape is unfamiliar.
VIDEO_HQ_LOOKUP = True
VIDEO_HQ_URL_PATTERNS = [
    r"https://v\d+-dreamnia\.jimeng\.com/[^\s\"'\\]+",
    r"https://v\d+-[\w.-]*\.jimeng\.com/[^\s\"'\\]+",
    r"https://[^\s\"'\\]*(?:vlabvod|jimeng)\.com/[^\s\"'\\]+",
]
VIDEO_DOWNLOAD_MAX_BYTES = 512 * 1024 * 1024

# --- result codes (§2.6, §6.2, §8.1) ---------------------------------------------------------------
RET_OK = "0"
RET_LOGIN = ["1015", "34010105"]
RET_CREDITS = ["1006", "5000"]
RET_RATE_LIMIT = ["1019", "4013", "-4", "1014"]
RET_VERSION_GATE = ["3018"]
RET_REGION_GATE = ["3000"]
RET_CONTENT = ["4001", "2003"]
RET_BAD_PARAMS = ["4002"]
# credit_receive answers these when there is nothing to claim (already claimed, refused).
RET_CLAIM_REFUSED = ["34010100"]
FAIL_CONTENT = ["2038", "2047", "130006"]
FAIL_CREDITS = ["1006", "2039", "5000", "140001"]
# Message fragments, for errors that come without a recognisable code.
MSG_LOGIN = ["login error", "check login", "not login", "未登录", "登录"]
MSG_RATE_LIMIT = ["shark", "system busy", "too many", "rate limit", "频繁", "异常行为"]
MSG_CREDITS = ["积分不足", "insufficient", "credit not enough"]
MSG_CONTENT = ["risk not pass", "detected risk", "违规", "sensitive"]
MSG_BENEFIT = ["credit prededuct failed"]
# ImageX/VOD `ResponseMetadata.Error` codes meaning the STS token was refused.
UPLOAD_AUTH_ERRORS = ["InvalidAuthorization", "100024", "invalid token", "30406"]
UPLOAD_OK_CODE = 2000

# --- credits (§4.8) -------------------------------------------------------------------------------
# The daily free credits become claimable at this local hour in CREDIT_CLAIM_TIME_ZONE; an account
# out of credits is parked until then (plus a small margin for clock skew).
CREDIT_CLAIM_HOUR = 0
CREDIT_CLAIM_TIME_ZONE = "Asia/Shanghai"
CREDIT_CLAIM_MARGIN_SECONDS = 300
# Read the balance before every generate call (claiming when it is below CREDIT_COST_IMAGE), as
# other gateways do (they claim at zero).
# Off by default: the generate call refuses an account that is short (1006 / 5000) without creating
# a job, and the driver then claims and submits once more, so a job costs one round trip less.
CREDIT_PRECHECK = False
CREDIT_TIMEOUT = 20.0
# What a job costs, in credits, as far as the driver can tell: the upstream never quotes a price
# (its 1006 / 5000 answer only says "too few"). An image job (text-to-image, blend, multi-image; any
# n) costs CREDIT_COST_IMAGE, a video CREDIT_COST_VIDEO_PER_SECOND per second. The image price is
# the cheapest thing an account serves, so it decides an account's fate when a job is refused for
# credits: a balance (after the daily claim) below it parks the account as exhausted until the next
# claim; a balance at or above it only sends this job on to another account, and the account keeps
# serving cheaper jobs. The video price only words the error. Raise them when the site's prices do.
CREDIT_COST_IMAGE = 4
CREDIT_COST_VIDEO_PER_SECOND = 2
