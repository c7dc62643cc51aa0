"""Signing in with a phone number and a one-time 6-digit code (and, for staff, a password)."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from django.utils import timezone

from accounts.models import SignInCode
from dispatch.models import Notification
from requests_app.models import Citizen

from .. import factories as f

pytestmark = pytest.mark.django_db


def ask_code(api, phone: str = "13912345678", address: str = "10.0.0.1"):
    return api(None).post("/api/v1/auth/code/", {"phone": phone}, format="json", REMOTE_ADDR=address)


def code_sent_to(phone: str) -> str:
    notification = Notification.objects.filter(kind=Notification.Kind.SIGNIN_CODE).order_by("-pk").first()
    assert notification is not None and (notification.phone == phone or notification.user.username == phone)
    return re.search(r"\d{6}", notification.text).group()


def sign_in(api, phone: str, **credentials):
    return api(None).post("/api/v1/auth/token/", {"phone": phone, **credentials}, format="json")


def test_an_unknown_phone_signs_in_with_its_code_and_becomes_a_citizen(api):
    assert ask_code(api).status_code == 202

    response = sign_in(api, "139 1234 5678", code=code_sent_to("13912345678"))

    assert response.status_code == 200 and response.json()["token"]
    citizen = Citizen.objects.get(phone="13912345678")
    assert citizen.user.username == "13912345678"
    assert citizen.user.groups.filter(name="citizen").exists()
    assert not citizen.user.has_usable_password()


def test_a_volunteer_signs_in_with_a_code_into_their_own_account(api, volunteer):
    ask_code(api, volunteer.username)

    response = sign_in(api, volunteer.username, code=code_sent_to(volunteer.username))

    assert response.status_code == 200
    assert not Citizen.objects.filter(phone=volunteer.username).exists()
    assert User.objects.filter(username=volunteer.username).count() == 1


def test_a_code_works_once(api):
    ask_code(api)
    code = code_sent_to("13912345678")
    assert sign_in(api, "13912345678", code=code).status_code == 200

    again = sign_in(api, "13912345678", code=code)

    assert again.status_code == 400 and again.json()["code"] == "wrong_code"


def test_a_code_allows_five_tries_then_none(api):
    ask_code(api)
    code = code_sent_to("13912345678")
    wrong = "000000" if code != "000000" else "111111"
    answers = [sign_in(api, "13912345678", code=wrong).json()["detail"] for _ in range(5)]

    last = sign_in(api, "13912345678", code=code)

    assert "4" in answers[0]
    assert last.status_code == 400 and last.json()["code"] == "wrong_code"
    assert not Citizen.objects.filter(phone="13912345678").exists()


def test_a_code_expires_after_five_minutes(api):
    ask_code(api)
    code = code_sent_to("13912345678")
    SignInCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = sign_in(api, "13912345678", code=code)

    assert response.status_code == 400
    assert not Citizen.objects.filter(phone="13912345678").exists()


def test_asking_again_within_a_minute_is_refused_with_when_to_retry(api):
    ask_code(api)

    again = ask_code(api)

    assert again.status_code == 429 and again.json()["code"] == "rate_limited"
    assert int(again["Retry-After"]) > 0
    assert SignInCode.objects.count() == 1


@override_settings(SIGNIN_CODE_RESEND_S=0, SIGNIN_CODES_PER_PHONE_HOUR=3)
def test_a_phone_gets_a_few_codes_an_hour(api):
    statuses = [ask_code(api).status_code for _ in range(4)]

    assert statuses == [202, 202, 202, 429]


@override_settings(SIGNIN_CODES_PER_ADDRESS_HOUR=2)
def test_an_address_gets_a_few_codes_an_hour(api):
    statuses = [ask_code(api, f"1391234567{n}").status_code for n in range(3)]

    assert statuses == [202, 202, 429]
    assert ask_code(api, "13912345679", address="10.0.0.2").status_code == 202


def test_staff_get_no_code_and_the_answer_does_not_tell(api, dispatcher):
    response = ask_code(api, dispatcher.username)

    assert response.status_code == 202
    assert not Notification.objects.filter(kind=Notification.Kind.SIGNIN_CODE).exists()


def test_staff_sign_in_with_their_password(api, dispatcher):
    assert sign_in(api, dispatcher.username, password=f.PASSWORD).status_code == 200
    wrong = sign_in(api, dispatcher.username, password="nope")
    assert wrong.status_code == 400 and wrong.json()["fields"]["password"]


@pytest.mark.parametrize("phone", ["12345", "2391234567x", "", "139123456789"])
def test_a_malformed_phone_is_named_and_nothing_is_sent(api, phone):
    response = ask_code(api, phone)

    assert response.status_code == 400 and "phone" in response.json()["fields"]
    assert not SignInCode.objects.exists()


def test_the_sign_in_page_takes_the_phone_then_the_code(client):
    page = client.post("/login/", {"phone": "13912345678", "action": "send", "next": "/orders/"})
    assert page.status_code == 200 and 'name="code"' in page.content.decode()

    done = client.post(
        "/login/", {"phone": "13912345678", "code": code_sent_to("13912345678"), "action": "signin", "next": "/orders/"}
    )

    assert done.status_code == 302 and done["Location"] == "/orders/"
    assert client.get("/orders/").status_code == 200


def test_the_sign_in_page_says_a_wrong_code_beside_the_field(client):
    client.post("/login/", {"phone": "13912345678", "action": "send"})

    page = client.post("/login/", {"phone": "13912345678", "code": "12", "action": "signin"})

    assert page.status_code == 200
    assert "field-error" in page.content.decode()


def test_the_sign_in_page_never_sends_you_off_site(client):
    client.post("/login/", {"phone": "13912345678", "action": "send"})
    code = code_sent_to("13912345678")

    done = client.post(
        "/login/", {"phone": "13912345678", "code": code, "action": "signin", "next": "https://evil.example/"}
    )

    assert done["Location"] == "/"


@override_settings(SIGNIN_PASSWORD_MAX_FAILURES=3)
def test_wrong_passwords_lock_the_account_from_that_address_for_a_while(api, dispatcher):
    from django.core.cache import cache

    cache.clear()
    answers = [sign_in(api, dispatcher.username, password="nope").status_code for _ in range(3)]

    locked = sign_in(api, dispatcher.username, password=f.PASSWORD)

    assert answers == [400, 400, 400]
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    cache.clear()
