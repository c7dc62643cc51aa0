"""A volunteer's record in the team workspace: ledger, star level, 补录, corrections and certificates."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from common.errors import DomainError
from common.pages import show_errors, signed_in
from records.services import certificate_issue

from . import ledger
from .forms import CertificateForm, CorrectionForm, ManualForm
from .models import ServiceRecord, Volunteer
from .selectors import hours_total, ledger_of, star_level, volunteer_visible_to
from .views import team_member_required


def _volunteer(request: HttpRequest, volunteer_id: int) -> Volunteer:
    volunteer = Volunteer.objects.filter(pk=volunteer_id).first()
    if volunteer is None or not volunteer_visible_to(signed_in(request), volunteer):
        raise Http404(_("There is no such volunteer."))
    return volunteer


def _page(request: HttpRequest, volunteer: Volunteer, **forms: object) -> HttpResponse:
    user = signed_in(request)
    total = hours_total(volunteer.pk)
    today = timezone.localdate()
    context = {
        "volunteer": volunteer,
        "total": total,
        "stars": star_level(total),
        "thresholds": settings.STAR_LEVEL_HOURS,
        "entries": ledger_of(volunteer.pk)[:200],
        "leads": volunteer.teams.filter(leader=user).exists(),
        "own": volunteer.user_id == user.pk,
        "certificates": volunteer.certificates.all()[:10],
        "manual_form": forms.get("manual_form") or ManualForm(initial={"date": today}),
        "correction_form": CorrectionForm(prefix="fix"),
        "certificate_form": forms.get("certificate_form")
        or CertificateForm(initial={"date_from": today.replace(month=1, day=1), "date_to": today}),
    }
    return render(request, "volunteers/ledger.html", context, status=400 if forms else 200)


@team_member_required
def ledger_page(request: HttpRequest, volunteer_id: int) -> HttpResponse:
    return _page(request, _volunteer(request, volunteer_id))


@team_member_required
def my_ledger(request: HttpRequest) -> HttpResponse:
    volunteer = Volunteer.objects.filter(user=signed_in(request)).first()
    if volunteer is None:
        raise Http404(_("You have no volunteer record."))
    return redirect("team-ledger", volunteer.pk)


@team_member_required
@require_POST
def ledger_add(request: HttpRequest, volunteer_id: int) -> HttpResponse:
    volunteer = _volunteer(request, volunteer_id)
    form = ManualForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            ledger.record_manual_add(
                user=signed_in(request),
                volunteer_id=volunteer.pk,
                hours=data["hours"],
                reason=data["reason"],
                order_id=data["order"],
                day=data["date"] if data["order"] is None else None,
                content=data["content"],
                place=data["place"],
                photos=data["photos"],
            )
        except DomainError as error:
            show_errors(form, error)
        else:
            messages.success(request, _("Added; it counts once a dispatcher approves it."))
            return redirect("team-ledger", volunteer.pk)
    return _page(request, volunteer, manual_form=form)


@team_member_required
@require_POST
def ledger_correct(request: HttpRequest, record_id: int) -> HttpResponse:
    record = ServiceRecord.objects.filter(pk=record_id).select_related("volunteer").first()
    if record is None:
        raise Http404(_("There is no such entry."))
    volunteer = _volunteer(request, record.volunteer_id)
    form = CorrectionForm(request.POST, prefix="fix")
    if form.is_valid():
        try:
            ledger.record_correction_ask(
                user=signed_in(request),
                record_id=record.pk,
                hours=form.cleaned_data["hours"],
                reason=form.cleaned_data["reason"],
            )
        except DomainError as error:
            messages.error(request, error.in_words())
        else:
            messages.success(request, _("Correction asked; a dispatcher decides on it."))
    else:
        messages.error(request, _("Give the change in hours (0.5 h steps) and a reason."))
    return redirect("team-ledger", volunteer.pk)


@team_member_required
@require_POST
def certificate_request(request: HttpRequest, volunteer_id: int) -> HttpResponse:
    volunteer = _volunteer(request, volunteer_id)
    form = CertificateForm(request.POST)
    if form.is_valid():
        try:
            certificate = certificate_issue(
                user=signed_in(request),
                volunteer_id=volunteer.pk,
                date_from=form.cleaned_data["date_from"],
                date_to=form.cleaned_data["date_to"],
                base_url=request.build_absolute_uri("/"),
            )
        except DomainError as error:
            form.add_error(None, error.in_words())
        else:
            messages.success(request, _("Certificate %(n)s issued.") % {"n": certificate.number})
            return redirect(reverse("team-ledger", args=[volunteer.pk]) + "#certificates")
    return _page(request, volunteer, certificate_form=form)
