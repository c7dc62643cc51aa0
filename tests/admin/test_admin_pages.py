"""The Django admin: every model's pages answer in Chinese and English, on a district of 405 teams;
order and offer state and the append-only logs cannot be edited there."""

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django import forms as forms_api
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.core.files.base import ContentFile
from django.db import transaction
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts.services import signin_code_send
from dispatch import demo
from dispatch.choices import DispatchMode, Level, OrderState
from dispatch.models import ActionKey, Notification, Offer, Order, OrderPhoto, Transition, Unit
from publicity.models import Comment, FollowUp, Like, Message, ReturnVisit, Story, StoryLog, Vote
from realtime.models import Event
from records.models import Certificate, ExportJob, Signatory
from volunteers.models import RecordLog, RecordPhoto, ServiceRecord, StationHours, Team, Volunteer

from ..images import image_bytes

PROJECT_APPS = ("accounts", "dispatch", "requests_app", "volunteers", "realtime", "records", "publicity")
LANGUAGES = ("zh-hans", "en")
CATALOGUE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


@pytest.fixture(scope="module")
def seeded_district(django_db_setup, django_db_blocker):
    """The demo district, built once for this module inside a transaction that is rolled back at its end;
    each test's own transaction nests inside it. Adds one row of each model the seed leaves empty."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            demo.seed(teams=405, orders=20)
            order = Order.objects.order_by("pk").first()
            team = Team.objects.filter(memberships__isnull=False).order_by("pk").first()
            offer = Offer.objects.create(
                order=order, team=team, mode=DispatchMode.DIRECTED, expires_at=timezone.now() + timedelta(minutes=15)
            )
            Transition.objects.create(
                order=order,
                offer=offer,
                action="dispatch",
                from_state=OrderState.SUBMITTED,
                to_state=OrderState.DISPATCHING,
            )
            OrderPhoto.objects.create(order=order, image=ContentFile(image_bytes(), name="service.jpg"))
            record = ServiceRecord.objects.create(
                volunteer=team.volunteers.first(),
                team=team,
                order=order,
                unit=order.station,
                day=order.created_at.date(),
                content="陪同就医",
                hours=Decimal("2.5"),
            )
            RecordLog.objects.create(record=record, action="add", to_state="counted", by=team.leader)
            RecordPhoto.objects.create(record=record, image=ContentFile(image_bytes(), name="proof.jpg"))
            StationHours.objects.create(station=order.station, day=record.day, hours=record.hours)
            Signatory.objects.create(unit=order.station, head="李主任", handler="张经办", phone="0831-1234567")
            Certificate.objects.create(
                number="2026-AAAA-BBBB-CCCC",
                volunteer=record.volunteer,
                date_from=record.day,
                date_to=record.day,
                hours=record.hours,
                services=1,
                issuer=order.station,
                requested_by=team.leader,
                pdf=ContentFile(b"%PDF-1.4", name="c.pdf"),
            )
            story = Story(order=order, team=team, title="好人好事", body="很好", created_by=team.leader)
            story.save()
            StoryLog.objects.create(story=story, action="draft", by=team.leader)
            Like.objects.create(story=story, user=team.leader)
            Comment.objects.create(story=story, user=team.leader, text="赞")
            Vote.objects.create(month=record.day.replace(day=1), user=team.leader, team=team)
            Message.objects.create(text="路灯坏了", phone="13912340000")
            ExportJob.objects.create(
                user=team.leader, kind="orders", ext="csv", unit=order.station, date_from=record.day, date_to=record.day
            )
            ReturnVisit.objects.create(order=order, by=team.leader, reached=True, satisfied=True)
            FollowUp.objects.create(order=order, reason="low_rating")
            Event.objects.create(type="order.dispatched", groups=[f"order.{order.pk}"], order_id=order.pk, payload={})
            Notification.objects.create(
                user=team.leader, kind=Notification.Kind.OFFER_NEW, order=order, text="新派单,请尽快回复。"
            )
            signin_code_send(phone="13912345678", address="10.0.0.1")
            ActionKey.objects.create(user=team.leader, key="k", action="start", order=order)
            yield order.pk
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def district(seeded_district, db) -> Order:
    """An order of the seeded district, with an offer, a transition, a photo, a service record and an event."""
    return Order.objects.get(pk=seeded_district)


def project_admins() -> list[tuple[type, admin.ModelAdmin]]:
    return [(m, a) for m, a in admin.site._registry.items() if m._meta.app_label in PROJECT_APPS]


def url(lang: str, name: str, *args) -> str:
    # With i18n_patterns the English admin lives under /en/; reversing inside the language finds it either way.
    with translation.override(lang):
        return reverse(name, args=args)


def get(client, lang: str, name: str, *args, **params):
    return client.get(url(lang, name, *args), params, headers={"accept-language": lang})


def admin_name(model: type, view: str) -> str:
    return f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}"


def superuser_request(admin_user):
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    return request


def test_every_model_of_the_project_is_registered() -> None:
    models = {m for app in PROJECT_APPS for m in apps.get_app_config(app).get_models()}

    unregistered = sorted(m.__name__ for m in models if not admin.site.is_registered(m))

    assert unregistered == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_admin_page_answers_in_the_requested_language(admin_client, admin_user, district, lang) -> None:
    request = superuser_request(admin_user)
    pages = []
    for model, model_admin in project_admins():
        pages.append(admin_name(model, "changelist"))
        if model_admin.has_add_permission(request):
            pages.append(admin_name(model, "add"))
        obj = model._default_manager.order_by("pk").first()
        assert obj is not None, f"the fixture has no {model.__name__}"
        pages.append((admin_name(model, "change"), obj.pk))

    failures = []
    for page in pages:
        name, *args = page if isinstance(page, tuple) else (page,)
        response = get(admin_client, lang, name, *args)
        if response.status_code != 200 or f'<html lang="{lang}"' not in response.text:
            failures.append(f"{name}{args}: {response.status_code}")

    assert failures == []


def test_order_changelist_speaks_chinese_by_default(admin_client, district) -> None:
    response = admin_client.get("/admin/dispatch/order/")

    assert response.status_code == 200
    assert '<html lang="zh-hans"' in response.text
    with translation.override("zh-hans"):
        submitted = str(OrderState.SUBMITTED.label)
    assert "订单" in response.text
    assert submitted != "submitted"
    assert submitted in response.text


def test_order_changelist_speaks_english_when_asked(admin_client, district) -> None:
    response = get(admin_client, "en", "admin:dispatch_order_changelist")

    assert "Select order to change" in response.text
    assert "订单" not in response.text


def test_the_admins_own_words_come_from_the_chinese_catalogue(admin_client, district) -> None:
    with translation.override("zh-hans"):
        place_and_time = str(_("Place and time"))
        institute = str(_("institute"))

    change = admin_client.get(url("zh-hans", "admin:dispatch_order_change", district.pk))
    changelist = admin_client.get(url("zh-hans", "admin:volunteers_team_changelist"))

    assert place_and_time != "Place and time"
    assert place_and_time in change.text
    assert institute != "institute"
    assert institute in changelist.text


def test_an_orders_change_page_offers_no_editable_state(admin_client, district) -> None:
    response = get(admin_client, "zh-hans", "admin:dispatch_order_change", district.pk)

    form = response.context["adminform"].form
    assert "state" not in form.fields
    assert not re.search(r'<(input|select|textarea)[^>]*name="state"', response.text)
    with translation.override("zh-hans"):
        assert str(OrderState.SUBMITTED.label) in response.text  # still shown, read-only


def change_form_data(response) -> dict:
    """What a browser would post back from an admin change page, untouched."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms += [formset.management_form, *formset.forms]
    for form in forms:
        for name, field in form.fields.items():
            if isinstance(field, forms_api.FileField):
                continue  # a browser sends no file it was not given
            value = form[name].value()
            if value is not None:
                data[form.add_prefix(name)] = value
    return data


def test_posting_a_state_to_an_order_change_page_does_not_change_the_state(admin_client, district) -> None:
    page = url("zh-hans", "admin:dispatch_order_change", district.pk)
    data = change_form_data(admin_client.get(page))
    data.update({"state": OrderState.CLOSED, "description": "老人需要陪同去医院复查。"})

    response = admin_client.post(page, data)

    assert response.status_code == 302, response.context and [
        response.context["adminform"].form.errors,
        *(inline.formset.errors for inline in response.context["inline_admin_formsets"]),
    ]
    order = Order.objects.get(pk=district.pk)
    assert order.state == OrderState.SUBMITTED
    assert order.description == "老人需要陪同去医院复查。"


def test_orders_are_neither_added_nor_deleted_in_the_admin(admin_client, district) -> None:
    add = get(admin_client, "zh-hans", "admin:dispatch_order_add")
    delete = get(admin_client, "zh-hans", "admin:dispatch_order_delete", district.pk)

    assert add.status_code == 403
    assert delete.status_code == 403
    assert Order.objects.filter(pk=district.pk).exists()


@pytest.mark.parametrize("model", [Transition, Event, Offer, ServiceRecord])
def test_logs_written_by_services_are_read_only_in_the_admin(admin_client, admin_user, district, model) -> None:
    model_admin = admin.site._registry[model]
    request = superuser_request(admin_user)
    obj = model._default_manager.order_by("pk").first()

    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, obj)
    assert not model_admin.has_delete_permission(request, obj)
    assert model_admin.has_view_permission(request, obj)
    assert get(admin_client, "en", admin_name(model, "add")).status_code == 403
    assert get(admin_client, "en", admin_name(model, "delete"), obj.pk).status_code == 403
    change = get(admin_client, "en", admin_name(model, "change"), obj.pk)
    assert change.status_code == 200
    assert 'name="_save"' not in change.text


def test_the_transition_log_is_read_only_inside_the_order_page(admin_client, district) -> None:
    response = get(admin_client, "en", "admin:dispatch_order_change", district.pk)

    inlines = {inline.formset.prefix: inline for inline in response.context["inline_admin_formsets"]}
    assert not inlines["transitions"].has_add_permission
    assert not inlines["transitions"].has_change_permission
    assert not inlines["transitions"].has_delete_permission
    assert not inlines["offers"].has_change_permission
    assert inlines["photos"].has_add_permission


@pytest.mark.parametrize(
    "model",
    [Team, Volunteer, Order, Offer, Transition, ServiceRecord, Unit],
    ids=lambda m: m.__name__,
)
def test_changelists_run_a_fixed_number_of_queries_for_a_full_page(
    admin_client, district, django_assert_max_num_queries, model
) -> None:
    # A page shows 100 rows; one query per row (a missing select_related) would blow well past this.
    with django_assert_max_num_queries(20):
        response = get(admin_client, "en", admin_name(model, "changelist"))

    assert response.status_code == 200


def test_a_team_page_loads_its_foreign_keys_without_listing_every_row(admin_client, district) -> None:
    team = Team.objects.filter(memberships__isnull=False).order_by("pk").first()

    response = get(admin_client, "en", "admin:volunteers_team_change", team.pk)

    # Autocomplete widgets render only the chosen unit, not an <option> for each of the 421 units.
    assert response.text.count("新时代文明实践站</option>") <= 1


def test_volunteers_are_found_by_number_and_by_phone(admin_client, district) -> None:
    volunteer = Volunteer.objects.order_by("-pk").first()

    by_number = get(admin_client, "en", "admin:volunteers_volunteer_changelist", q=volunteer.number)
    by_phone = get(admin_client, "en", "admin:volunteers_volunteer_changelist", q=volunteer.phone)

    assert list(by_number.context["cl"].result_list) == [volunteer]
    assert list(by_phone.context["cl"].result_list) == [volunteer]


def test_orders_are_found_by_number_address_and_phone(admin_client, district) -> None:
    by_number = get(admin_client, "en", "admin:dispatch_order_changelist", q=str(district.pk))
    by_address = get(admin_client, "en", "admin:dispatch_order_changelist", q=district.address)
    by_phone = get(admin_client, "en", "admin:dispatch_order_changelist", q=district.contact_phone)
    by_word = get(admin_client, "en", "admin:dispatch_order_changelist", q="no such order anywhere")

    assert district in by_number.context["cl"].result_list
    assert district in by_address.context["cl"].result_list
    assert district in by_phone.context["cl"].result_list
    assert list(by_word.context["cl"].result_list) == []


def test_units_are_found_by_code(admin_client, district) -> None:
    response = get(admin_client, "en", "admin:dispatch_unit_changelist", q="XZ0101")

    assert [u.code for u in response.context["cl"].result_list] == ["XZ0101"]


def test_the_institute_filter_narrows_teams_to_one_subtree(admin_client, district) -> None:
    institute = Unit.objects.get(code="XZ03")
    expected = Team.objects.filter(unit__path__startswith=institute.path).count()

    response = get(admin_client, "en", "admin:volunteers_team_changelist", institute=institute.pk)

    assert 0 < expected < Team.objects.count()
    assert response.context["cl"].result_count == expected


def test_a_units_parent_cannot_be_moved_once_it_has_a_subtree(admin_client, district) -> None:
    institute = Unit.objects.filter(level=Level.INSTITUTE).first()

    response = get(admin_client, "en", "admin:dispatch_unit_change", institute.pk)

    assert "parent" not in response.context["adminform"].form.fields


def test_a_station_without_children_can_still_be_moved(admin_client, district) -> None:
    station = Unit.objects.filter(level=Level.STATION).first()

    response = get(admin_client, "en", "admin:dispatch_unit_change", station.pk)

    assert "parent" in response.context["adminform"].form.fields


def catalogue_entries(text: str) -> list[dict]:
    """The entries of a .po file: msgid, msgstr, flags (enough to check completeness, not a full parser)."""
    entries: list[dict] = []
    entry: dict | None = None
    key = ""
    for line in text.splitlines():
        starts_entry = line.startswith(("#", "msgctxt ", "msgid "))
        if starts_entry and (entry is None or any(k.startswith("msgstr") for k in entry)):
            entry = {"flags": ""}
            entries.append(entry)
        if line.startswith("#,"):
            entry["flags"] += line
        elif match := re.match(r'^(msgid|msgstr|msgid_plural|msgstr\[\d+\]|msgctxt) "(.*)"$', line):
            key = match.group(1)
            entry[key] = match.group(2)
        elif line.startswith('"') and entry is not None:
            entry[key] += line[1:-1]
    return [e for e in entries if e.get("msgid")]


def test_every_entry_of_the_chinese_catalogue_is_translated_and_keeps_its_placeholders() -> None:
    entries = catalogue_entries(CATALOGUE.read_text(encoding="utf-8"))
    placeholder = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[sdif]|\{\w*\}")

    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    empty = [e["msgid"] for e in entries if not any(v for k, v in e.items() if k.startswith("msgstr"))]
    broken = [
        e["msgid"]
        for e in entries
        for k, v in e.items()
        if k.startswith("msgstr")
        and sorted(placeholder.findall(v)) != sorted(placeholder.findall(e.get("msgid_plural", e["msgid"])))
    ]

    assert len(entries) > 100
    assert (fuzzy, empty, broken) == ([], [], [])
    assert CATALOGUE.with_suffix(".mo").exists()


def test_the_center_dispatcher_works_in_the_admin_with_the_roles_permissions(district, client):
    from django.contrib.auth.models import User

    client.force_login(User.objects.get(username=demo.DISPATCHER_PHONE))
    assert client.get("/admin/dispatch/order/").status_code == 200
    assert client.get("/admin/volunteers/team/1/change/").status_code == 200
    assert client.get(f"/admin/dispatch/order/{district.pk}/delete/").status_code == 403
    assert client.get("/admin/auth/user/").status_code == 403
    citizen = User.objects.get(username=demo.CITIZEN_PHONE)
    client.force_login(citizen)
    assert client.get("/admin/dispatch/order/").status_code == 302  # to the login page: not staff
