"""Certificates of volunteer service: issued as PDF, read back, and verified publicly with nothing private."""

from datetime import timedelta
from urllib.parse import urlsplit

import pypdfium2 as pdfium
import pytest
import zxingcpp
from django.utils import timezone

from records.models import Certificate, Signatory
from volunteers.models import ServiceRecord

pytestmark = pytest.mark.django_db

ID_NUMBER = "511502199001011234"


@pytest.fixture
def credited(story, center):
    """A volunteer with 2 h on a completed order, an ID on file, and the center's signatory."""
    order = story.completed()
    volunteer = ServiceRecord.objects.get(order=order).volunteer
    volunteer.id_number = ID_NUMBER
    volunteer.save()
    Signatory.objects.create(unit=center, head="李主任", handler="张经办", phone="0831-1234567")
    return volunteer


def issue(api, user, volunteer, days=30, to_days=0):
    today = timezone.localdate()
    body = {"from": (today - timedelta(days=days)).isoformat(), "to": (today - timedelta(days=to_days)).isoformat()}
    return api(user).post(f"/api/v1/volunteers/{volunteer.pk}/certificates/", body, format="json")


def pdf_text_and_qr(data: bytes) -> tuple[str, list[str]]:
    pdf = pdfium.PdfDocument(data)
    page = pdf[0]
    text = page.get_textpage().get_text_range()
    image = page.render(scale=3).to_pil()
    return text, [code.text for code in zxingcpp.read_barcodes(image)]


def test_a_certificate_is_issued_read_back_and_verified(api, credited, center):
    issued = issue(api, credited.user, credited)

    assert issued.status_code == 201, issued.json()
    number, pdf_url, verify_url = (issued.json()[k] for k in ("number", "pdf", "verify_url"))
    assert urlsplit(verify_url).path == f"/verify/{number}/"

    pdf = api(credited.user).get(urlsplit(pdf_url).path)
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    text, codes = pdf_text_and_qr(b"".join(pdf.streaming_content))
    flat = text.replace("\r", "").replace("\n", "")
    for expected in ("志愿服务记录证明", number, credited.real_name, credited.number, "5115**********1234", "2.0"):
        assert expected in flat, expected
    for expected in (center.name, "李主任", "张经办", "0831-1234567", "本平台"):
        assert expected in flat, expected
    assert ID_NUMBER not in flat
    assert codes == [verify_url]

    page = api(None).get(urlsplit(verify_url).path)
    facts = api(None).get(f"/api/v1/certificates/{number}/").json()
    html = page.content.decode()
    assert page.status_code == 200 and number in html and "2.0" in html
    assert facts["number"] == number and facts["hours_total"] == "2.0" and facts["issuer"] == center.name
    assert facts["name"] == f"{credited.real_name[0]}*"
    for private in (credited.real_name, ID_NUMBER, credited.phone, "5115"):
        assert private not in html and private not in str(facts), private


def test_an_unknown_number_is_not_found(api):
    assert api(None).get("/verify/2026-AAAA-BBBB-CCCC/").status_code == 404
    assert api(None).get("/api/v1/certificates/2026-AAAA-BBBB-CCCC/").status_code == 404


def test_strangers_neither_issue_nor_download(api, credited, stranger):
    number = issue(api, credited.user, credited).json()["number"]

    assert issue(api, stranger, credited).status_code == 404
    assert api(stranger).get(f"/api/v1/certificates/{number}/pdf/").status_code == 404
    assert api(None).get(f"/api/v1/certificates/{number}/pdf/").status_code in (401, 403, 404)


def test_leaders_and_dispatchers_may_request_one(api, credited, team_leader, dispatcher):
    assert issue(api, team_leader, credited).status_code == 201
    assert issue(api, dispatcher, credited).status_code == 201
    assert Certificate.objects.filter(volunteer=credited).count() == 2


@pytest.mark.parametrize(("days", "to_days"), [(30, 20), (1, 3), (0, -2)])
def test_an_empty_backwards_or_future_range_issues_nothing(api, credited, days, to_days):
    response = issue(api, credited.user, credited, days=days, to_days=to_days)

    assert response.status_code == 400
    assert not Certificate.objects.exists()


def test_uncounted_entries_are_left_off(api, credited, team_leader):
    credit = ServiceRecord.objects.get(volunteer=credited)
    api(team_leader).post(f"/api/v1/records/{credit.pk}/correction/", {"hours": "-1", "reason": "x"}, format="json")

    issue(api, credited.user, credited)

    assert Certificate.objects.get().hours == 2


def test_a_certificate_number_reads_well():
    from records.services import ALPHABET, certificate_number

    number = certificate_number(timezone.localdate())
    year, *groups = number.split("-")
    assert year == str(timezone.localdate().year) and [len(g) for g in groups] == [4, 4, 4]
    assert set("".join(groups)) <= set(ALPHABET)
