"""Uploaded photos: only real images are taken, re-encoded without metadata, and shown only to those
who may see the order (issue: hardening)."""

import io

import pytest
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from common.uploads import PhotoFormField, photo_clean
from dispatch import services
from dispatch.models import Order, OrderPhoto
from volunteers import services as field_work

from .. import factories as f
from ..conftest import client_for as client_of
from ..images import image_bytes

pytestmark = pytest.mark.django_db

EVIL_HTML = b"<html><body><script>fetch('/api/v1/orders/').then(r => r.text()).then(alert)</script></body></html>"


def upload(name: str, content: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def complete(client: APIClient, order: Order, volunteer: int, *photos: SimpleUploadedFile):
    return client.post(
        f"/api/v1/orders/{order.pk}/complete/",
        {"summary": "完成", "hours": f'[{{"volunteer": {volunteer}, "hours": 1}}]', "photos": list(photos)},
        format="multipart",
    )


@pytest.fixture
def served(story):
    """An order in service and the id of a volunteer of its team."""
    return story.in_service(), story.team.memberships.first().volunteer_id


def stored_image(photo: OrderPhoto) -> Image.Image:
    with photo.image.open("rb") as stored:
        image = Image.open(io.BytesIO(stored.read()))
        image.load()
    return image


# --- what is taken --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("evil.html", EVIL_HTML, "text/html"),
        ("evil.jpg", EVIL_HTML, "image/jpeg"),
        ("evil.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/svg+xml"),
        ("truncated.jpg", image_bytes()[:40], "image/jpeg"),
        ("empty.png", b"", "image/png"),
    ],
)
def test_it_refuses_a_file_that_is_not_a_photo_and_saves_nothing(story, served, name, content, content_type):
    order, volunteer = served

    response = complete(client_of(story.team_leader), order, volunteer, upload(name, content, content_type))

    assert response.status_code == 400, response.content
    assert "photos" in response.json()["fields"]
    assert not OrderPhoto.objects.exists()
    assert Order.objects.get(pk=order.pk).state == "in_service"


def test_it_refuses_a_photo_of_too_many_pixels_before_decoding_it(story, served, settings):
    settings.PHOTO_MAX_PIXELS = 100
    order, volunteer = served

    response = complete(client_of(story.team_leader), order, volunteer, upload("big.png", image_bytes("PNG", (20, 20))))

    assert response.status_code == 400
    assert "photos" in response.json()["fields"]
    assert not OrderPhoto.objects.exists()


@pytest.mark.parametrize(("fmt", "mode"), [("JPEG", "RGB"), ("PNG", "RGBA"), ("WEBP", "RGB"), ("GIF", "P")])
def test_it_stores_every_photo_as_a_fresh_jpeg(story, served, fmt, mode):
    order, volunteer = served

    response = complete(
        client_of(story.team_leader), order, volunteer, upload(f"site.{fmt.lower()}", image_bytes(fmt, mode=mode))
    )

    assert response.status_code == 200, response.json()
    (photo,) = OrderPhoto.objects.filter(order=order)
    assert photo.image.name.startswith(f"orders/{order.pk}/") and photo.image.name.endswith(".jpg")
    assert stored_image(photo).format == "JPEG"


def test_it_strips_the_gps_position_and_the_camera_from_a_photo(story, served):
    order, volunteer = served
    original = image_bytes(gps=True)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # the upload does carry a position

    complete(client_of(story.team_leader), order, volunteer, upload("site.jpg", original))

    stored = stored_image(OrderPhoto.objects.get(order=order))
    assert not stored.getexif()
    assert not stored.info.get("exif")


def test_the_admins_photo_form_cleans_the_upload_through_the_same_rule():
    field = PhotoFormField()

    with pytest.raises(forms.ValidationError) as refused:
        field.clean(upload("evil.html", EVIL_HTML, "text/html"))
    cleaned = field.clean(upload("site.png", image_bytes("PNG")))

    assert refused.value.code == "not_a_photo"
    assert Image.open(io.BytesIO(cleaned.read())).format == "JPEG"


def test_photo_clean_keeps_a_photo_upright_by_its_exif_orientation():
    image = Image.new("RGB", (30, 10), "orange")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)

    cleaned = Image.open(io.BytesIO(photo_clean(upload("side.jpg", out.getvalue())).read()))

    assert cleaned.size == (10, 30)


# --- who sees it -----------------------------------------------------------------------------


@pytest.fixture
def photo_url(story, served) -> str:
    order, volunteer = served
    response = complete(client_of(story.team_leader), order, volunteer, upload("site.jpg", image_bytes(gps=True)))
    (url,) = response.json()["photos"]
    return url


def test_the_team_the_citizen_and_the_dispatcher_get_the_photo_as_a_jpeg(story, photo_url, station_dispatcher):
    for user in (story.team_leader, story.citizen, story.dispatcher, station_dispatcher):
        response = client_of(user).get(photo_url)

        assert response.status_code == 200
        assert response["Content-Type"] == "image/jpeg"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response["Content-Security-Policy"]
        assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"


def test_nobody_else_gets_the_photo(story, photo_url, other_leader, other_citizen, other_dispatcher):
    assert client_of(None).get(photo_url).status_code in (401, 403)
    for user in (other_leader, other_citizen, other_dispatcher, f.UserFactory()):
        response = client_of(user).get(photo_url)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_a_photo_has_no_public_address_under_media(story, photo_url):
    name = OrderPhoto.objects.get().image.name

    assert client_of(None).get(f"/media/{name}").status_code == 404
    assert client_of(story.team_leader).get(f"/media/{name}").status_code == 404


def test_a_team_that_lost_the_broadcast_sees_the_order_but_not_its_photos(story, other_team, other_leader):
    order = story.dispatching(teams=[story.team, other_team], mode="broadcast")
    services.offer_accept(offer_id=story.offer_of(order).pk, user=story.team_leader)
    field_work.order_start(order_id=order.pk, user=story.team_leader, qr=order.checkin_code)
    volunteer = story.team.memberships.first().volunteer_id
    (url,) = complete(client_of(story.team_leader), order, volunteer, upload("a.jpg", image_bytes())).json()["photos"]

    seen = client_of(other_leader).get(f"/api/v1/orders/{order.pk}/")

    assert seen.status_code == 200
    assert seen.json()["photos"] == []
    assert client_of(other_leader).get(url).status_code == 404
