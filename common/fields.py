"""Input fields every API serializer uses, so that no value the database cannot hold gets past them; path ids."""

from datetime import UTC, datetime
from typing import Any, cast

from django.contrib.auth.models import User as Account
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request

# Ids are the databases' 64-bit keys; a larger integer names nothing.
MAX_ID = 2**63 - 1
# Ids in URL paths: anything else matches no route (a JSON 404) and never reaches a query.
ID_IN_PATH = "[0-9]{1,18}"
# Dates of this platform's services and records; years at the calendar's edges overflow on time-zone shifts.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
OUT_OF_RANGE = _("Give a date between 1900 and 9000.")


class IdField(serializers.IntegerField):
    """The id of a row: a whole number from 1 to 2^63 - 1."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class NumberField(serializers.FloatField):
    """A finite number; true and false are not numbers, whatever Python thinks."""

    default_error_messages = {"invalid": _("A number is required.")}

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class DateTimeField(serializers.DateTimeField):
    """A moment between 1900 and 9000, made aware in the project's time zone."""

    default_error_messages = {"out_of_range": OUT_OF_RANGE}

    def to_internal_value(self, value: Any) -> datetime:
        try:
            moment = super().to_internal_value(value)
            in_range = EARLIEST <= moment <= LATEST
        except OverflowError:
            in_range = False
        if not in_range:
            self.fail("out_of_range")
        return moment


@extend_schema_field(
    {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$", "example": "08:30:00"}
)
class LocalTimeField(serializers.TimeField):
    """A time of day on the local clock (Asia/Shanghai), "HH:MM:SS": no offset, so not OpenAPI's `time`."""


def path_id(pk: str) -> int:
    """A path's id as a number the database can hold; 0 (no row) for anything else."""
    return int(pk) if pk.isdigit() and int(pk) <= MAX_ID else 0


def actor(request: Request) -> Account:
    """The signed-in user of an API view that lets no anonymous request through (IsAuthenticated)."""
    return cast(Account, request.user)


def body_of(request: Request, *lists: str) -> Any:
    """A request's body for a serializer: JSON as sent; a form (multipart) as a plain dict, with the
    fields named in `lists` (several files of one name) kept as lists."""
    body: Any = request.data
    if not hasattr(body, "getlist"):
        return body
    data = dict(body.items())
    for name in lists:
        data[name] = body.getlist(name)
    return data
