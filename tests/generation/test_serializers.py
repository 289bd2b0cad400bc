"""The image request serializer copies its declared fields shallowly: each instance must still
validate on its own, with its own bound fields, and leave the class's fields untouched."""

from __future__ import annotations

from generation.serializers import CompositionRequestSerializer, ImageRequestSerializer


def test_instances_bind_their_own_fields_and_keep_their_own_errors():
    bad = ImageRequestSerializer(data={"prompt": " ", "n": 9, "ratio": "5:4"})
    good = ImageRequestSerializer(data={"prompt": "a fox", "n": 2, "ratio": "16:9"})
    assert not bad.is_valid()
    assert good.is_valid(), good.errors
    assert set(bad.errors) == {"prompt", "n", "ratio"}
    assert good.validated_data["n"] == 2 and good.validated_data["ratio"] == "16:9"
    assert bad.fields["prompt"] is not good.fields["prompt"]
    assert bad.fields["prompt"].parent is bad and good.fields["prompt"].parent is good
    declared = ImageRequestSerializer._declared_fields["prompt"]
    assert getattr(declared, "parent", None) is None and declared.field_name is None


def test_list_fields_are_still_validated_per_item():
    too_long = CompositionRequestSerializer(data={"prompt": "mix", "images": ["x" * 10] * 11})
    assert not too_long.is_valid() and "images" in too_long.errors
    ok = CompositionRequestSerializer(data={"prompt": "mix", "images": ["https://a.example/1.png"]})
    assert ok.is_valid(), ok.errors
    assert ok.fields["images"].child is not CompositionRequestSerializer._declared_fields["images"].child
