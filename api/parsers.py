"""The API's JSON parser: every endpoint takes one JSON object."""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class JSONObjectParser(JSONParser):
    """DRF's parser, plus the two bodies it lets through that no view can use: anything but an
    object at the top (a view reading fields from a list failed with a 500), and nesting deep
    enough to exhaust Python's recursion limit (a RecursionError, also a 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON nested too deeply.") from None
        if not isinstance(data, dict):
            raise ParseError(f"the body must be a JSON object, not {_kind(data)}.")
        return data


def _kind(value) -> str:
    if value is None:
        return "null"
    return {list: "an array", str: "a string", bool: "a boolean"}.get(type(value), "a number")
