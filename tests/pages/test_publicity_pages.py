"""The wall, the message board, the editor's desk and the console's after-service page, through plain posts."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from publicity.models import Comment, FollowUp, Like, Message, ReturnVisit, Story, Vote
from requests_app.services import order_evaluate
from tests.volunteers.test_order_complete import GIF

pytestmark = pytest.mark.django_db


def test_the_wall_reads_without_an_account_and_asks_to_sign_in_to_like(client, published):
    page = client.get("/wall/")
    liked = client.post(f"/wall/stories/{published.pk}/like/")

    assert page.status_code == 200 and published.title in page.content.decode()
    assert liked.status_code == 302 and liked.url.startswith("/login/")
    assert not Like.objects.exists()


def test_a_signed_in_person_likes_comments_and_votes(browser_for, published, citizen):
    me = browser_for(citizen)

    me.post(f"/wall/stories/{published.pk}/like/")
    me.post(f"/wall/stories/{published.pk}/like/")
    me.post(f"/wall/stories/{published.pk}/comment/", {"text": "<b>谢谢</b>"})
    me.post("/wall/vote/", {"team": published.team_id})
    again = me.post("/wall/vote/", {"team": published.team_id}, follow=True)

    assert Like.objects.count() == 1 and Vote.objects.count() == 1
    assert Comment.objects.get().state == "held"
    assert (
        "errorlist" in again.content.decode()
        or "已经投过" in again.content.decode()
        or "voted" in again.content.decode()
    )


def test_an_approved_comment_is_shown_escaped(client, browser_for, published, citizen, editor):
    browser_for(citizen).post(f"/wall/stories/{published.pk}/comment/", {"text": "<script>x()</script>好"})
    browser_for(editor).post(f"/editor/comments/{Comment.objects.get().pk}/", {"decision": "approve"})

    page = client.get("/wall/").content.decode()

    assert "&lt;script&gt;x()&lt;/script&gt;好" in page and "<script>x()" not in page


def test_the_message_board_takes_a_message_without_javascript(client):
    sent = client.post(
        "/messages/",
        {"text": "小区路灯坏了", "phone": "13912340000", "photo": SimpleUploadedFile("a.gif", GIF, "image/gif")},
    )
    bad = client.post("/messages/", {"text": ""})
    page = client.get("/messages/").content.decode()

    assert sent.status_code == 302 and Message.objects.get().photo
    assert bad.status_code == 400 and Message.objects.count() == 1
    assert "小区路灯坏了" in page and "13912340000" not in page


def test_the_editor_drafts_and_publishes_from_the_desk(browser_for, consented, editor, dispatcher):
    desk = browser_for(editor)

    page = desk.get("/editor/").content.decode()
    desk.post(f"/editor/orders/{consented.pk}/draft/", {"title": "暖心服务", "body": "队员耐心细致。"})
    story = Story.objects.get()
    desk.post(f"/editor/stories/{story.pk}/publish/")

    assert f'action="/editor/orders/{consented.pk}/draft/"' in page
    story.refresh_from_db()
    assert story.state == "published"
    assert browser_for(dispatcher).get("/editor/").status_code == 403


def test_the_console_closes_follow_ups_logs_visits_and_assigns_messages(
    browser_for, story, citizen, dispatcher, category, station
):
    order = order_evaluate(order_id=story.completed().pk, user=citizen, rating=1)
    message = Message.objects.create(text="帮忙修水管")
    console = browser_for(dispatcher)

    page = console.get("/console/followups/").content.decode()
    console.post(f"/console/followups/{FollowUp.objects.get().pk}/close/", {"note": "已回访解决"})
    console.post("/console/visits/", {"order": order.pk, "reached": "yes", "satisfied": "no", "note": "仍不满意"})
    console.post(f"/console/messages/{message.pk}/assign/", {"category": category.pk, "station": station.pk})

    assert f'data-followup="{FollowUp.objects.get().pk}"' in page
    assert FollowUp.objects.get().closed_at is not None
    assert ReturnVisit.objects.get().satisfied is False
    message.refresh_from_db()
    assert message.state == "assigned" and message.order is not None
