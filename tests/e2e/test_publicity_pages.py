"""媒体宣传 in a browser: the public wall and the message board on a 360 px phone, and the media
editor's desk writing up a consented order and publishing it."""

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from publicity import services as publicity
from publicity.models import Comment, Message, Story, Vote

from .pages import screenshot, serious_violations, sign_in_with_code
from .test_whole_loop import DESK, sign_in_with_password

pytestmark = pytest.mark.e2e

MESSAGE_PHONE = "13912345678"


def flash(page: Page, text: str) -> None:
    """The one-off message the page says after a form post, in the status region."""
    expect(page.get_by_role("status").filter(has_text=text)).to_be_visible()


def image_loaded(page: Page, selector: str) -> bool:
    return page.locator(selector).first.evaluate("img => img.complete && img.naturalWidth > 0")


def serve_photos_from_the_test_process(page: Page, story) -> None:
    """The fixture saved the photo in this process's InMemoryStorage (config/settings/test.py), which
    daphne, another process, cannot read: it would answer 500. The browser gets the same bytes here."""
    photo = story.photos.get()
    with photo.image.open("rb") as file:
        body = file.read()
    page.route(
        f"**/api/v1/stories/{story.pk}/photos/{photo.pk}/", lambda r: r.fulfill(body=body, content_type="image/jpeg")
    )


def test_anyone_reads_the_wall_and_a_citizen_likes_comments_and_votes(phone, published, citizen: User):
    page = phone().new_page()
    serve_photos_from_the_test_process(page, published)
    page.goto("/wall/")
    story = page.locator(f"#story-{published.pk}")
    expect(story.get_by_role("heading", name=published.title)).to_be_visible()
    expect(story).to_contain_text(published.team.name)
    photo = story.get_by_role("img", name=re.compile(re.escape(published.team.name)))
    expect(photo).to_have_count(1)
    photo.scroll_into_view_if_needed()
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    assert image_loaded(page, f"#story-{published.pk} img.story-photo")
    # Anonymous: no comment box, but the like button and the vote are there (they ask to sign in).
    expect(story.locator("textarea")).to_have_count(0)
    # Checked at the end, so that a finding here does not hide how the forms behave.
    anonymous_findings = serious_violations(page)
    screenshot(page, "wall")

    sign_in_with_code(page, citizen.username, "/wall/")
    story = page.locator(f"#story-{published.pk}")
    story.get_by_role("button", name=re.compile(r"^♥ (点赞|Like) 0$")).click()
    page.wait_for_url(f"**/wall/#story-{published.pk}")
    flash(page, "已点赞。")
    expect(story.get_by_role("button", name=re.compile(r"^♥ (点赞|Like) 1$"))).to_be_visible()
    assert Story.objects.get(pk=published.pk).likes == 1

    story.get_by_label(re.compile("您的评论|Your comment")).fill("感谢志愿者们的辛苦付出！")
    story.get_by_role("button", name=re.compile("^(发送|Send)$")).click()
    page.wait_for_url(f"**/wall/#story-{published.pk}")
    flash(page, "谢谢！评论经编辑审核后显示。")
    comment = Comment.objects.get(story=published)
    assert (comment.user_id, comment.state) == (citizen.pk, "held")
    # Held: not on the wall until the editor approves it.
    expect(page.locator(f"#story-{published.pk}")).not_to_contain_text("感谢志愿者们的辛苦付出")

    vote = page.locator("#vote")
    vote.locator("label.choice", has_text=published.team.name).click()
    vote.get_by_role("button", name=re.compile("^(投票|Vote)$")).click()
    page.wait_for_url("**/wall/#vote")
    flash(page, "感谢您的投票。")
    assert Vote.objects.filter(user=citizen, team=published.team).count() == 1

    page.locator("#vote label.choice", has_text=published.team.name).click()
    page.locator("#vote").get_by_role("button", name=re.compile("^(投票|Vote)$")).click()
    page.wait_for_url("**/wall/#vote")
    flash(page, "您本月已经投过票了。")
    assert Vote.objects.filter(user=citizen).count() == 1
    assert {"anonymous": anonymous_findings, "signed in": serious_violations(page)} == {
        "anonymous": [],
        "signed in": [],
    }


def test_anyone_leaves_a_message_and_staff_answer_in_public(phone, dispatcher: User):
    page = phone().new_page()
    page.goto("/messages/")
    assert serious_violations(page) == []
    page.get_by_label(re.compile("留言内容|Your message")).fill("小区路灯坏了，晚上很黑，请帮忙看看。")
    page.get_by_label(re.compile("^(电话（选填）|Phone \\(optional\\))$")).fill(MESSAGE_PHONE)
    page.get_by_role("button", name=re.compile("提交留言|Send the message")).click()

    page.wait_for_url("**/messages/")
    flash(page, "已提交，实践中心会阅读每一条留言。")
    message = Message.objects.get()
    assert message.phone == MESSAGE_PHONE
    row = page.locator(f"#message-{message.pk}")
    expect(row).to_contain_text("小区路灯坏了")
    # The phone is for staff only: nowhere on the public page, not even in the emptied form.
    assert MESSAGE_PHONE not in page.content()

    publicity.message_reply(user=dispatcher, message_id=message.pk, text="已联系物业，本周内修好。")
    page.reload()
    expect(row.locator(".reply")).to_contain_text(re.compile("(回复：|Answer:) *已联系物业，本周内修好。"))
    assert MESSAGE_PHONE not in page.content()
    assert serious_violations(page) == []
    screenshot(page, "messages")


def test_the_editor_writes_up_a_consented_order_and_publishes_it(phone, editor: User, consented):
    page = phone(**DESK).new_page()
    sign_in_with_password(page, editor, "/editor/")
    assert serious_violations(page) == []

    order = page.locator("details").filter(has=page.locator(f'form[action$="/editor/orders/{consented.pk}/draft/"]'))
    order.locator("summary").click()
    order.get_by_label(re.compile("^(标题|Title)$")).fill("服务队帮老人修好了水管")
    order.get_by_label(re.compile("^(正文|Text)$")).fill("队员们一个下午就修好了，老人很满意。")
    order.locator("label.choice").first.click()  # the checkbox sits under its styled label
    screenshot(page, "editor")
    order.get_by_role("button", name=re.compile("保存草稿|Save the draft")).click()

    page.wait_for_url("**/editor/")
    flash(page, "草稿已保存。")
    story = Story.objects.get(order=consented)
    assert (story.state, story.photos.count()) == ("draft", 1)
    row = page.locator(f'[data-story="{story.pk}"]')
    expect(row).to_contain_text("服务队帮老人修好了水管")
    # Written up: the order leaves the list of orders to write about.
    expect(page.locator(f'form[action$="/editor/orders/{consented.pk}/draft/"]')).to_have_count(0)
    row.get_by_role("button", name=re.compile("^(发布|Publish)$")).click()

    page.wait_for_url("**/editor/")
    flash(page, "已发布。")
    expect(
        page.locator(f'[data-story="{story.pk}"]').get_by_role("button", name=re.compile("撤回|Withdraw"))
    ).to_be_visible()
    assert Story.objects.get(pk=story.pk).state == "published"
    assert serious_violations(page) == []

    wall = phone().new_page()
    wall.goto("/wall/")
    card = wall.locator(f"#story-{story.pk}")
    expect(card.get_by_role("heading", name="服务队帮老人修好了水管")).to_be_visible()
    expect(card).to_contain_text(consented.team.name)
    expect(card.locator("img.story-photo")).to_have_count(1)
