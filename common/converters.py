"""Path converters for the pages: an id is 1 to 18 digits (what a bigint holds), else no route (404)."""

from django.urls import register_converter

from .fields import ID_IN_PATH


class IdConverter:
    regex = ID_IN_PATH

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")
