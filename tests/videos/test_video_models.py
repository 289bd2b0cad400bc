"""Which video models a client can ask for, and what it gets for OpenAI's own names and sizes."""

import pytest

from api.errors import ApiError
from generation import catalog
from videos import service
from videos.fields import ratio_resolution


def test_openai_durations_map_to_the_nearest_the_model_makes():
    spec = catalog.resolve("jimeng-video-3.0")
    assert [service.check_seconds(spec, s, nearest=True) for s in (4, 8, 12, 5, 10)] == [5, 10, 10, 5, 10]
    with pytest.raises(ApiError) as info:
        service.check_seconds(spec, 4)  # the model's own name: its own durations, as documented
    assert info.value.param == "seconds" and "5, 10" in info.value.message


def test_seed_width_and_height_choose_the_ratio_and_resolution():
    assert ratio_resolution({"width": 720, "height": 1280}) == ("9:16", "720p", "720x1280")
    assert ratio_resolution({"width": "1920", "height": "1080"})[:2] == ("16:9", "1080p")
    assert ratio_resolution({"width": 720, "height": 1280, "ratio": "1:1"})[0] == "1:1"  # an explicit ratio wins
    with pytest.raises(ApiError) as info:
        ratio_resolution({"width": "wide", "height": 720})
    assert info.value.param == "width"


def test_disabled_models_are_neither_listed_nor_served_and_say_why(settings, db):
    from tests.conftest import make_account

    make_account("cn-acc", provider="jimeng", region="cn")
    assert "jimeng-video-seedance-2.0" in settings.DISABLED_MODELS
    served = {s.id for s in catalog.servable_models()}
    assert "jimeng-video-3.0" in served and "jimeng-video-seedance-2.0" not in served
    with pytest.raises(ApiError) as info:
        service.resolve_video_model("jimeng-video-seedance-2.0", None)
    assert info.value.status == 404 and info.value.code == "model_not_found"
    assert "disabled on this gateway" in info.value.message
    settings.DISABLED_MODELS = frozenset()
    assert service.resolve_video_model("jimeng-video-seedance-2.0", None).id == "jimeng-video-seedance-2.0"
