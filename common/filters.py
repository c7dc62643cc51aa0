"""Query filters for every list in the API: ids and dates bounded, unknown ids simply match nothing."""

from typing import Any

import django_filters
from django import forms
from django.db import models
from django_filters.rest_framework import DjangoFilterBackend

from .fields import EARLIEST, LATEST, MAX_ID, OUT_OF_RANGE


class IdFormField(forms.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class IdFilter(django_filters.NumberFilter):
    """Rows whose key is this id. An id that names no row (or none the user may see) gives an empty list,
    never an error: ids must not be enumerable by the answer."""

    field_class = IdFormField


class DateTimeFormField(django_filters.fields.IsoDateTimeField):
    default_error_messages = {"out_of_range": OUT_OF_RANGE}

    def to_python(self, value: Any) -> Any:
        try:
            moment = super().to_python(value)
            in_range = moment is None or EARLIEST <= moment <= LATEST
        except OverflowError:
            in_range = False
        if not in_range:
            raise forms.ValidationError(self.error_messages["out_of_range"], code="out_of_range")
        return moment


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = DateTimeFormField


class FilterSet(django_filters.FilterSet):
    """The project's base: keys and relations filter by id, moments are bounded."""

    FILTER_DEFAULTS = {
        **django_filters.FilterSet.FILTER_DEFAULTS,
        models.AutoField: {"filter_class": IdFilter},
        models.BigAutoField: {"filter_class": IdFilter},
        models.ForeignKey: {"filter_class": IdFilter},
        models.OneToOneField: {"filter_class": IdFilter},
        models.OneToOneRel: {"filter_class": IdFilter},
        models.ManyToManyField: {"filter_class": IdFilter, "extra": lambda f: {"distinct": True}},
        models.ManyToOneRel: {"filter_class": IdFilter},
        models.ManyToManyRel: {"filter_class": IdFilter},
        models.DateTimeField: {"filter_class": DateTimeFilter},
    }


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, building the filters of `filterset_fields` on the project's base."""

    filterset_base = FilterSet
