"""Pages: the public wall (/wall/) and message board (/messages/), the editor's desk, the console's follow-ups.

Reading needs no account; every write is a plain form post that works without JavaScript.
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from common.errors import DomainError
from common.pages import page_for, signed_in
from dispatch.choices import Level
from dispatch.models import Order, Unit
from dispatch.selectors import dispatch_scope, is_dispatcher
from realtime.selectors import stream_context
from requests_app.models import Category
from volunteers.forms import PhotosField

from . import followups, services
from .models import Comment, Message, MessageState, Story
from .selectors import followups_open, messages_public, stories_public, vote_board

editor_required = page_for(services.is_editor, "publicity/not_editor.html")
dispatcher_required = page_for(is_dispatcher, "dispatch/not_dispatcher.html")


class MessageForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Your message"), max_length=1000, widget=forms.Textarea(attrs={"rows": 4})
    )
    phone = forms.CharField(
        label=gettext_lazy("Phone (optional)"),
        max_length=20,
        required=False,
        help_text=gettext_lazy("Only staff see it, to call you back."),
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    photo = PhotosField(label=gettext_lazy("Photo (optional)"), required=False)
    lat = forms.FloatField(widget=forms.HiddenInput, required=False, min_value=-90, max_value=90)
    lng = forms.FloatField(widget=forms.HiddenInput, required=False, min_value=-180, max_value=180)


def _done(request: HttpRequest, call: Any, ok: str, to: str) -> HttpResponse:
    """Run a service; say what happened; back to the page."""
    try:
        call()
    except DomainError as error:
        messages.error(request, error.in_words())
    else:
        messages.success(request, ok)
    return redirect(to)


def wall(request: HttpRequest) -> HttpResponse:
    order = "liked" if request.GET.get("order") == "liked" else "new"
    user = request.user
    shown = Prefetch("comments", queryset=Comment.objects.filter(state="approved").order_by("at"), to_attr="shown")
    context = {
        "stories": stories_public(order).prefetch_related(shown)[:50],
        "order": order,
        "vote": vote_board(timezone.localdate(), editor=user.is_authenticated and services.is_editor(user)),
    }
    return render(request, "publicity/wall.html", context)


@require_POST
def like(request: HttpRequest, story_id: int) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect(f"/login/?next=/wall/%23story-{story_id}")
    return _done(
        request,
        lambda: services.story_like(user=signed_in(request), story_id=story_id),
        _("Liked."),
        f"/wall/#story-{story_id}",
    )


@require_POST
def comment(request: HttpRequest, story_id: int) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect(f"/login/?next=/wall/%23story-{story_id}")
    text = request.POST.get("text", "")
    return _done(
        request,
        lambda: services.comment_add(user=signed_in(request), story_id=story_id, text=text),
        _("Thank you: your comment shows once the editor has read it."),
        f"/wall/#story-{story_id}",
    )


@require_POST
def vote(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("/login/?next=/wall/%23vote")
    team = request.POST.get("team", "")
    return _done(
        request,
        lambda: services.vote_cast(user=signed_in(request), team_id=int(team) if team.isdigit() else 0),
        _("Thank you for voting."),
        "/wall/#vote",
    )


def board(request: HttpRequest) -> HttpResponse:
    """留言板: the messages and their answers; a form for a new one."""
    form = MessageForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        photos = data["photo"] or []
        try:
            services.message_post(
                user=request.user if request.user.is_authenticated else None,
                text=data["text"],
                lat=data["lat"],
                lng=data["lng"],
                phone=data["phone"],
                photo=photos[0] if photos else None,
            )
        except DomainError as error:
            for field, problems in error.fields.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            messages.success(request, _("Sent. The practice center reads every message."))
            return redirect("messages-board")
    status = 400 if request.method == "POST" else 200
    return render(request, "publicity/messages.html", {"form": form, "rows": messages_public()[:100]}, status=status)


@editor_required
def desk(request: HttpRequest) -> HttpResponse:
    """The media editor's desk: consented orders to write up, stories, comments waiting, the vote, messages."""
    used = Story.objects.values("order_id")
    consented = (
        Order.objects.filter(publicity_consent=True, state__in=("completed", "closed"))
        .exclude(pk__in=used)
        .select_related("category", "team")
        .prefetch_related("photos")
        .order_by("-closed_at", "-id")[:30]
    )
    context = {
        **stream_context(signed_in(request)),
        "consented": consented,
        "stories": Story.objects.select_related("team").order_by("-created_at")[:50],
        "held": Comment.objects.filter(state="held").select_related("story").order_by("at")[:100],
        "vote": vote_board(timezone.localdate(), editor=True),
        "open_messages": Message.objects.filter(state=MessageState.OPEN).order_by("at")[:50],
    }
    return render(request, "publicity/desk.html", context)


@editor_required
@require_POST
def draft(request: HttpRequest, order_id: int) -> HttpResponse:
    photo_ids = [int(p) for p in request.POST.getlist("photos") if p.isdigit()]
    title, body = request.POST.get("title", ""), request.POST.get("body", "")
    return _done(
        request,
        lambda: services.story_draft(
            user=signed_in(request), order_id=order_id, title=title, body=body, photo_ids=photo_ids
        ),
        _("Draft saved."),
        "/editor/",
    )


@editor_required
@require_POST
def story_step(request: HttpRequest, story_id: int, step: str) -> HttpResponse:
    if step not in ("publish", "withdraw"):
        raise Http404
    move = services.story_publish if step == "publish" else services.story_withdraw
    done = _("Published.") if step == "publish" else _("Withdrawn.")
    return _done(request, lambda: move(user=signed_in(request), story_id=story_id), done, "/editor/")


@editor_required
@require_POST
def moderate(request: HttpRequest, comment_id: int) -> HttpResponse:
    approve = request.POST.get("decision") == "approve"
    return _done(
        request,
        lambda: services.comment_decide(user=signed_in(request), comment_id=comment_id, approve=approve),
        _("Approved.") if approve else _("Rejected."),
        "/editor/",
    )


@require_POST
def message_step(request: HttpRequest, message_id: int, step: str) -> HttpResponse:
    if step not in ("reply", "hide"):
        raise Http404
    user = signed_in(request) if request.user.is_authenticated else None
    back = request.POST.get("back") or "/editor/"
    back = back if back in ("/editor/", "/console/followups/") else "/editor/"
    if user is None:
        return redirect("/login/")
    if step == "reply":
        text = request.POST.get("text", "")
        return _done(
            request,
            lambda: services.message_reply(user=user, message_id=message_id, text=text),
            _("Answered in public."),
            back,
        )
    reason = request.POST.get("reason", "")
    return _done(
        request, lambda: services.message_hide(user=user, message_id=message_id, reason=reason), _("Hidden."), back
    )


@dispatcher_required
def followup_list(request: HttpRequest) -> HttpResponse:
    """Follow-ups of the unit and messages waiting: the console's after-service desk."""
    context = {
        **stream_context(signed_in(request)),
        "rows": followups_open(signed_in(request))[:100],
        "open_messages": Message.objects.filter(state=MessageState.OPEN).order_by("at")[:50],
        "categories": Category.objects.order_by("id"),
        "stations": Unit.objects.filter(path__startswith=dispatch_scope(signed_in(request)) or "", level=Level.STATION)
        .order_by("path")
        .only("name"),
    }
    return render(request, "publicity/followups.html", context)


@dispatcher_required
@require_POST
def followup_close(request: HttpRequest, followup_id: int) -> HttpResponse:
    note = request.POST.get("note", "")
    return _done(
        request,
        lambda: followups.followup_close(user=signed_in(request), followup_id=followup_id, note=note),
        _("Closed."),
        "/console/followups/",
    )


@dispatcher_required
@require_POST
def visit(request: HttpRequest) -> HttpResponse:
    order = request.POST.get("order", "")
    reached = request.POST.get("reached") == "yes"
    satisfied = {"yes": True, "no": False}.get(request.POST.get("satisfied", ""))
    note = request.POST.get("note", "")
    return _done(
        request,
        lambda: followups.visit_log(
            user=signed_in(request),
            order_id=int(order) if order.isdigit() else 0,
            reached=reached,
            satisfied=satisfied,
            note=note,
        ),
        _("Return visit saved."),
        "/console/followups/",
    )


@dispatcher_required
@require_POST
def assign(request: HttpRequest, message_id: int) -> HttpResponse:
    category, station = request.POST.get("category", ""), request.POST.get("station", "")
    return _done(
        request,
        lambda: services.message_assign(
            user=signed_in(request),
            message_id=message_id,
            category_id=int(category) if category.isdigit() else 0,
            station_id=int(station) if station.isdigit() else 0,
        ),
        _("Turned into an order."),
        "/console/followups/",
    )
