"""The certificate of volunteer service (志愿服务记录证明) as a PDF, drawn with reportlab.

The text is Chinese whatever the reader's language: it is an official record. The font is
embedded (subset), so it renders on machines without CJK fonts.
"""

import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

FONT = "CertificateCJK"
QR_SIZE = 32 * mm


@dataclass(frozen=True)
class Line:
    day: date
    content: str
    place: str
    unit: str
    hours: Decimal


@dataclass(frozen=True)
class Sheet:
    """Everything a certificate says; `records.services.certificate_issue` fills it."""

    number: str
    name: str
    id_type: str
    id_masked: str
    volunteer_number: str
    date_from: date
    date_to: date
    hours: Decimal
    lines: list[Line]
    issuer: str
    head: str
    handler: str
    phone: str
    issued_on: date
    verify_url: str


@cache
def _font() -> str:
    path = Path(settings.CERTIFICATE_FONT)
    # A collection (.ttc) holds several faces: the first is the regular one.
    pdfmetrics.registerFont(TTFont(FONT, str(path), subfontIndex=0))
    return FONT


def _styles() -> dict[str, ParagraphStyle]:
    font = _font()
    base = ParagraphStyle("body", fontName=font, fontSize=11, leading=17, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=20, leading=28, alignment=1, spaceAfter=4 * mm),
        "number": ParagraphStyle("number", parent=base, fontSize=10, alignment=2),
        "body": base,
        "cell": ParagraphStyle("cell", parent=base, fontSize=9, leading=12),
        "small": ParagraphStyle("small", parent=base, fontSize=8.5, leading=12, textColor=colors.HexColor("#444444")),
    }


def _qr(url: str) -> Flowable:
    widget = QrCodeWidget(url, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(QR_SIZE, QR_SIZE, transform=[QR_SIZE / (x1 - x0), 0, 0, QR_SIZE / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


def _hours(value: Decimal) -> str:
    return f"{value:.1f}"


def certificate_pdf(sheet: Sheet) -> bytes:
    """The certificate as PDF bytes, in the active language (the caller picks the platform's)."""
    s = _styles()
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=_("Certificate of volunteer service"),
        author=sheet.issuer,
        subject=sheet.number,
    )
    story: list[Flowable] = [
        Paragraph(_("Certificate of volunteer service"), s["title"]),
        Paragraph(_("Certificate number: %(number)s") % {"number": sheet.number}, s["number"]),
        Spacer(1, 4 * mm),
        Paragraph(
            _(
                "This certifies that %(name)s (%(id_type)s: %(id)s; volunteer number %(volunteer)s) served as a "
                "volunteer from %(from)s to %(to)s, for %(hours)s hours in all, as listed below."
            )
            % {
                "name": sheet.name,
                "id_type": sheet.id_type,
                "id": sheet.id_masked,
                "volunteer": sheet.volunteer_number,
                "from": sheet.date_from.isoformat(),
                "to": sheet.date_to.isoformat(),
                "hours": _hours(sheet.hours),
            },
            s["body"],
        ),
        Spacer(1, 4 * mm),
        _lines_table(sheet, s),
        Spacer(1, 6 * mm),
        Paragraph(_("Issued by: %(unit)s (seal)") % {"unit": sheet.issuer}, s["body"]),
        Paragraph(
            _("Person in charge: %(head)s    Handled by: %(handler)s    Telephone: %(phone)s")
            % {"head": sheet.head or "—", "handler": sheet.handler or "—", "phone": sheet.phone or "—"},
            s["body"],
        ),
        Paragraph(_("Date of issue: %(date)s") % {"date": sheet.issued_on.isoformat()}, s["body"]),
        Spacer(1, 6 * mm),
        Table(
            [[_qr(sheet.verify_url), Paragraph(_verify_text(sheet), s["small"])]],
            colWidths=[QR_SIZE + 4 * mm, None],
            style=TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE")]),
        ),
    ]
    doc.build(story)
    return out.getvalue()


def _lines_table(sheet: Sheet, s: dict[str, ParagraphStyle]) -> Table:
    head = [_("Date"), _("Service"), _("Place"), _("Organised by"), _("Hours")]
    rows = [[Paragraph(text, s["cell"]) for text in head]]
    for line in sheet.lines:
        cells = [line.day.isoformat(), line.content, line.place, line.unit, _hours(line.hours)]
        rows.append([Paragraph(_escape(text), s["cell"]) for text in cells])
    rows.append([Paragraph(_("Total"), s["cell"]), "", "", "", Paragraph(_hours(sheet.hours), s["cell"])])
    widths = [24 * mm, 52 * mm, 38 * mm, 40 * mm, 16 * mm]
    return Table(
        rows,
        colWidths=widths,
        repeatRows=1,
        style=TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#888888")),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("SPAN", (0, -1), (3, -1)),
            ]
        ),
    )


def _verify_text(sheet: Sheet) -> str:
    return "<br/>".join(
        [
            _("Scan the code or open %(url)s to verify this certificate.") % {"url": _escape(sheet.verify_url)},
            _(
                "This certificate is a record of the Civic Dispatch volunteer service platform, issued from the "
                "records it keeps under the Measures for Recording and Certifying Volunteer Service (2021)."
            ),
        ]
    )


def _escape(text: str) -> str:
    # Paragraph reads a small markup language: user text must not be taken for tags.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
