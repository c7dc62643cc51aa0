"""Reads of issued certificates: what the public may see, and who may download the PDF."""

from typing import Any

from django.contrib.auth.models import User as Account

from dispatch.board import masked
from volunteers.selectors import volunteer_visible_to

from .models import Certificate


def certificate_by_number(number: str) -> Certificate | None:
    return Certificate.objects.select_related("volunteer", "issuer").filter(number=number.strip().upper()).first()


def public_facts(certificate: Certificate) -> dict[str, Any]:
    """What anyone holding the number may confirm: nothing private (no ID, phone, or whole name)."""
    return {
        "number": certificate.number,
        "name": masked(certificate.volunteer.real_name),
        "volunteer_number": certificate.volunteer.number,
        "hours_total": f"{certificate.hours:.1f}",
        "services": certificate.services,
        "from": certificate.date_from.isoformat(),
        "to": certificate.date_to.isoformat(),
        "issuer": certificate.issuer.name,
        "issued_on": certificate.issued_at.date().isoformat(),
        "valid": True,
    }


def may_download(user: Account, certificate: Certificate) -> bool:
    return volunteer_visible_to(user, certificate.volunteer)
