"""Jimeng / Dreamina public model ids. Upstream keys live in the driver's constants module."""

from generation.catalog import IMAGE_COMPOSE, IMAGE_EDIT, IMAGE_GENERATE, VIDEO_GENERATE, ModelSpec

ALL = ("cn", "us", "hk", "jp", "sg")
CN = ("cn",)
INTL = ("us", "hk", "jp", "sg")
ASIA = ("hk", "jp", "sg")
CN_ASIA = ("cn", "hk", "jp", "sg")

_IMAGE = frozenset({IMAGE_GENERATE, IMAGE_EDIT, IMAGE_COMPOSE})
_VIDEO = frozenset({VIDEO_GENERATE})


def _image(model_id: str, regions, description: str = "") -> ModelSpec:
    return ModelSpec(id=model_id, provider="jimeng", capabilities=_IMAGE, regions=regions,
                     owned_by="jimeng", description=description)


def _video(model_id: str, regions, description: str = "") -> ModelSpec:
    return ModelSpec(id=model_id, provider="jimeng", capabilities=_VIDEO, regions=regions,
                     owned_by="jimeng", description=description)


MODELS = [
    _image("jimeng-5.0", CN_ASIA),
    _image("jimeng-4.7", CN, "CN only; seen in one gateway (June 2026) only"),
    _image("jimeng-4.6", CN_ASIA),
    _image("jimeng-4.5", ALL, "default image model"),
    _image("jimeng-4.1", ALL),
    _image("jimeng-4.0", ALL),
    _image("jimeng-3.1", CN),
    _image("jimeng-3.0", ALL),
    _image("jimeng-2.1", CN),
    _image("jimeng-xl-pro", CN),
    _image("nanobanana", INTL),
    _image("nanobananapro", INTL),
    _video("jimeng-video-3.5-pro", ALL),
    _video("jimeng-video-3.0-pro", CN_ASIA),
    _video("jimeng-video-3.0", ALL),
    _video("jimeng-video-3.0-fast", CN_ASIA),
    _video("jimeng-video-2.0-pro", CN_ASIA),
    _video("jimeng-video-2.0", CN_ASIA),
    _video("jimeng-video-seedance-2.0", CN),
    _video("jimeng-video-seedance-2.0-fast", CN),
    _video("jimeng-video-veo3", ASIA),
    _video("jimeng-video-veo3.1", ASIA),
    _video("jimeng-video-sora2", ASIA),
]
