"""The volunteer team's phone workspace (`/team/`): live offers, the order in hand, history and hours.

Forms post without JavaScript. With it, offers arrive live as a full-screen card with sound, and
check-in and completion made offline wait on the phone and are sent when the connection returns
(static/js/team.js); each carries an idempotency key, so nothing is done twice.
"""

import hashlib
import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from common.errors import DomainError
from common.pages import page_for, signed_in
from dispatch.services import offer_accept, offer_decline
from dispatch.visibility import sees_private_details
from realtime.selectors import stream_context

from . import selectors, services
from .forms import DECLINE_REASONS, CodeCheckinForm, CompleteForm, DeclineForm, GpsCheckinForm
from .models import Membership, Volunteer

team_member_required = page_for(lambda user: selectors.teams_of(user).exists(), "volunteers/not_member.html")


def _answer(request: HttpRequest, *, ok: bool, detail: str, to: str) -> HttpResponse:
    """A queued action replayed by the phone wants JSON; a plain form post a page."""
    if request.headers.get("Accept") == "application/json":
        return JsonResponse({"ok": ok, "detail": detail, "url": to}, status=200 if ok else 400)
    (messages.success if ok else messages.error)(request, detail)
    return redirect(to)


@team_member_required
def workspace(request: HttpRequest) -> HttpResponse:
    context = stream_context(signed_in(request))
    context.update(_offers_context(request))
    context["in_hand"] = selectors.orders_in_hand(signed_in(request))
    context["teams"] = selectors.teams_of(signed_in(request))
    return render(request, "volunteers/workspace.html", context)


def _offers_context(request: HttpRequest) -> dict[str, Any]:
    return {"offers": selectors.live_offers(signed_in(request)), "decline_form": DeclineForm()}


@team_member_required
def offers_part(request: HttpRequest) -> HttpResponse:
    """The live offers, fetched again whenever the stream says an offer moved."""
    return render(request, "volunteers/_offers.html", _offers_context(request))


@team_member_required
@require_POST
def accept(request: HttpRequest, offer_id: int) -> HttpResponse:
    try:
        order = offer_accept(offer_id=offer_id, user=signed_in(request))
    except DomainError as error:
        messages.error(request, error.detail)
        return redirect("team-home")
    messages.success(request, _("Accepted. The citizen's contact is below."))
    return redirect("team-order", order_id=order.pk)


@team_member_required
@require_POST
def decline(request: HttpRequest, offer_id: int) -> HttpResponse:
    form = DeclineForm(request.POST)
    reason = dict(DECLINE_REASONS).get(form.data.get("reason", ""), "") if form.is_valid() else ""
    try:
        offer_decline(offer_id=offer_id, user=signed_in(request), note=str(reason))
    except DomainError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _("Declined; the dispatchers will find another team."))
    return redirect("team-home")


def _order_context(request: HttpRequest, order_id: int) -> dict[str, Any]:
    order = get_object_or_404(selectors.team_orders(signed_in(request)), pk=order_id)
    members = list(Membership.objects.filter(team=order.team, active=True).select_related("volunteer").order_by("pk"))
    me = next((m.volunteer_id for m in members if m.volunteer.user_id == request.user.pk), None)
    hours = order.item.default_duration_hours if order.item else order.category.default_duration_hours
    return {
        "order": order,
        "private": sees_private_details(signed_in(request), order),
        "code_form": CodeCheckinForm(),
        "gps_form": GpsCheckinForm(),
        "complete_form": CompleteForm(members=members, default_hours=Decimal(hours), me=me),
        "checkin_radius": settings.CHECKIN_RADIUS_M,
    }


@team_member_required
def order_page(request: HttpRequest, order_id: int) -> HttpResponse:
    """The accepted order: contact and address (only now), navigation, check-in, completion."""
    context = stream_context(signed_in(request))
    context.update(_order_context(request, order_id))
    return render(request, "volunteers/order.html", context)


@team_member_required
@require_POST
def start(request: HttpRequest, order_id: int) -> HttpResponse:
    get_object_or_404(selectors.team_orders(signed_in(request)), pk=order_id)
    to = reverse("team-order", args=[order_id])
    form = CodeCheckinForm(request.POST) if "qr" in request.POST else GpsCheckinForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        return _answer(request, ok=False, detail=_("Check-in not sent: %(p)s") % {"p": problems}, to=to)
    data = form.cleaned_data
    try:
        services.order_start(
            order_id=order_id,
            user=signed_in(request),
            qr=data.get("qr"),
            lat=data.get("lat"),
            lng=data.get("lng"),
            idempotency_key=data["idempotency_key"],
        )
    except DomainError as error:
        return _answer(request, ok=False, detail=error.detail, to=to)
    return _answer(request, ok=True, detail=_("Checked in. The service has started."), to=to)


@team_member_required
@require_POST
def complete(request: HttpRequest, order_id: int) -> HttpResponse:
    context = _order_context(request, order_id)
    order = context["order"]
    old = context["complete_form"]
    form = CompleteForm(request.POST, request.FILES, members=old.members, default_hours=Decimal(0), me=None)
    to = reverse("team-order", args=[order.pk])
    if not form.is_valid():
        problems = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        return _answer(request, ok=False, detail=_("Completion not sent: %(p)s") % {"p": problems}, to=to)
    try:
        services.order_complete(
            order_id=order.pk,
            user=signed_in(request),
            summary=form.cleaned_data["summary"],
            hours=form.hours(),
            photos=form.cleaned_data["photos"],
            idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except DomainError as error:
        return _answer(request, ok=False, detail=error.detail, to=to)
    return _answer(request, ok=True, detail=_("Completed. Thank you for serving."), to=to)


@team_member_required
def history(request: HttpRequest) -> HttpResponse:
    teams = list(selectors.teams_of(signed_in(request)))
    return render(
        request,
        "volunteers/history.html",
        {
            "orders": selectors.team_history(signed_in(request)),
            "teams": [(team, selectors.member_hours(team)) for team in teams],
            "thresholds": settings.STAR_LEVEL_HOURS,
            "mine": Volunteer.objects.filter(user=signed_in(request)).values_list("pk", flat=True).first(),
        },
    )


def offline(request: HttpRequest) -> HttpResponse:
    return render(request, "volunteers/offline.html")


def manifest(request: HttpRequest) -> JsonResponse:
    """The web app manifest: the team workspace installs on the phone's home screen."""
    data = {
        "name": _("Civic Dispatch · Team"),
        "short_name": _("Team"),
        "start_url": reverse("team-home"),
        "scope": reverse("team-home"),
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#a31f16",
        "lang": request.LANGUAGE_CODE,
        "icons": [
            {"src": static("img/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static("img/icon-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "any maskable"},
        ],
    }
    return JsonResponse(data, content_type="application/manifest+json", json_dumps_params={"ensure_ascii": False})


SHELL_FILES = [
    "css/site.css",
    "js/stream.js",
    "js/duty.js",
    "js/team.js",
    "js/offline-queue.js",
    "django_htmx/htmx-2.min.js",
]


@cache
def _shell_version() -> str:
    """Changes whenever a file of the shell does, so that phones drop the old cache."""
    digest = hashlib.sha256()
    for name in SHELL_FILES:
        found = finders.find(name)
        if found:
            digest.update(Path(str(found)).read_bytes())
    return digest.hexdigest()[:12]


@never_cache
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker, served under /team/ so that its scope is the workspace."""
    shell = [static(name) for name in SHELL_FILES] + [static("img/icon-192.png"), reverse("team-offline")]
    context = {
        "shell": json.dumps(shell),
        "offline_url": reverse("team-offline"),
        "version": _shell_version(),
        "queue_script": static("js/offline-queue.js"),
        "label_start": _("Check-in"),
        "label_complete": _("Completion"),
    }
    return render(request, "volunteers/sw.js", context, content_type="text/javascript")
