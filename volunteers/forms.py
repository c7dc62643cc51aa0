"""The team's phone forms: decline, check-in, completion (each with an idempotency key)."""

import uuid
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import Membership

DECLINE_REASONS = [
    ("busy", _("Not enough people free")),
    ("far", _("Too far away")),
    ("time", _("The time does not suit us")),
    ("skill", _("Not a service we can give well")),
    ("other", _("Another reason")),
]


def new_key() -> str:
    return uuid.uuid4().hex


class DeclineForm(forms.Form):
    reason = forms.ChoiceField(label=_("Why?"), choices=DECLINE_REASONS)


class KeyedForm(forms.Form):
    # Rendered with the page: the same form sent twice (or replayed from the phone's queue) acts once.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100, initial=new_key)


class CodeCheckinForm(KeyedForm):
    qr = forms.CharField(
        label=_("The citizen's 6-digit code"),
        max_length=100,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )


class GpsCheckinForm(KeyedForm):
    lat = forms.FloatField(widget=forms.HiddenInput, min_value=-90, max_value=90)
    lng = forms.FloatField(widget=forms.HiddenInput, min_value=-180, max_value=180)


def hour_choices() -> list[tuple[str, Any]]:
    steps = int(Decimal(str(settings.MAX_HOURS_PER_ORDER)) / Decimal("0.5"))
    return [("0", _("did not serve"))] + [
        (str(Decimal("0.5") * n), _("%(h)s h") % {"h": Decimal("0.5") * n}) for n in range(1, steps + 1)
    ]


class PhotosInput(forms.FileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Several photos from the camera; each is checked and re-encoded by the completing service."""

    widget = PhotosInput(attrs={"accept": "image/*", "capture": "environment"})

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(PhotosField, self).clean(f, initial) for f in files]


class CompleteForm(KeyedForm):
    summary = forms.CharField(label=_("What was done"), max_length=2000, widget=forms.Textarea(attrs={"rows": 4}))
    photos = PhotosField(label=_("Photos"), required=False)

    def __init__(self, *args: Any, members: list[Membership], default_hours: Decimal, me: int | None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.members = members
        for m in members:
            self.fields[f"hours_{m.volunteer_id}"] = forms.ChoiceField(
                label=m.volunteer.real_name,
                choices=hour_choices(),
                initial=str(default_hours) if m.volunteer_id == me else "0",
            )

    def hour_fields(self) -> list[forms.BoundField]:
        return [self[f"hours_{m.volunteer_id}"] for m in self.members]

    def hours(self) -> list[dict[str, Any]]:
        return [
            {"volunteer": m.volunteer_id, "hours": self.cleaned_data[f"hours_{m.volunteer_id}"]}
            for m in self.members
            if self.cleaned_data.get(f"hours_{m.volunteer_id}") not in (None, "0")
        ]


class ManualForm(forms.Form):
    """补录: hours a member served that the ledger lacks, for the unit's dispatchers to approve."""

    order = forms.IntegerField(
        label=_("Order number"), required=False, min_value=1, help_text=_("Leave empty for an activity without one.")
    )
    date = forms.DateField(
        label=_("Date of service"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    content = forms.CharField(label=_("Service"), max_length=200, required=False)
    place = forms.CharField(label=_("Place"), max_length=200, required=False)
    hours = forms.DecimalField(
        label=_("Hours"), max_digits=5, decimal_places=1, min_value=Decimal("0.5"), step_size=Decimal("0.5")
    )
    reason = forms.CharField(label=_("Why it is added"), max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))
    photos = PhotosField(label=_("Evidence photos"), required=False)


class CorrectionForm(forms.Form):
    hours = forms.DecimalField(
        label=_("Change in hours"),
        max_digits=5,
        decimal_places=1,
        step_size=Decimal("0.5"),
        help_text=_("Negative to take hours off, e.g. -0.5."),
    )
    reason = forms.CharField(label=_("Why"), max_length=1000)


class CertificateForm(forms.Form):
    date_from = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    date_to = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
