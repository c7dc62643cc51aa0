"""The dispatcher's console (`/console/`): the queue, an order with its candidates and map, 代点单.

Rows are plain links and actions plain form posts; with JavaScript the order opens beside the
queue, both redraw when the stream says something moved, and the keyboard drives it all
(static/js/console.js).
"""

import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.services import citizen_find_or_make
from common.errors import DomainError
from common.pages import page_for, show_errors, signed_in
from realtime.selectors import stream_context
from requests_app.models import Category
from requests_app.selectors import similar_live_orders
from requests_app.services import order_place

from . import queue as desk
from . import services
from .board import board_figures
from .choices import Level, OrderState
from .forms import DispatchForm, PlaceForCitizenForm, RejectForm
from .models import Unit
from .selectors import acts_on, dispatcher_unit, is_dispatcher, order_details_visible_to, team_candidates

dispatcher_required = page_for(is_dispatcher, "dispatch/not_dispatcher.html")


def _queue_context(request: HttpRequest) -> dict[str, Any]:
    found = desk.queue(signed_in(request), request.GET)
    rows = [
        {"order": o, "band": desk.age_band(o.created_at), "age": desk.age_label(o.created_at)} for o in found.orders
    ]
    unit = dispatcher_unit(signed_in(request))
    stations = Unit.objects.filter(level=Level.STATION).order_by("path").only("name")
    return {
        "queue": found,
        "rows": rows,
        "query": request.GET.urlencode(),
        "unit": unit,
        "categories": Category.objects.filter(active=True),
        "stations": stations.filter(path__startswith=unit.path) if unit else stations,
    }


def _panel_context(request: HttpRequest, order_id: int) -> dict[str, Any]:
    user = signed_in(request)
    order = get_object_or_404(order_details_visible_to(user).select_related("item", "station"), pk=order_id)
    mine = user.is_superuser or acts_on(user, order.station)
    match = team_candidates(order, for_user=user) if mine and order.state == OrderState.SUBMITTED else None
    nearby = [
        s
        for s in similar_live_orders(user=user, category_id=order.category_id, lat=order.lat, lng=order.lng)
        if s.order.pk != order.pk
    ]
    candidates = [c.team for c in match.candidates] if match else []
    return {
        "order": order,
        "mine": mine,
        "match": match,
        "nearby": nearby,
        "history": order.transitions.select_related("by").order_by("at", "pk"),
        "offers": order.offers.select_related("team").order_by("rank", "pk"),
        "map_data": desk.order_map(order, match),
        "tile_url": settings.MAP_TILE_URL,
        "dispatch_form": DispatchForm(candidates=candidates),
        "reject_form": RejectForm(),
        "can_recall": order.state == OrderState.DISPATCHING,
        "can_reject": order.state == OrderState.SUBMITTED,
        "can_cancel": order.state in (OrderState.SUBMITTED, OrderState.DISPATCHING, OrderState.ACCEPTED),
    }


@dispatcher_required
def console(request: HttpRequest, order_id: int | None = None) -> HttpResponse:
    context = stream_context(signed_in(request))
    context.update(_queue_context(request))
    if order_id is not None:
        context.update(_panel_context(request, order_id))
    return render(request, "dispatch/console.html", context)


@dispatcher_required
def queue_part(request: HttpRequest) -> HttpResponse:
    return render(request, "dispatch/_queue.html", _queue_context(request))


@dispatcher_required
def order_part(request: HttpRequest, order_id: int) -> HttpResponse:
    return render(request, "dispatch/_panel.html", _panel_context(request, order_id))


def _done(request: HttpRequest, order_id: int, change: Callable[[], Any], success: str) -> HttpResponse:
    try:
        change()
    except DomainError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, success)
    return redirect("console-order", order_id=order_id)


@dispatcher_required
@require_POST
def dispatch_order(request: HttpRequest, order_id: int) -> HttpResponse:
    context = _panel_context(request, order_id)
    form = DispatchForm(request.POST, candidates=context["dispatch_form"].candidates)
    if not form.is_valid():
        messages.error(request, _("Choose how to dispatch, and to which teams."))
        return redirect("console-order", order_id=order_id)
    teams = form.team_ids()
    return _done(
        request,
        order_id,
        lambda: services.order_dispatch(
            order_id=order_id, user=signed_in(request), mode=form.cleaned_data["mode"], team_ids=teams
        ),
        _("Dispatched to %(n)d team(s).") % {"n": len(teams)},
    )


@dispatcher_required
@require_POST
def recall(request: HttpRequest, order_id: int) -> HttpResponse:
    change = lambda: services.order_recall(order_id=order_id, user=signed_in(request))  # noqa: E731
    return _done(request, order_id, change, _("Recalled; the order waits in the queue again."))


@dispatcher_required
@require_POST
def reject(request: HttpRequest, order_id: int) -> HttpResponse:
    form = RejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the reason for rejecting."))
        return redirect("console-order", order_id=order_id)
    note = form.cleaned_data["note"]
    change = lambda: services.order_reject(order_id=order_id, user=signed_in(request), note=note)  # noqa: E731
    return _done(request, order_id, change, _("Rejected; the citizen is told why."))


@dispatcher_required
@require_POST
def cancel(request: HttpRequest, order_id: int) -> HttpResponse:
    change = lambda: services.order_cancel(order_id=order_id, user=signed_in(request))  # noqa: E731
    return _done(request, order_id, change, _("The order is cancelled."))


@dispatcher_required
def place_for_citizen(request: HttpRequest) -> HttpResponse:
    """代点单: an order for a citizen who phoned or walked in; their account is found or made."""
    user = signed_in(request)
    form = PlaceForCitizenForm(request.POST or None, unit=dispatcher_unit(user))
    key = request.POST.get("key") or uuid.uuid4().hex
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        start, end = form.window()
        try:
            citizen = citizen_find_or_make(phone=data["phone"], name=data["name"])
            order, _created = order_place(
                user=user,
                category=data["category"],
                description=data["description"],
                address=data["address"],
                window_start=start,
                window_end=end,
                contact_name=data["name"],
                contact_phone=citizen.phone,
                station=data["station"],
                priority=data["priority"],
                idempotency_key=f"desk-{key}",
                on_behalf_of=citizen,
            )
        except DomainError as error:
            show_errors(form, error)
        else:
            messages.success(request, _("Order #%(id)s placed for %(name)s.") % {"id": order.pk, "name": data["name"]})
            return redirect("console-order", order_id=order.pk)
    return render(request, "dispatch/place.html", {"form": form, "key": key}, status=400 if form.errors else 200)


@dispatcher_required
def board(request: HttpRequest) -> HttpResponse:
    """The big screen (数据大屏): the center's figures, or the dispatcher's own subtree's."""
    user = signed_in(request)
    context = stream_context(user)
    context["figures"] = board_figures(dispatcher_unit(user))
    context["unit"] = dispatcher_unit(user)
    return render(request, "dispatch/board.html", context)


@dispatcher_required
def board_data(request: HttpRequest) -> JsonResponse:
    """The same figures, fetched again when the stream says an order moved."""
    return JsonResponse(board_figures(dispatcher_unit(signed_in(request))), json_dumps_params={"ensure_ascii": False})
