"""Issuing a certificate of volunteer service (谁记录谁证明: the platform's center certifies its own records)."""

import secrets
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import User as Account
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from common.errors import InvalidInput, NotFound
from dispatch.models import Unit
from volunteers.models import ServiceRecord, Volunteer
from volunteers.selectors import counted, volunteer_visible_to

from .models import Certificate, Signatory
from .pdf import Line, Sheet, certificate_pdf

# No 0/O or 1/I: a number read out over the phone is typed right.
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def certificate_number(day: date) -> str:
    """Year and twelve random characters (2026-7KQ4-M2XD-P9TA): unique, and not guessable from another."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(12))
    return f"{day:%Y}-{body[:4]}-{body[4:8]}-{body[8:]}"


def issuer_of(volunteer: Volunteer) -> Unit:
    """The top unit above the volunteer's teams: the center that keeps the records."""
    team = volunteer.teams.select_related("unit").order_by("id").first()
    if team is None:
        raise InvalidInput(_("The volunteer is in no team, so no unit can certify their service."))
    root_id = int(team.unit.path.split("/")[0])
    return Unit.objects.get(pk=root_id)


def verify_url(number: str, base_url: str) -> str:
    base = (settings.PUBLIC_URL or base_url).rstrip("/")
    return f"{base}{reverse('verify', args=[number])}"


def certificate_issue(
    *, user: Account, volunteer_id: int, date_from: date, date_to: date, base_url: str
) -> Certificate:
    """A numbered PDF certificate of the volunteer's counted hours between two dates (both included)."""
    volunteer = Volunteer.objects.filter(pk=volunteer_id).first()
    if volunteer is None or not volunteer_visible_to(user, volunteer):
        raise NotFound(_("Volunteer %(id)s does not exist.") % {"id": volunteer_id})
    errors: dict[str, list[str]] = {}
    if date_from > date_to:
        errors["from"] = [_("The range starts after it ends.")]
    if date_to > timezone.localdate():
        errors["to"] = [_("The range ends in the future.")]
    entries = list(
        counted(ServiceRecord.objects.filter(volunteer=volunteer, day__gte=date_from, day__lte=date_to))
        .select_related("unit")
        .order_by("day", "id")
    )
    if not errors and not entries:
        errors["from"] = [_("No counted service in this range.")]
    if errors:
        raise InvalidInput(_("No certificate was issued."), fields=errors)
    issuer = issuer_of(volunteer)
    signatory = Signatory.objects.filter(unit=issuer).first()
    lines = _lines(entries)
    total = sum((line.hours for line in lines), Decimal(0))
    now = timezone.now()
    with translation.override(settings.LANGUAGE_CODE):  # an official record: in the platform's language
        return _issue(user, volunteer, date_from, date_to, issuer, signatory, lines, total, now, base_url)


def _issue(
    user: Account,
    volunteer: Volunteer,
    date_from: date,
    date_to: date,
    issuer: Unit,
    signatory: Signatory | None,
    lines: list[Line],
    total: Decimal,
    now: datetime,
    base_url: str,
) -> Certificate:
    for _attempt in range(3):
        number = certificate_number(timezone.localdate(now))
        sheet = Sheet(
            number=number,
            name=volunteer.real_name,
            id_type=volunteer.get_id_type_display(),
            id_masked=volunteer.id_masked,
            volunteer_number=volunteer.number,
            date_from=date_from,
            date_to=date_to,
            hours=total,
            lines=lines,
            issuer=issuer.name,
            head=signatory.head if signatory else "",
            handler=signatory.handler if signatory else "",
            phone=signatory.phone if signatory else "",
            issued_on=timezone.localdate(now),
            verify_url=verify_url(number, base_url),
        )
        pdf = certificate_pdf(sheet)
        try:
            with transaction.atomic():
                certificate = Certificate(
                    number=number,
                    volunteer=volunteer,
                    date_from=date_from,
                    date_to=date_to,
                    hours=total,
                    services=len(lines),
                    issuer=issuer,
                    head=sheet.head,
                    handler=sheet.handler,
                    phone=sheet.phone,
                    requested_by=user,
                    issued_at=now,
                )
                certificate.pdf.save(f"{number}.pdf", ContentFile(pdf), save=False)
                certificate.save()
            return certificate
        except IntegrityError:  # the same number drawn twice: draw again
            continue
    raise RuntimeError("three certificate numbers in a row were taken")


def _lines(entries: list[ServiceRecord]) -> list[Line]:
    """One line per service: an entry with its counted corrections folded in; none left at zero."""
    by_entry: dict[int, ServiceRecord] = {}
    hours: dict[int, Decimal] = {}
    for entry in entries:
        key = entry.corrects_id or entry.pk
        if entry.corrects_id is None:
            by_entry[key] = entry
        hours[key] = hours.get(key, Decimal(0)) + entry.hours
    lines = [
        Line(day=e.day, content=e.content, place=e.place, unit=e.unit.name, hours=hours[k])
        for k, e in by_entry.items()
        if hours[k]
    ]
    return sorted(lines, key=lambda line: line.day)
