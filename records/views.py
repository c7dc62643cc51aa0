"""Pages: the public verification of a certificate; the console's ledger decisions and exports."""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User as Account
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from common.errors import DomainError
from common.pages import page_for, signed_in
from dispatch.choices import Level
from dispatch.models import Unit
from dispatch.selectors import dispatch_scope, is_dispatcher
from realtime.selectors import stream_context
from volunteers.ledger import record_decide
from volunteers.selectors import records_to_decide

from . import exports
from .jobs import export_request
from .models import ExportJob
from .selectors import certificate_by_number, public_facts


def verify(request: HttpRequest, number: str) -> HttpResponse:
    certificate = certificate_by_number(number)
    facts = public_facts(certificate) if certificate else None
    return render(request, "records/verify.html", {"facts": facts, "number": number}, status=200 if facts else 404)


dispatcher_required = page_for(is_dispatcher, "dispatch/not_dispatcher.html")


class DecisionForm(forms.Form):
    note = forms.CharField(label=_("Note (needed to decline)"), max_length=1000, required=False)


class ExportForm(forms.Form):
    kind = forms.ChoiceField(label=_("What"), choices=list(exports.KIND_LABELS.items()))
    unit = forms.ModelChoiceField(label=_("Unit"), queryset=Unit.objects.none(), required=False)
    date_from = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    date_to = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    ext = forms.ChoiceField(label=_("Format"), choices=[("xlsx", "Excel (XLSX)"), ("csv", "CSV")])

    def __init__(self, *args: Any, user: Account, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        scope = dispatch_scope(user) or ""
        units = Unit.objects.filter(path__startswith=scope, level__gte=Level.INSTITUTE).order_by("path")
        self.fields["unit"].queryset = units  # type: ignore[attr-defined]


@dispatcher_required
def decisions(request: HttpRequest) -> HttpResponse:
    """Manual entries and corrections waiting for the dispatcher's unit, oldest first."""
    user = signed_in(request)
    rows = records_to_decide(user)[:100]
    return render(request, "records/decisions.html", {**stream_context(user), "rows": rows, "form": DecisionForm()})


@dispatcher_required
@require_POST
def decide(request: HttpRequest, record_id: int) -> HttpResponse:
    form = DecisionForm(request.POST)
    approve = request.POST.get("decision") == "approve"
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        record_decide(user=signed_in(request), record_id=record_id, approve=approve, note=note)
    except DomainError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _("Approved: the hours count.") if approve else _("Declined."))
    return redirect("console-records")


@dispatcher_required
def exports_page(request: HttpRequest) -> HttpResponse:
    """Ask for an export; it is written in the background and listed here with its progress."""
    user = signed_in(request)
    today = timezone.localdate()
    if request.method == "POST":
        form = ExportForm(request.POST, user=user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                export_request(
                    user=user,
                    kind=data["kind"],
                    ext=data["ext"],
                    unit_id=data["unit"].pk if data["unit"] is not None else None,
                    date_from=data["date_from"],
                    date_to=data["date_to"],
                )
            except DomainError as error:
                form.add_error(None, error.detail)
            else:
                messages.success(request, _("The export is being written; it appears below when ready."))
                return redirect("console-exports")
    else:
        form = ExportForm(initial={"date_from": today.replace(day=1), "date_to": today}, user=user)
    context = {
        **stream_context(user),
        "form": form,
        "jobs": ExportJob.objects.filter(user=user).select_related("unit")[:20],
    }
    return render(request, "records/exports.html", context, status=400 if form.errors else 200)
