"""Exports for a unit's dispatchers: orders, ledger entries and team statistics, as CSV or XLSX.

Rows are read from the database in chunks and written as they come: CSV goes to the client at
once; XLSX goes through openpyxl's write-only workbook into a temporary file (its rows never sit
in memory), which is then streamed. Either way memory stays flat however many rows there are.
"""

import csv
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User as Account
from django.db.models import Avg, Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook

from common.errors import Forbidden, InvalidInput, NotFound
from dispatch.models import Order, Unit
from dispatch.selectors import acts_on, dispatcher_unit, is_dispatcher, visit_satisfaction
from volunteers.models import RecordState, ServiceRecord, Team
from volunteers.selectors import star_level

CHUNK = 2000
FORMATS = ("csv", "xlsx")


@dataclass(frozen=True)
class Scope:
    unit: Unit
    date_from: date
    date_to: date

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        zone = timezone.get_current_timezone()
        start = datetime.combine(self.date_from, time.min, zone)
        return start, datetime.combine(self.date_to + timedelta(days=1), time.min, zone)


def export_scope(*, user: Account, unit_id: int | None, date_from: date | None, date_to: date | None) -> Scope:
    """The unit (default: the dispatcher's own) and the dates (default: this month so far), checked."""
    if not is_dispatcher(user):
        raise Forbidden(_("Only dispatchers may export."))
    if unit_id is None:
        unit = dispatcher_unit(user) or Unit.objects.filter(parent__isnull=True).order_by("id").first()
    else:
        unit = Unit.objects.filter(pk=unit_id).first()
    if unit is None:  # an id in the request that names nothing is bad input, not a missing address
        message = _("Unit %(id)s does not exist.") % {"id": unit_id}
        raise InvalidInput(message, fields={"unit": [message]})
    if not acts_on(user, unit):
        raise Forbidden(_("This unit is outside yours."), code="outside_your_unit")
    today = timezone.localdate()
    date_to = date_to or today
    date_from = date_from or date_to.replace(day=1)
    if date_from > date_to:
        raise InvalidInput(_("The range starts after it ends."), fields={"from": [_("Before “to”, please.")]})
    return Scope(unit, date_from, date_to)


@dataclass(frozen=True)
class Export:
    name: str
    header: list[str]
    rows: Iterable[list[Any]]


def _orders(scope: Scope) -> Export:
    start, end = scope.bounds
    rows = (
        Order.objects.filter(station__path__startswith=scope.unit.path, created_at__gte=start, created_at__lt=end)
        .order_by("created_at", "id")
        .values_list(
            "id",
            "created_at",
            "state",
            "category__name",
            "station__name",
            "team__name",
            "priority",
            "dispatched_at",
            "accepted_at",
            "completed_at",
            "closed_at",
            "rating",
            "resolved",
        )
        .annotate(hours=Sum("records__hours", filter=Q(records__state=RecordState.COUNTED)))
    )
    header = [
        _("Order"),
        _("Placed"),
        _("State"),
        _("Category"),
        _("Station"),
        _("Team"),
        _("Priority"),
        _("Dispatched"),
        _("Accepted"),
        _("Completed"),
        _("Closed"),
        _("Rating"),
        _("Solved"),
        _("Volunteer hours"),
    ]
    # The citizen's name, phone and address stay out: an exported file travels.
    return Export("orders", header, _chunked(rows))


def _records(scope: Scope) -> Export:
    records = ServiceRecord.objects.filter(
        unit__path__startswith=scope.unit.path, day__gte=scope.date_from, day__lte=scope.date_to
    )
    totals = dict(
        ServiceRecord.objects.filter(
            state=RecordState.COUNTED, volunteer_id__in=records.values("volunteer_id").distinct()
        )
        .values("volunteer_id")
        .annotate(total=Sum("hours"))
        .values_list("volunteer_id", "total")
    )
    rows = records.order_by("day", "id").values_list(
        "id",
        "day",
        "kind",
        "state",
        "volunteer_id",
        "volunteer__real_name",
        "volunteer__number",
        "team__name",
        "unit__name",
        "order_id",
        "content",
        "place",
        "hours",
        "reason",
        "recorded_at",
        "decided_at",
    )
    header = [
        _("Entry"),
        _("Date of service"),
        _("Kind"),
        _("State"),
        _("Volunteer"),
        _("Volunteer number"),
        _("Star level"),
        _("Team"),
        _("Unit"),
        _("Order"),
        _("Service"),
        _("Place"),
        _("Hours"),
        _("Reason"),
        _("Recorded"),
        _("Decided"),
    ]

    def line(r: tuple[Any, ...]) -> list[Any]:
        stars = star_level(totals.get(r[4]) or 0)
        return [*r[:4], *r[5:7], stars, *r[7:]]

    return Export("records", header, (line(r) for r in _chunked(rows)))


def _teams(scope: Scope) -> Export:
    start, end = scope.bounds
    in_range = Q(orders__accepted_at__gte=start, orders__accepted_at__lt=end)
    teams = Team.objects.filter(unit__path__startswith=scope.unit.path).order_by("unit__path", "name")
    counts = teams.annotate(
        accepted=Count("orders", filter=in_range),
        completed=Count("orders", filter=in_range & Q(orders__completed_at__isnull=False)),
        rating=Avg("orders__rating", filter=in_range),
    ).values_list("id", "name", "unit__name", "accepted", "completed", "rating", "offers_answered", "offers_accepted")
    hours = dict(
        ServiceRecord.objects.filter(
            team__in=teams, state=RecordState.COUNTED, day__gte=scope.date_from, day__lte=scope.date_to
        )
        .values("team_id")
        .annotate(h=Sum("hours"))
        .values_list("team_id", "h")
    )
    members = dict(teams.annotate(n=Count("memberships", filter=Q(memberships__active=True))).values_list("id", "n"))
    visits = visit_satisfaction(list(teams.values_list("id", flat=True)))
    header = [
        _("Team"),
        _("Unit"),
        _("Members"),
        _("Orders accepted"),
        _("Orders completed"),
        _("Mean rating"),
        _("Volunteer hours"),
        _("Offers answered"),
        _("Accepted of answered"),
        _("Return-visit satisfaction"),
    ]

    def line(t: tuple[Any, ...]) -> list[Any]:
        team_id, name, unit, accepted, completed, rating, answered, took = t
        share = round(took / answered, 3) if answered else None
        mean = round(rating, 2) if rating is not None else None
        satisfied = round(visits[team_id], 3) if team_id in visits else None
        return [
            name,
            unit,
            members.get(team_id, 0),
            accepted,
            completed,
            mean,
            hours.get(team_id, 0),
            answered,
            share,
            satisfied,
        ]

    return Export("teams", header, (line(t) for t in counts.iterator(chunk_size=CHUNK)))


KINDS: dict[str, Callable[[Scope], Export]] = {"orders": _orders, "records": _records, "teams": _teams}
KIND_LABELS = {
    "orders": gettext_lazy("Orders"),
    "records": gettext_lazy("Ledger entries"),
    "teams": gettext_lazy("Team statistics"),
}


def export_for(kind: str, scope: Scope) -> Export:
    if kind not in KINDS:
        raise NotFound(_("There is no export called %(kind)s.") % {"kind": kind})
    return KINDS[kind](scope)


def _chunked(rows: Any) -> Iterator[Any]:
    for n, row in enumerate(rows.iterator(chunk_size=CHUNK)):
        if n >= settings.EXPORT_MAX_ROWS:
            return
        yield row


def _cell(value: Any) -> Any:
    """Values a spreadsheet shows as they read: local times without a zone, decimals as numbers."""
    if isinstance(value, datetime):
        return timezone.localtime(value).replace(tzinfo=None)
    if isinstance(value, Decimal):
        return float(value)
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(export: Export) -> Iterator[str]:
    """The export as CSV text, line by line (a byte-order mark first, so spreadsheet programs read UTF-8)."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(export.header)
    for row in export.rows:
        yield writer.writerow(
            ["" if v is None else _cell(v).isoformat(sep=" ") if isinstance(v, datetime) else v for v in row]
        )


def xlsx_file(export: Export, progress: Callable[[int], None] | None = None) -> IO[bytes]:
    """The export as an XLSX workbook in a temporary file, rewound; it is deleted once closed."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=str(KIND_LABELS[export.name])[:31])
    sheet.append(export.header)
    for n, row in enumerate(export.rows, 1):
        sheet.append([_cell(v) for v in row])
        if progress:
            progress(n)
    out = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it (and so deletes it)
    book.save(out)
    out.seek(0)
    return out


def file_name(export: Export, scope: Scope, ext: str) -> str:
    return f"{export.name}-{scope.unit.code}-{scope.date_from:%Y%m%d}-{scope.date_to:%Y%m%d}.{ext}"
