"""Validation of the image endpoints' fields: the SDK's (gateway-anchors.md §A.1–A.2) plus the
seeds' (`ratio`, `resolution`, `negative_prompt`, `sample_strength`)."""

from __future__ import annotations

import copy

from django.http import QueryDict
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from generation.sizing import DEFAULT_RATIO, DEFAULT_RESOLUTION, RATIOS, RESOLUTIONS, nearest_ratio, nearest_resolution, parse_size

MAX_INPUT_IMAGES = 10


def _json_type(field) -> tuple[type | tuple, str] | None:
    if isinstance(field, serializers.BooleanField):
        return bool, "a boolean (true or false)"
    if isinstance(field, serializers.IntegerField):
        return int, "an integer"
    if isinstance(field, serializers.FloatField):
        return (int, float), "a number"
    if isinstance(field, (serializers.CharField, serializers.ChoiceField)):
        return str, "a string"
    if isinstance(field, serializers.ListField):
        return list, "an array"
    return None


def _is_json_type(value, expected) -> bool:
    if isinstance(value, bool) and expected is not bool:
        return False  # JSON true is not the number 1
    return isinstance(value, expected)


class RequestSerializer(serializers.Serializer):
    """A serializer that only validates request fields.

    DRF deep-copies every declared field for each instance, which re-runs each field's __init__
    and builds its validators again: about twenty fields here, on every request, and the garbage
    it leaves makes the collector run during bursts. A validating field keeps no state of its own
    besides what `bind` sets, so a shallow copy per instance is enough; a field holding another
    field (a list's child) or a nested serializer is still deep-copied.
    """

    def to_internal_value(self, data):
        if isinstance(data, dict) and not isinstance(data, QueryDict):
            data = self._as_json(data)
        return super().to_internal_value(data)

    def _as_json(self, data: dict) -> dict:
        """A JSON body's fields as OpenAI reads them: `null` means "not given" (the SDK's types
        allow it), and a value of the wrong JSON type is refused rather than coerced (DRF would
        read `"prompt": 123` as the text "123" and `"stream": "yes"` as true). Form fields are
        all text, so a multipart body is left to the fields' own parsing."""
        fields = self._declared_fields
        errors = {}
        for name, value in data.items():
            field = fields.get(name)
            if field is None or value is None:
                continue
            expected = _json_type(field)
            if expected is not None and not _is_json_type(value, expected[0]):
                errors[name] = [ErrorDetail(f"must be {expected[1]}.", code="invalid")]
        if errors:
            raise serializers.ValidationError(errors)
        return {name: value for name, value in data.items() if value is not None or name not in fields}

    def get_fields(self):
        return {name: copy.deepcopy(field) if hasattr(field, "child") or hasattr(field, "fields") else copy.copy(field)
                for name, field in self._declared_fields.items()}


class ImageRequestSerializer(RequestSerializer):
    prompt = serializers.CharField(max_length=8000)
    model = serializers.CharField(required=False, allow_blank=True, max_length=100)
    n = serializers.IntegerField(required=False, default=1, min_value=1, max_value=4)
    size = serializers.CharField(required=False, allow_blank=True, max_length=20)
    ratio = serializers.ChoiceField(choices=RATIOS, required=False)
    resolution = serializers.ChoiceField(choices=RESOLUTIONS, required=False)
    response_format = serializers.ChoiceField(choices=("url", "b64_json"), required=False, default="url")
    negative_prompt = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    sample_strength = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)
    seed = serializers.IntegerField(required=False, min_value=-1, max_value=2**32 - 1)
    stream = serializers.BooleanField(required=False, default=False)
    # Accepted for compatibility; the consumer sites have no equivalent (documented).
    quality = serializers.CharField(required=False, allow_blank=True)
    style = serializers.CharField(required=False, allow_blank=True)
    background = serializers.CharField(required=False, allow_blank=True)
    # Honoured: the worker re-encodes a result that came in another format (generation.formats).
    output_format = serializers.ChoiceField(choices=("png", "jpeg", "webp"), required=False)
    output_compression = serializers.IntegerField(required=False, min_value=0, max_value=100)
    moderation = serializers.CharField(required=False, allow_blank=True)
    user = serializers.CharField(required=False, allow_blank=True)
    safety_identifier = serializers.CharField(required=False, allow_blank=True)
    partial_images = serializers.IntegerField(required=False, min_value=0, max_value=3)
    input_fidelity = serializers.CharField(required=False, allow_blank=True)

    def validate_size(self, value):
        if not value:
            return value
        try:
            parse_size(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value

    def validate_prompt(self, value):
        if not value.strip():
            raise serializers.ValidationError("must not be empty")
        return value

    def job_params(self) -> dict:
        """What the driver receives: plain, explicit, no OpenAI-only knobs."""
        data = self.validated_data
        ratio, resolution = data.get("ratio"), data.get("resolution")
        size = parse_size(data["size"]) if data.get("size") else None
        if size is not None:
            ratio = ratio or nearest_ratio(*size)
            resolution = resolution or nearest_resolution(*size)
        params = {
            "prompt": data["prompt"],
            "n": data["n"],
            "ratio": ratio or DEFAULT_RATIO,
            "resolution": resolution or DEFAULT_RESOLUTION,
        }
        if size is not None:
            params["requested_size"] = f"{size[0]}x{size[1]}"
        for optional in ("negative_prompt", "sample_strength", "seed", "output_format", "output_compression"):
            if data.get(optional) not in (None, ""):
                params[optional] = data[optional]
        if params.get("seed") == -1:  # the seeds' "random seed": the upstream picks one, as with none
            del params["seed"]
        return params


class CompositionRequestSerializer(ImageRequestSerializer):
    images = serializers.ListField(child=serializers.CharField(max_length=20 * 1024 * 1024), required=False,
                                   max_length=MAX_INPUT_IMAGES)

    def validate(self, attrs):
        if attrs.get("stream"):
            # OpenAI has no compositions endpoint, so no event names for one to stream.
            raise serializers.ValidationError({"stream": "compositions are not streamed; use /v1/images/edits "
                                                         "with stream, or omit stream"})
        return attrs
