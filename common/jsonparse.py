"""Client JSON, read without recursion: its nesting is measured before it is decoded."""

import json
import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# Strings (with their escapes) hide brackets that are not structure.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


class TooDeep(ValueError):
    """The document nests deeper than JSON_MAX_DEPTH."""


def nesting_depth(data: bytes, limit: int) -> int:
    """The deepest nesting of arrays and objects, counting no further than limit + 1."""
    depth = deepest = 0
    for bracket in _BRACKET.finditer(_STRING.sub(b"", data)):
        if bracket.group() in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= 1
    return deepest


def loads(data: bytes | str) -> Any:
    """json.loads for input from clients: TooDeep past JSON_MAX_DEPTH, ValueError for anything else malformed."""
    raw = data.encode() if isinstance(data, str) else data
    limit = settings.JSON_MAX_DEPTH
    if nesting_depth(raw, limit) > limit:
        raise TooDeep(_("The JSON nests deeper than %(n)d levels.") % {"n": limit})
    return json.loads(raw, parse_constant=_no_constant)


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; the database and the clients could not take them back.
    raise ValueError(_("%(name)s is not a number JSON allows.") % {"name": name})


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with the body's size and nesting bounded before decoding."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        if stream is None:
            return None
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(body) > limit:
            raise RequestDataTooBig(_("The request is too large."))
        try:
            return loads(body)
        except TooDeep as exc:
            raise ParseError(str(exc)) from None
        except ValueError as exc:
            raise ParseError(_("JSON parse error - %(error)s") % {"error": exc}) from None
