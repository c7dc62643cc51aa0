"""Writes of 媒体宣传: stories and their public life (likes, comments, the monthly vote), and messages."""

from datetime import date
from typing import Any

from django.contrib.auth.models import User as Account
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import can_proceed

from accounts.services import citizen_find_or_make
from common.errors import Conflict, Forbidden, InvalidInput, NotFound, PayloadTooLarge
from common.uploads import PhotoRejected, photo_clean
from dispatch.choices import OrderState, Role
from dispatch.models import Order, OrderPhoto, Unit
from dispatch.selectors import is_dispatcher, roles_of
from dispatch.services.core import lock_row, require_dispatcher
from realtime import events
from realtime import groups as g
from requests_app.models import Category
from requests_app.services import next_half_day, order_place
from volunteers.models import Team

from .models import Comment, Like, Message, Story, StoryLog, Vote

SERVED = (OrderState.COMPLETED, OrderState.CLOSED)


def is_editor(user: Account) -> bool:
    return user.is_authenticated and (user.is_superuser or Role.MEDIA_EDITOR in roles_of(user))


def require_editor(user: Account) -> None:
    if not is_editor(user):
        raise Forbidden(_("Only the media editor may do this."))


def month_of(day: date) -> date:
    return day.replace(day=1)


# --- stories ----------------------------------------------------------------------------


def _private_in(order: Order, *texts: str) -> bool:
    """Whether the citizen's name, phone or address shows up in a text meant for the public."""
    secrets = [
        s for s in (order.contact_name.strip(), order.contact_phone.strip(), order.address.strip()) if len(s) >= 2
    ]
    return any(secret in text for secret in secrets for text in texts)


def story_draft(*, user: Account, order_id: int, title: str, body: str, photo_ids: list[int] | None = None) -> Story:
    """A draft from a served order whose citizen consented to publicity; nothing of the citizen in it."""
    require_editor(user)
    title, body = (title or "").strip(), (body or "").strip()
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        message = _("Order %(id)s does not exist.") % {"id": order_id}
        raise InvalidInput(message, fields={"order": [message]})
    errors: dict[str, list[str]] = {}
    if order.state not in SERVED or order.team_id is None:
        errors["order"] = [_("Only a served order can become a story.")]
    elif not order.publicity_consent:
        errors["order"] = [_("The citizen did not consent to publicity.")]
    if not title:
        errors["title"] = [_("This field is required.")]
    if not body:
        errors["body"] = [_("This field is required.")]
    if _private_in(order, title, body):
        errors["body"] = [_("Leave out the citizen's name, phone and address.")]
    photos = list(OrderPhoto.objects.filter(order=order, pk__in=photo_ids or []))
    if len(photos) != len(set(photo_ids or [])):
        errors["photos"] = [_("Choose photos of this order only.")]
    if errors:
        code = "no_consent" if order.state in SERVED and not order.publicity_consent else "invalid"
        raise InvalidInput(_("The story has errors; nothing was saved."), code=code, fields=errors)
    with transaction.atomic():
        story = Story.objects.create(order=order, team_id=order.team_id, title=title[:100], body=body, created_by=user)
        story.photos.set(photos)
        StoryLog.objects.create(story=story, action="draft", by=user)
    return story


def _story_step(user: Account, story_id: int, step: str) -> Story:
    require_editor(user)
    with transaction.atomic():
        story = lock_row(Story, pk=story_id)
        if story is None:
            raise NotFound(_("Story %(id)s does not exist.") % {"id": story_id})
        move = getattr(story, step)
        if not can_proceed(move):
            raise Conflict(
                _("This story is %(state)s: that cannot be done now.") % {"state": story.get_state_display()},
                code="invalid_transition",
            )
        move()
        story.save()
        StoryLog.objects.create(story=story, action=step, by=user)
        events.publish([g.media()], f"story.{step}ed", {"story": story.pk, "title": story.title})
    return story


def story_publish(*, user: Account, story_id: int) -> Story:
    return _story_step(user, story_id, "publish")


def story_withdraw(*, user: Account, story_id: int) -> Story:
    return _story_step(user, story_id, "withdraw")


def _published(story_id: int) -> Story:
    story = Story.objects.filter(pk=story_id, state="published").first()
    if story is None:
        raise NotFound(_("Story %(id)s does not exist.") % {"id": story_id})
    return story


def story_like(*, user: Account, story_id: int) -> tuple[Story, bool]:
    """One like per person: a second changes nothing."""
    story = _published(story_id)
    with transaction.atomic():
        _like, created = Like.objects.get_or_create(story=story, user=user)
        if created:
            Story.objects.filter(pk=story.pk).update(likes=F("likes") + 1)
    story.refresh_from_db(fields=["likes"])
    return story, created


def comment_add(*, user: Account, story_id: int, text: str) -> Comment:
    """A signed-in person's comment, held until the editor approves it."""
    text = (text or "").strip()
    if not text or len(text) > 500:
        raise InvalidInput(_("Write 1 to 500 characters."), fields={"text": [_("Write 1 to 500 characters.")]})
    story = _published(story_id)
    with transaction.atomic():
        comment = Comment.objects.create(story=story, user=user, text=text)
        events.publish([g.media()], "comment.held", {"comment": comment.pk, "story": story.pk})
    return comment


def comment_decide(*, user: Account, comment_id: int, approve: bool) -> Comment:
    require_editor(user)
    with transaction.atomic():
        comment = lock_row(Comment, pk=comment_id)
        if comment is None:
            raise NotFound(_("Comment %(id)s does not exist.") % {"id": comment_id})
        if comment.state != "held":
            raise Conflict(_("This comment was already decided."), code="already_decided")
        comment.approve() if approve else comment.reject()
        comment.decided_by = user
        comment.save()
        events.publish([g.media()], "comment.decided", {"comment": comment.pk, "state": comment.state})
    return comment


def vote_cast(*, user: Account, team_id: int) -> Vote:
    """One vote per person per month for the best team; a second is a 409."""
    team = Team.objects.filter(pk=team_id, active=True).first()
    if team is None:
        message = _("Team %(id)s does not exist.") % {"id": team_id}
        raise InvalidInput(message, fields={"team": [message]})
    try:
        with transaction.atomic():
            vote = Vote.objects.create(month=month_of(timezone.localdate()), user=user, team=team)
            events.publish([g.media()], "vote.cast", {"team": team.pk})
    except IntegrityError:
        raise Conflict(_("You have voted this month already."), code="already_voted") from None
    return vote


# --- messages -------------------------------------------------------------------------


def message_post(
    *,
    user: Account | None,
    text: str,
    lat: float | None = None,
    lng: float | None = None,
    phone: str = "",
    photo: UploadedFile | None = None,
) -> Message:
    """留言: anyone's message; the phone is kept for staff only."""
    text = (text or "").strip()
    errors: dict[str, list[str]] = {}
    if not text or len(text) > 1000:
        errors["text"] = [_("Write 1 to 1000 characters.")]
    if (lat is None) != (lng is None):
        errors["lat"] = [_("Give both lat and lng, or neither.")]
    phone = (phone or "").strip()
    if phone and not (phone.isdigit() and 7 <= len(phone) <= 15):
        errors["phone"] = [_("A phone number of 7 to 15 digits.")]
    if errors:
        raise InvalidInput(_("The message has errors; nothing was saved."), fields=errors)
    cleaned = None
    if photo is not None:
        try:
            cleaned = photo_clean(photo)
        except PhotoRejected as exc:
            error = PayloadTooLarge if exc.code == "too_large" else InvalidInput
            raise error(exc.messages[0], fields={"photo": exc.messages}) from None
    with transaction.atomic():
        message = Message(text=text, lat=lat, lng=lng, phone=phone, by=user if user and user.is_authenticated else None)
        if cleaned is not None:
            message.photo.save(cleaned.name or "photo.jpg", cleaned, save=False)
        message.save()
        events.publish([g.media(), g.board()], "message.posted", {"message": message.pk})
    return message


def _staff_message(user: Account, message_id: int) -> Message:
    if not (is_dispatcher(user) or is_editor(user)):
        raise Forbidden(_("Only staff may do this."))
    message = lock_row(Message, pk=message_id)
    if message is None:
        raise NotFound(_("Message %(id)s does not exist.") % {"id": message_id})
    return message


def message_reply(*, user: Account, message_id: int, text: str) -> Message:
    text = (text or "").strip()
    if not text:
        raise InvalidInput(_("Write the reply."), fields={"text": [_("This field is required.")]})
    with transaction.atomic():
        message = _staff_message(user, message_id)
        _advance(message, "answer")
        message.reply, message.replied_by, message.replied_at = text[:1000], user, timezone.now()
        message.save()
        events.publish([g.media(), g.board()], "message.replied", {"message": message.pk})
    return message


def message_hide(*, user: Account, message_id: int, reason: str) -> Message:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(_("Say why it is hidden."), fields={"reason": [_("This field is required.")]})
    with transaction.atomic():
        message = _staff_message(user, message_id)
        _advance(message, "hide")
        message.hidden_reason = reason[:200]
        message.save()
    return message


def _advance(message: Message, step: str) -> None:
    move = getattr(message, step)
    if not can_proceed(move):
        raise Conflict(
            _("This message is %(state)s.") % {"state": message.get_state_display()}, code="invalid_transition"
        )
    move()


def message_assign(*, user: Account, message_id: int, category_id: int, station_id: int) -> Order:
    """交办: staff turn a message into an order at a station; the two are linked both ways."""
    require_dispatcher(user)
    category = Category.objects.filter(pk=category_id).first()
    station = Unit.objects.filter(pk=station_id).first()
    errors: dict[str, Any] = {}
    if category is None:
        errors["category"] = [_("No such category.")]
    if station is None:
        errors["station"] = [_("No such station.")]
    if errors:
        raise InvalidInput(_("The order has errors; nothing was saved."), fields=errors)
    assert category is not None and station is not None
    with transaction.atomic():
        message = _staff_message(user, message_id)
        _advance(message, "assign")
        citizen = citizen_find_or_make(phone=message.phone, name="") if message.phone else None
        start, end = next_half_day()
        order, _created = order_place(
            user=user,
            category=category,
            description=message.text,
            address=_("From the message board (message %(id)s)") % {"id": message.pk},
            window_start=start,
            window_end=end,
            contact_name=_("Message writer"),
            contact_phone=message.phone or user.username,
            lat=message.lat if message.lat is not None else station.lat,
            lng=message.lng if message.lng is not None else station.lng,
            station=station,
            on_behalf_of=citizen,
        )
        message.order = order
        message.save()
        events.publish([g.media(), g.board()], "message.assigned", {"message": message.pk, "order": order.pk})
    return order
