"""Stories: consent required, draft, publish, withdraw; one like per person; moderated comments; the vote."""

import pytest

from publicity.models import Like, Story, StoryLog, Vote
from realtime.models import Event

pytestmark = pytest.mark.django_db


def draft(api, user, order, **body):
    return api(user).post(
        "/api/v1/stories/", {"order": order.pk, "title": "好人好事", "body": "服务队耐心细致。", **body}, format="json"
    )


def test_a_story_needs_the_citizens_consent(api, story, editor, citizen):
    from requests_app.services import order_evaluate

    order = story.completed()
    order_evaluate(order_id=order.pk, user=citizen, rating=5, publicity_consent=False)

    response = draft(api, editor, order)

    assert response.status_code == 400 and response.json()["code"] == "no_consent"
    assert not Story.objects.exists()


def test_only_the_media_editor_drafts(api, consented, dispatcher, citizen):
    assert draft(api, dispatcher, consented).status_code == 403
    assert draft(api, citizen, consented).status_code == 403


def test_the_citizens_name_phone_and_address_are_kept_out(api, consented, editor):
    for leak in (consented.contact_name, consented.contact_phone, consented.address):
        response = draft(api, editor, consented, body=f"感谢{leak}的信任")
        assert response.status_code == 400 and "body" in response.json()["fields"]


def test_draft_publish_withdraw_each_logged(api, consented, editor, citizen):
    made = draft(api, editor, consented).json()
    assert made["state"] == "draft"
    assert api(None).get("/api/v1/stories/").json() == []

    published = api(editor).post(f"/api/v1/stories/{made['id']}/publish/")
    wall = api(None).get("/api/v1/stories/").json()
    again = api(editor).post(f"/api/v1/stories/{made['id']}/publish/")
    withdrawn = api(editor).post(f"/api/v1/stories/{made['id']}/withdraw/")

    assert published.json()["state"] == "published" and [s["id"] for s in wall] == [made["id"]]
    assert wall[0]["team"]["id"] == consented.team_id
    assert again.status_code == 409
    assert withdrawn.json()["state"] == "withdrawn" and api(None).get("/api/v1/stories/").json() == []
    assert list(StoryLog.objects.values_list("action", flat=True)) == ["draft", "publish", "withdraw"]
    assert "media" in Event.objects.get(type="story.published").groups


def test_one_like_per_person(api, published, citizen, volunteer):
    first = api(citizen).post(f"/api/v1/stories/{published.pk}/like/")
    second = api(citizen).post(f"/api/v1/stories/{published.pk}/like/")
    other = api(volunteer).post(f"/api/v1/stories/{published.pk}/like/")

    assert (first.json(), second.json()) == ({"likes": 1, "liked": True}, {"likes": 1, "liked": False})
    assert other.json()["likes"] == 2 and Like.objects.count() == 2
    assert api(None).post(f"/api/v1/stories/{published.pk}/like/").status_code in (401, 403)


def test_comments_are_held_until_the_editor_approves(api, published, citizen, editor):
    held = api(citizen).post(f"/api/v1/stories/{published.pk}/comments/", {"text": "点赞志愿者!"}, format="json")
    rejected = api(citizen).post(f"/api/v1/stories/{published.pk}/comments/", {"text": "广告"}, format="json")

    assert held.status_code == 201 and held.json()["state"] == "held"
    assert api(None).get(f"/api/v1/stories/{published.pk}/comments/").json() == []
    assert [c["id"] for c in api(editor).get("/api/v1/comments/").json()] == [held.json()["id"], rejected.json()["id"]]
    assert api(citizen).post(f"/api/v1/comments/{held.json()['id']}/approve/").status_code == 403

    api(editor).post(f"/api/v1/comments/{held.json()['id']}/approve/")
    api(editor).post(f"/api/v1/comments/{rejected.json()['id']}/reject/")

    shown = api(None).get(f"/api/v1/stories/{published.pk}/comments/").json()
    assert [c["text"] for c in shown] == ["点赞志愿者!"]
    assert citizen.username not in str(shown)


def test_one_vote_per_person_per_month(api, published, citizen, editor):
    board = api(None).get("/api/v1/votes/current/").json()
    first = api(citizen).post("/api/v1/votes/current/", {"team": published.team_id}, format="json")
    second = api(citizen).post("/api/v1/votes/current/", {"team": published.team_id}, format="json")

    assert [t["id"] for t in board["teams"]] == [published.team_id] and board["counts"] is None
    assert first.status_code == 201 and second.status_code == 409 and second.json()["code"] == "already_voted"
    assert Vote.objects.count() == 1
    assert api(citizen).get("/api/v1/votes/current/").json()["counts"] is None
    assert api(editor).get("/api/v1/votes/current/").json()["counts"] == [
        {"team": published.team_id, "name": published.team.name, "votes": 1}
    ]


def test_a_chosen_photo_is_public_once_published(api, published):
    url = api(None).get("/api/v1/stories/").json()[0]["photos"][0]

    assert api(None).get(url).status_code == 200
    published.withdraw()
    published.save()
    assert api(None).get(url).status_code == 404
