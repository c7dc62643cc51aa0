"""评单 to 媒体宣传: return visits and follow-ups, stories with likes, comments and the monthly vote, messages."""

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from common.uploads import PhotoField


class ReturnVisit(models.Model):
    """回访: station staff call the citizen back after a completed order."""

    order = models.ForeignKey(
        "dispatch.Order", on_delete=models.CASCADE, related_name="return_visits", verbose_name=_("order")
    )
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("by"))
    reached = models.BooleanField(_("reached the citizen"))
    satisfied = models.BooleanField(_("satisfied"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("return visit")
        verbose_name_plural = _("return visits")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"#{self.order_id} {self.at:%Y-%m-%d}"


class FollowUp(models.Model):
    """An order that needs another look (a low rating, "not solved"), open in the unit's console until closed."""

    class Reason(models.TextChoices):
        LOW_RATING = "low_rating", _("low rating")
        UNRESOLVED = "unresolved", _("not solved")

    order = models.OneToOneField(
        "dispatch.Order", on_delete=models.CASCADE, related_name="follow_up", verbose_name=_("order")
    )
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(_("closing note"), blank=True)

    class Meta:
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        ordering = ["opened_at", "id"]
        indexes = [models.Index(fields=["closed_at", "opened_at"])]

    def __str__(self) -> str:
        return f"#{self.order_id} {self.reason}"


class StoryState(models.TextChoices):
    DRAFT = "draft", _("draft")
    PUBLISHED = "published", _("published")
    WITHDRAWN = "withdrawn", _("withdrawn")


class Story(ConcurrentTransitionMixin, models.Model):
    """A story of good service, drafted by the media editor from a completed order whose citizen consented."""

    order = models.ForeignKey("dispatch.Order", on_delete=models.PROTECT, related_name="stories")
    team = models.ForeignKey("volunteers.Team", on_delete=models.PROTECT, related_name="stories")
    title = models.CharField(_("title"), max_length=100)
    body = models.TextField(_("text"), max_length=5000)
    photos = models.ManyToManyField("dispatch.OrderPhoto", blank=True, related_name="stories")
    state = FSMField(_("state"), default=StoryState.DRAFT, choices=StoryState.choices, protected=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    likes = models.PositiveIntegerField(_("likes"), default=0, editable=False)

    class Meta:
        verbose_name = _("story")
        verbose_name_plural = _("stories")
        ordering = ["-published_at", "-id"]
        indexes = [models.Index(fields=["state", "published_at"])]

    def __str__(self) -> str:
        return self.title

    @transition(field=state, source=[StoryState.DRAFT, StoryState.WITHDRAWN], target=StoryState.PUBLISHED)
    def publish(self) -> None:
        self.published_at = timezone.now()

    @transition(field=state, source=StoryState.PUBLISHED, target=StoryState.WITHDRAWN)
    def withdraw(self) -> None:
        pass


class StoryLog(models.Model):
    """Each step of a story: drafted, published, withdrawn, by whom and when."""

    story = models.ForeignKey(Story, on_delete=models.CASCADE, related_name="log")
    action = models.CharField(_("action"), max_length=20)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("story log entry")
        verbose_name_plural = _("story log")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.story_id} {self.action}"


class Like(models.Model):
    story = models.ForeignKey(Story, on_delete=models.CASCADE, related_name="like_rows")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("like")
        verbose_name_plural = _("likes")
        constraints = [models.UniqueConstraint(fields=["story", "user"], name="like_once")]
        indexes = [models.Index(fields=["at", "story"])]

    def __str__(self) -> str:
        return f"{self.user_id} ♥ {self.story_id}"


class CommentState(models.TextChoices):
    HELD = "held", _("held for moderation")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")


class Comment(ConcurrentTransitionMixin, models.Model):
    story = models.ForeignKey(Story, on_delete=models.CASCADE, related_name="comments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    text = models.TextField(_("text"), max_length=500)
    state = FSMField(_("state"), default=CommentState.HELD, choices=CommentState.choices, protected=True)
    at = models.DateTimeField(_("at"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("comment")
        verbose_name_plural = _("comments")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return self.text[:40]

    @transition(field=state, source=CommentState.HELD, target=CommentState.APPROVED)
    def approve(self) -> None:
        pass

    @transition(field=state, source=CommentState.HELD, target=CommentState.REJECTED)
    def reject(self) -> None:
        pass


class Vote(models.Model):
    """One person's vote for the month's best team (评选最佳服务队)."""

    month = models.DateField(_("month"))  # its first day
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey("volunteers.Team", on_delete=models.CASCADE, related_name="votes")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("vote")
        verbose_name_plural = _("votes")
        constraints = [models.UniqueConstraint(fields=["month", "user"], name="vote_once_a_month")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {self.team_id}"


def message_photo_path(instance: "Message", filename: str) -> str:
    return f"messages/{secrets.token_hex(12)}.jpg"


class MessageState(models.TextChoices):
    OPEN = "open", _("waiting")
    REPLIED = "replied", _("answered")
    ASSIGNED = "assigned", _("turned into an order")
    HIDDEN = "hidden", _("hidden")


class Message(ConcurrentTransitionMixin, models.Model):
    """留言: anyone's message to the practice center, answered in public or turned into an order (交办)."""

    text = models.TextField(_("message"), max_length=1000)
    photo = PhotoField(_("photo"), upload_to=message_photo_path, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)
    # Kept for staff to call back; never shown on a public page or answer.
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    state = FSMField(_("state"), default=MessageState.OPEN, choices=MessageState.choices, protected=True)
    reply = models.TextField(_("reply"), blank=True)
    replied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    replied_at = models.DateTimeField(_("replied at"), null=True, blank=True)
    order = models.OneToOneField(
        "dispatch.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="message"
    )
    hidden_reason = models.CharField(_("why hidden"), max_length=200, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["state", "at"])]

    def __str__(self) -> str:
        return self.text[:40]

    @transition(field=state, source=[MessageState.OPEN, MessageState.REPLIED], target=MessageState.REPLIED)
    def answer(self) -> None:
        pass

    @transition(field=state, source=[MessageState.OPEN, MessageState.REPLIED], target=MessageState.ASSIGNED)
    def assign(self) -> None:
        pass

    @transition(
        field=state, source=[MessageState.OPEN, MessageState.REPLIED, MessageState.ASSIGNED], target=MessageState.HIDDEN
    )
    def hide(self) -> None:
        pass
