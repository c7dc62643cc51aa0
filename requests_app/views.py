"""The citizen's pages (`/`): the service menu, ordering one question per screen, my orders.

Every page works with JavaScript off (plain links and form posts); with it, the order's page
redraws its live part when the stream says the order moved.
"""

import uuid
from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.forms import Form
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from formtools.wizard.views import NamedUrlSessionWizardView

from common.errors import DomainError
from common.pages import show_errors, signed_in
from dispatch.choices import OrderState
from dispatch.services import order_cancel
from realtime.selectors import stream_context
from volunteers.services import order_qr_payload

from . import selectors, services
from .forms import ConfirmForm, ContactForm, DetailsForm, RateForm, WhatForm, WhenForm, WhereForm
from .models import Category, Citizen

STEPS = [
    ("what", WhatForm),
    ("details", DetailsForm),
    ("where", WhereForm),
    ("when", WhenForm),
    ("contact", ContactForm),
    ("confirm", ConfirmForm),
]
STEP_TITLES = {
    "what": gettext_lazy("What"),
    "details": gettext_lazy("Details"),
    "where": gettext_lazy("Where"),
    "when": gettext_lazy("When"),
    "contact": gettext_lazy("Contact"),
    "confirm": gettext_lazy("Confirm"),
}
# Which screen asks for each field the placing service may refuse.
FIELD_STEP = {
    "category": "what",
    "item": "details",
    "description": "details",
    "station": "where",
    "lat": "where",
    "lng": "where",
    "address": "where",
    "window_start": "when",
    "window_end": "when",
    "contact_name": "contact",
    "contact_phone": "contact",
}


def home(request: HttpRequest) -> HttpResponse:
    """The service menu as large tiles; each starts an order for that service."""
    citizen = selectors.citizen_of(request.user)
    recent = list(selectors.orders_of(signed_in(request))[:3]) if citizen else []
    return render(request, "requests_app/home.html", {"menu": selectors.menu(), "citizen": citizen, "recent": recent})


class PlacementRefused(Exception):
    def __init__(self, step: str, form: Form) -> None:
        self.step, self.form = step, form


@method_decorator(login_required, name="dispatch")
class OrderWizard(NamedUrlSessionWizardView):
    """群众点单: what, details, where, when, who to contact, confirm — one screen each."""

    form_list = STEPS
    template_name = "requests_app/order_step.html"

    citizen: Citizen

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        citizen = selectors.citizen_of(request.user)
        if citizen is None:
            messages.error(request, _("Only citizens order here; staff place orders from the console."))
            return redirect("home")
        self.citizen = citizen
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        category = request.GET.get("category", "")
        if kwargs.get("step") is None and category.isdigit() and len(category) <= 18:
            # A tile of the menu: the first question is answered already.
            chosen = get_object_or_404(Category, pk=int(category), active=True)
            self.storage.reset()
            answer = QueryDict(mutable=True)
            answer["what-category"] = str(chosen.pk)
            self.storage.set_step_data("what", answer)
            self.storage.current_step = "details"
            return redirect(self.get_step_url("details"))
        return super().get(request, *args, **kwargs)

    def get_form_kwargs(self, step: str | None = None) -> dict[str, Any]:
        if step == "details":
            what = self.get_cleaned_data_for_step("what") or {}
            return {"category": what.get("category")}
        if step == "where":
            return {"citizen": self.citizen}
        return {}

    def get_form_initial(self, step: str) -> dict[str, Any]:
        citizen = self.citizen
        if step == "where":
            place = WhereForm.SAVED if citizen.address else WhereForm.STATION
            return {"address": citizen.address, "place": place}
        if step == "contact":
            return {"contact_name": citizen.name or self.request.user.first_name, "contact_phone": citizen.phone}
        return {}

    def get_context_data(self, form: Form, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(form=form, **kwargs)
        names = list(self.get_form_list())
        current = self.steps.current
        at = names.index(current)
        context["progress"] = [
            {"title": STEP_TITLES[name], "state": "done" if i < at else "now" if i == at else ""}
            for i, name in enumerate(names)
        ]
        if current == "confirm":
            order = self._order_data()
            context["summary"] = order
            if order and order.get("lat") is not None:
                context["similar"] = selectors.similar_live_orders(
                    user=signed_in(self.request), category_id=order["category"].pk, lat=order["lat"], lng=order["lng"]
                )
        return context

    def _order_data(self) -> dict[str, Any] | None:
        data: dict[str, Any] = {}
        for step in self.get_form_list():
            if step == "confirm":
                continue
            cleaned = self.get_cleaned_data_for_step(step)
            if cleaned is None:
                return None
            data.update(cleaned)
        station = data.get("station")
        if data.get("lat") is None and station is not None:
            data["lat"], data["lng"] = station.lat, station.lng
            data["place_station_only"] = True
        return data

    def render_done(self, form: Form, **kwargs: Any) -> HttpResponse:
        try:
            return super().render_done(form, **kwargs)
        except PlacementRefused as refused:
            # The draft is kept: the screen at fault is shown again with the reason beside its field.
            self.storage.current_step = refused.step
            return self.render(refused.form)

    def done(self, form_list: Any, form_dict: dict[str, Form], **kwargs: Any) -> HttpResponse:
        data: dict[str, Any] = {}
        for form in form_list:
            data.update(form.cleaned_data)
        key = self.storage.extra_data.setdefault("key", uuid.uuid4().hex)
        only_station = data["station"] is not None and data.get("lat") is None
        try:
            order, _created = services.order_place(
                user=signed_in(self.request),
                category=data["category"],
                item=data.get("item"),
                description=data["description"],
                address=data["address"],
                window_start=data["window_start"],
                window_end=data["window_end"],
                contact_name=data["contact_name"],
                contact_phone=data["contact_phone"],
                lat=None if only_station else data.get("lat"),
                lng=None if only_station else data.get("lng"),
                station=data["station"] if only_station else None,
                idempotency_key=f"wizard-{key}",
            )
        except DomainError as error:
            step = next((FIELD_STEP[f] for f in error.fields if f in FIELD_STEP), "confirm")
            form = self.get_form(step=step, data=self.storage.get_step_data(step))
            form.is_valid()
            show_errors(form, error)
            raise PlacementRefused(step, form) from None
        if data.get("remember"):
            citizen = signed_in(self.request)
            services.citizen_save_place(user=citizen, address=data["address"], lat=order.lat, lng=order.lng)
        messages.success(self.request, _("Your order is placed. You can follow it here."))
        return redirect("citizen-order", order_id=order.pk)


@login_required
def my_orders(request: HttpRequest) -> HttpResponse:
    return render(request, "requests_app/my_orders.html", {"orders": selectors.orders_of(signed_in(request))[:50]})


def _order_context(request: HttpRequest, order_id: int) -> dict[str, Any]:
    order = get_object_or_404(selectors.orders_of(signed_in(request)), pk=order_id)
    show_code = order.state == OrderState.ACCEPTED
    return {
        "order": order,
        "timeline": selectors.order_timeline(order),
        # The volunteers check in by this code, typed or scanned, when they arrive.
        "checkin_qr": segno.make(order_qr_payload(order), error="m").svg_inline(scale=5) if show_code else "",
        "can_cancel": order.state in (OrderState.SUBMITTED, OrderState.DISPATCHING, OrderState.ACCEPTED),
        "can_rate": order.state == OrderState.COMPLETED,
        "rate_form": RateForm(),
        "not_solved": order.resolved is False,
    }


@login_required
def order_page(request: HttpRequest, order_id: int) -> HttpResponse:
    """The order with its live timeline; the stream moves it without a reload."""
    context = stream_context(signed_in(request))
    context.update(_order_context(request, order_id))
    return render(request, "requests_app/order.html", context)


@login_required
def order_live(request: HttpRequest, order_id: int) -> HttpResponse:
    """The live part of the order's page, fetched again when the stream says it moved."""
    return render(request, "requests_app/_order_live.html", _order_context(request, order_id))


@login_required
@require_POST
def order_cancel_view(request: HttpRequest, order_id: int) -> HttpResponse:
    order = get_object_or_404(selectors.orders_of(signed_in(request)), pk=order_id)
    try:
        order_cancel(order_id=order.pk, user=signed_in(request), note=request.POST.get("note", "")[:500])
    except DomainError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _("The order is cancelled."))
    return redirect("citizen-order", order_id=order.pk)


@login_required
@require_POST
def order_rate(request: HttpRequest, order_id: int) -> HttpResponse:
    """评单: stars, a comment, the publicity consent; "not solved" alerts the dispatchers."""
    order = get_object_or_404(selectors.orders_of(signed_in(request)), pk=order_id)
    form = RateForm(request.POST)
    not_solved = request.POST.get("solved") == "no"
    if not_solved and not request.POST.get("rating"):
        form = RateForm({**request.POST.dict(), "rating": "1"})
    if form.is_valid():
        try:
            services.order_evaluate(
                order_id=order.pk, user=signed_in(request), resolved=not not_solved, **form.cleaned_data
            )
        except DomainError as error:
            show_errors(form, error)
        else:
            if not_solved:
                messages.success(request, _("We told the dispatchers that it was not solved."))
            else:
                messages.success(request, _("Thank you for rating the service."))
            return redirect("citizen-order", order_id=order.pk)
    context = stream_context(signed_in(request))
    context.update(_order_context(request, order_id))
    context["rate_form"] = form
    return render(request, "requests_app/order.html", context, status=400)


@login_required
@require_POST
def order_again(request: HttpRequest, order_id: int) -> HttpResponse:
    """One tap: the same service again, at the next half-day."""
    try:
        order, _created = services.order_again(order_id=order_id, user=signed_in(request))
    except DomainError as error:
        messages.error(request, error.detail)
        return redirect("citizen-order", order_id=order_id)
    messages.success(request, _("A new order is placed for the same service."))
    return redirect("citizen-order", order_id=order.pk)
