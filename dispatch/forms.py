"""The console's forms: dispatch, reject, and an order placed for a citizen who phoned (代点单)."""

from datetime import date, datetime, time
from typing import Any, cast

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from requests_app.models import Category
from requests_app.services import HALF_DAYS

from .choices import DispatchMode, Level, Priority
from .models import Unit


class DispatchForm(forms.Form):
    mode = forms.ChoiceField(choices=DispatchMode.choices)
    teams = forms.TypedMultipleChoiceField(coerce=int, required=False)
    top = forms.IntegerField(min_value=1, max_value=10, required=False, initial=3)

    def __init__(self, *args: Any, candidates: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.TypedMultipleChoiceField, self.fields["teams"]).choices = [(t, str(t)) for t in candidates]
        self.candidates = candidates

    def team_ids(self) -> list[int]:
        """The teams chosen; with none chosen, the best `top` (a broadcast) or all in rank order (a cascade)."""
        chosen = self.cleaned_data.get("teams") or []
        mode = self.cleaned_data["mode"]
        if mode == DispatchMode.DIRECTED:
            return chosen[:1] or self.candidates[:1]
        if chosen:
            return chosen
        return (
            self.candidates[: self.cleaned_data.get("top") or 3] if mode == DispatchMode.BROADCAST else self.candidates
        )


class RejectForm(forms.Form):
    note = forms.CharField(label=_("Why is it rejected? (kept from teams and the public)"), max_length=500)


class PlaceForCitizenForm(forms.Form):
    phone = forms.CharField(label=_("Citizen's mobile number"), max_length=20)
    name = forms.CharField(label=_("Citizen's name"), max_length=50)
    category = forms.ModelChoiceField(label=_("Service"), queryset=Category.objects.filter(active=True))
    description = forms.CharField(label=_("What is needed"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))
    station = forms.ModelChoiceField(label=_("Station"), queryset=Unit.objects.none())
    address = forms.CharField(label=_("Address"), max_length=200)
    day = forms.DateField(
        label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"), initial=timezone.localdate
    )
    half = forms.ChoiceField(
        label=_("Morning or afternoon?"),
        choices=[("morning", _("Morning (8:00–12:00)")), ("afternoon", _("Afternoon (14:00–18:00)"))],
    )
    priority = forms.ChoiceField(label=_("Priority"), choices=Priority.choices, initial=Priority.NORMAL)

    def __init__(self, *args: Any, unit: Unit | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stations = Unit.objects.filter(level=Level.STATION).order_by("path")
        if unit is not None:
            stations = stations.filter(path__startswith=unit.path)
        cast(forms.ModelChoiceField, self.fields["station"]).queryset = stations

    def window(self) -> tuple[datetime, datetime]:
        day: date = self.cleaned_data["day"]
        start, end = HALF_DAYS[self.cleaned_data["half"]]
        zone = timezone.get_current_timezone()
        return datetime.combine(day, time(start), zone), datetime.combine(day, time(end), zone)
