"""The citizen's ordering, one question per screen (formtools' wizard keeps the draft in the session)."""

from datetime import date, datetime, time, timedelta
from typing import Any, cast

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from dispatch.choices import Level
from dispatch.models import Unit

from .models import Category, Citizen, ServiceItem
from .services import HALF_DAYS


class TileRadio(forms.RadioSelect):
    """Large choices: each option a tile with an icon, a name and a line of help."""

    template_name = "requests_app/widgets/tiles.html"
    option_template_name = "requests_app/widgets/tile.html"

    def __init__(self, *args: Any, tiles: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tiles = tiles

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["widget"]["tiles"] = self.tiles
        return context


class CategoryChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Category) -> str:
        return f"{obj.icon} {obj.name}".strip()


class WhatForm(forms.Form):
    category = CategoryChoice(
        label=_("What do you need?"),
        queryset=Category.objects.filter(active=True),
        widget=TileRadio(tiles=True),
        empty_label=None,
    )


class ItemChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: ServiceItem) -> str:
        return obj.name


class DetailsForm(forms.Form):
    item = ItemChoice(label=_("Which service?"), queryset=ServiceItem.objects.none(), widget=TileRadio, required=False)
    description = forms.CharField(
        label=_("Tell us more"),
        help_text=_("What should the volunteers know? For example: which room, what to bring."),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args: Any, category: Category | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        items = ServiceItem.objects.filter(active=True, category=category) if category else ServiceItem.objects.none()
        field = cast(ItemChoice, self.fields["item"])
        field.queryset = items
        field.empty_label = None
        if items.exists():
            self.fields["item"].required = True
        else:
            del self.fields["item"]


class StationChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Unit) -> str:
        parent = obj.parent.name if obj.parent else ""
        return f"{obj.name}（{parent}）" if parent else obj.name


class WhereForm(forms.Form):
    SAVED, STATION, HERE = "saved", "station", "here"

    place = forms.ChoiceField(label=_("Where?"), widget=TileRadio)
    station = StationChoice(
        label=_("Your village's station"),
        queryset=Unit.objects.filter(level=Level.STATION).select_related("parent").order_by("parent__name", "name"),
        required=False,
    )
    lat = forms.FloatField(required=False, widget=forms.HiddenInput, min_value=-90, max_value=90)
    lng = forms.FloatField(required=False, widget=forms.HiddenInput, min_value=-180, max_value=180)
    address = forms.CharField(
        label=_("Address"),
        help_text=_("Street, building, door number: what the volunteers need to find you."),
        max_length=200,
    )
    remember = forms.BooleanField(label=_("Keep this address for my next orders"), required=False, initial=True)

    def __init__(self, *args: Any, citizen: Citizen | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.citizen = citizen
        choices: list[tuple[str, Any]] = []
        if citizen is not None and citizen.address:
            choices.append((self.SAVED, _("My saved address: %(a)s") % {"a": citizen.address}))
        if citizen is not None and citizen.station_id:
            choices.append((self.STATION, _("My village's station: %(s)s") % {"s": citizen.station}))
        else:
            choices.append((self.STATION, _("My village's station (choose it below)")))
        choices.append((self.HERE, _("Where this phone is now (uses its location)")))
        cast(forms.ChoiceField, self.fields["place"]).choices = choices
        if citizen is not None and citizen.station_id:
            self.fields["station"].initial = citizen.station_id

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        place = data.get("place")
        if place == self.SAVED and self.citizen is not None:
            data["lat"], data["lng"] = self.citizen.lat, self.citizen.lng
            data["station"] = None if self.citizen.lat is not None else self.citizen.station
        elif place == self.STATION:
            data["lat"] = data["lng"] = None
            if data.get("station") is None:
                self.add_error("station", _("Choose your village's station."))
        elif place == self.HERE:
            data["station"] = None
            if data.get("lat") is None or data.get("lng") is None:
                self.add_error(
                    "place", _("This phone's location is not known. Allow location, or choose your station instead.")
                )
        return data


class WhenForm(forms.Form):
    TODAY, TOMORROW, DATE = "today", "tomorrow", "date"

    day = forms.ChoiceField(
        label=_("Which day?"),
        choices=[(TODAY, _("Today")), (TOMORROW, _("Tomorrow")), (DATE, _("Another day"))],
        widget=TileRadio,
        initial=TOMORROW,
    )
    date = forms.DateField(
        label=_("Date"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    half = forms.ChoiceField(
        label=_("Morning or afternoon?"),
        choices=[
            ("morning", pgettext_lazy("half-day", "Morning (8:00–12:00)")),
            ("afternoon", pgettext_lazy("half-day", "Afternoon (14:00–18:00)")),
        ],
        widget=TileRadio,
        initial="morning",
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        today = timezone.localdate()
        day = data.get("day")
        chosen: date | None = {self.TODAY: today, self.TOMORROW: today + timedelta(days=1)}.get(day or "")
        if day == self.DATE:
            chosen = data.get("date")
            if chosen is None:
                self.add_error("date", _("Choose a date."))
            elif chosen < today:
                self.add_error("date", _("This date has passed."))
            elif chosen > today + settings.ORDER_MAX_LEAD:
                self.add_error("date", _("Choose a date within %(n)d days.") % {"n": settings.ORDER_MAX_LEAD.days})
        if chosen is None or "half" not in data or self.errors:
            return data
        start_hour, end_hour = HALF_DAYS[data["half"]]
        zone = timezone.get_current_timezone()
        data["window_start"] = datetime.combine(chosen, time(start_hour), zone)
        data["window_end"] = datetime.combine(chosen, time(end_hour), zone)
        if data["window_start"] <= timezone.now():
            self.add_error("half", _("This time has already begun. Choose a later half-day or another day."))
        return data


class ContactForm(forms.Form):
    contact_name = forms.CharField(label=_("Who should the volunteers ask for?"), max_length=50)
    contact_phone = forms.CharField(
        label=_("Their phone number"),
        max_length=20,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
    )


class ConfirmForm(forms.Form):
    """The last screen shows the whole order; sending it places the order."""


class RateForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=_("How was the service?"),
        coerce=int,
        choices=[(n, str(n)) for n in range(1, 6)],
    )
    comment = forms.CharField(label=_("Anything to add?"), max_length=1000, required=False, widget=forms.Textarea)
    publicity_consent = forms.BooleanField(
        label=_("The media desk may tell this story (without my name, phone or address)"), required=False
    )
