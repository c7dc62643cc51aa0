import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from common.uploads import PhotoField

from .choices import DispatchMode, Level, OfferState, OrderState, Priority
from .geo import team_cell
from .receipts import ActionKey  # noqa: F401 - in its own module; imported here so that Django registers it

if TYPE_CHECKING:
    from volunteers.models import Team


class Unit(models.Model):
    """A node of the practice network: center 中心 → institute 所 → station 站."""

    name = models.CharField(_("name"), max_length=100)
    code = models.CharField(_("code"), max_length=32, unique=True)
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    # Materialized path ("1/4/17/") so that "this unit's subtree" is one indexed prefix match.
    path = models.CharField(_("path"), max_length=255, editable=False, db_index=True)
    lat = models.FloatField(_("latitude"))
    lng = models.FloatField(_("longitude"))
    jurisdiction_km = models.FloatField(_("jurisdiction radius (km)"), default=5.0)
    address = models.CharField(_("address"), max_length=200, blank=True)
    # Orders this unit answers for go out by themselves to the best candidates in this mode.
    auto_dispatch = models.CharField(
        _("auto-dispatch"),
        max_length=10,
        choices=DispatchMode.choices,
        blank=True,
        help_text=_("Leave empty to dispatch by hand. Staff can always recall and dispatch again."),
    )
    auto_dispatch_teams = models.PositiveSmallIntegerField(
        _("teams per auto-dispatch"),
        default=3,
        help_text=_("How many of the best candidates a broadcast or cascade goes to (directed: always one)."),
    )

    class Meta:
        verbose_name = _("unit")
        verbose_name_plural = _("units")
        ordering = ["path"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # The path is derived from the parent's, so it needs the row's own id first.
        super().save(*args, **kwargs)
        path = f"{self.parent.path if self.parent else ''}{self.pk}/"
        if path != self.path:
            self.path = path
            type(self).objects.filter(pk=self.pk).update(path=path)

    @property
    def path_ids(self) -> list[int]:
        """The ids from the center down to this unit."""
        return [int(part) for part in self.path.split("/") if part]


class StaffProfile(models.Model):
    """Ties a dispatcher or media editor to the unit whose subtree they work in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="staff_profile",
        verbose_name=_("user"),
    )
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="staff", verbose_name=_("unit"))
    phone = models.CharField(_("phone"), max_length=20, blank=True)

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff members")

    def __str__(self) -> str:
        return f"{self.user} @ {self.unit}"


def new_checkin_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


class Order(ConcurrentTransitionMixin, models.Model):
    state = FSMField(_("state"), default=OrderState.SUBMITTED, choices=OrderState.choices, protected=True)
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices, default=Level.STATION)
    priority = models.CharField(_("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    category = models.ForeignKey(
        "requests_app.Category", on_delete=models.PROTECT, related_name="orders", verbose_name=_("category")
    )
    item = models.ForeignKey(
        "requests_app.ServiceItem",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
        verbose_name=_("service item"),
    )
    description = models.TextField(_("description"), max_length=2000)
    station = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="orders", verbose_name=_("station"))
    lat = models.FloatField(_("latitude"))
    lng = models.FloatField(_("longitude"))
    address = models.CharField(_("address"), max_length=200)
    window_start = models.DateTimeField(_("window start"))
    window_end = models.DateTimeField(_("window end"))
    contact_name = models.CharField(_("contact name"), max_length=50)
    contact_phone = models.CharField(_("contact phone"), max_length=20)
    citizen = models.ForeignKey(
        "requests_app.Citizen",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
        verbose_name=_("citizen"),
    )
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="placed_orders",
        verbose_name=_("placed by"),
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, null=True, blank=True)
    # A hash of the placing request, so that a reused key with another request is caught.
    idempotency_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    team = models.ForeignKey(
        "volunteers.Team",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
        verbose_name=_("accepting team"),
    )
    mode = models.CharField(_("dispatch mode"), max_length=10, choices=DispatchMode.choices, blank=True)
    # Teams still to be offered the order, in rank order, when dispatched in cascade mode.
    cascade_queue = models.JSONField(_("cascade queue"), default=list, blank=True)
    checkin_code = models.CharField(_("check-in code"), max_length=6, default=new_checkin_code)
    reject_reason = models.TextField(_("rejection reason"), blank=True)
    summary = models.TextField(_("service summary"), blank=True)
    rating = models.PositiveSmallIntegerField(_("rating"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    publicity_consent = models.BooleanField(_("publicity consent"), default=False)
    # The citizen's word on the outcome when rating: False is "没有解决" (not solved).
    resolved = models.BooleanField(_("solved"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    # When the order reached its level: the escalation clock runs from here (or from created_at).
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    # The last reminder that an order at the top level is still waiting.
    reminded_at = models.DateTimeField(_("reminded at"), null=True, blank=True)
    # The level at which the order was last dispatched or weighed for auto-dispatch: once per
    # level, so that a recall by staff is not undone and a lost message is made up for once.
    considered_level = models.PositiveSmallIntegerField(
        _("considered at level"), choices=Level.choices, null=True, blank=True, editable=False
    )

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["placed_by", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="order_idempotency_key_unique",
            ),
            models.CheckConstraint(condition=Q(window_end__gt=models.F("window_start")), name="order_window_ordered"),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5), name="order_rating_1_to_5"
            ),
        ]
        # The big screen counts each day's dispatches, accepts, completions and ratings by their times.
        indexes = [models.Index(fields=["state", "level"]), models.Index(fields=["team", "state"])] + [
            models.Index(fields=[f]) for f in ("dispatched_at", "accepted_at", "completed_at", "closed_at")
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.category} ({self.get_state_display()})"

    # --- conditions: pure predicates on this row ---------------------------
    def has_pending_cascade(self) -> bool:
        return bool(self.cascade_queue)

    def is_past_rating_period(self) -> bool:
        return bool(self.completed_at and timezone.now() - self.completed_at >= settings.AUTO_CLOSE_AFTER)

    def is_past_escalation_time(self) -> bool:
        return timezone.now() - (self.escalated_at or self.created_at) >= settings.ESCALATE_AFTER

    def is_below_center(self) -> bool:
        return self.level < Level.CENTER

    # --- transitions: each changes only this row ---------------------------
    @transition(field=state, source=OrderState.SUBMITTED, target=OrderState.DISPATCHING)
    def dispatch(self, *, mode: str, cascade_queue: list[int]) -> None:
        self.mode = mode
        self.considered_level = self.level
        self.cascade_queue = cascade_queue
        self.dispatched_at = timezone.now()

    @transition(field=state, source=OrderState.DISPATCHING, target=OrderState.ACCEPTED)
    def accept(self, *, team_id: int) -> None:
        self.team_id = team_id
        self.cascade_queue = []
        self.accepted_at = timezone.now()

    @transition(field=state, source=OrderState.DISPATCHING, target=OrderState.SUBMITTED)
    def requeue(self) -> None:
        # Every offer was declined or expired: widen the search one tier up.
        self.level = min(self.level + 1, Level.CENTER)
        self.escalated_at = timezone.now()
        self.cascade_queue = []

    @transition(
        field=state,
        source=[OrderState.SUBMITTED, OrderState.DISPATCHING],
        target=OrderState.SUBMITTED,
        conditions=[is_past_escalation_time, is_below_center],  # type: ignore[list-item]  # django-fsm-2 types conditions on Model
    )
    def escalate(self) -> None:
        # Not accepted in time: the next tier's dispatchers take it over, with a wider search.
        self.level += 1
        self.escalated_at = timezone.now()
        self.cascade_queue = []

    @transition(field=state, source=OrderState.DISPATCHING, target=OrderState.SUBMITTED)
    def recall(self) -> None:
        self.cascade_queue = []

    @transition(field=state, source=OrderState.SUBMITTED, target=OrderState.REJECTED)
    def reject(self, *, reason: str) -> None:
        self.reject_reason = reason
        self.closed_at = timezone.now()

    @transition(
        field=state,
        source=[OrderState.SUBMITTED, OrderState.DISPATCHING, OrderState.ACCEPTED],
        target=OrderState.CANCELLED,
    )
    def cancel(self) -> None:
        self.cascade_queue = []
        self.closed_at = timezone.now()

    @transition(field=state, source=OrderState.ACCEPTED, target=OrderState.SUBMITTED)
    def abandon(self) -> None:
        self.team = None
        self.accepted_at = None

    @transition(field=state, source=OrderState.ACCEPTED, target=OrderState.IN_SERVICE)
    def start(self) -> None:
        self.started_at = timezone.now()

    @transition(field=state, source=OrderState.IN_SERVICE, target=OrderState.COMPLETED)
    def complete(self, *, summary: str) -> None:
        self.summary = summary
        self.completed_at = timezone.now()

    @transition(field=state, source=OrderState.COMPLETED, target=OrderState.CLOSED)
    def evaluate(self, *, rating: int, comment: str, publicity_consent: bool, resolved: bool = True) -> None:
        self.rating = rating
        self.resolved = resolved
        self.comment = comment
        self.publicity_consent = publicity_consent
        self.closed_at = timezone.now()

    @transition(field=state, source=OrderState.COMPLETED, target=OrderState.CLOSED, conditions=[is_past_rating_period])  # type: ignore[list-item]  # django-fsm-2 types conditions on Model
    def auto_close(self) -> None:
        self.closed_at = timezone.now()


class Offer(ConcurrentTransitionMixin, models.Model):
    """An order offered to one team."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="offers", verbose_name=_("order"))
    team = models.ForeignKey("volunteers.Team", on_delete=models.PROTECT, related_name="offers", verbose_name=_("team"))
    state = FSMField(_("state"), default=OfferState.PENDING, choices=OfferState.choices, protected=True)
    mode = models.CharField(_("mode"), max_length=10, choices=DispatchMode.choices)
    rank = models.PositiveSmallIntegerField(_("rank"), default=1)
    distance_km = models.FloatField(_("distance (km)"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    responded_at = models.DateTimeField(_("responded at"), null=True, blank=True)
    responded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("responded by"),
    )
    reminded_at = models.DateTimeField(_("reminded at"), null=True, blank=True)

    class Meta:
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        ordering = ["-created_at", "-id"]
        constraints = [
            # A team holds at most one live offer for an order.
            models.UniqueConstraint(
                fields=["order", "team"], condition=Q(state="pending"), name="offer_one_pending_per_team"
            ),
        ]
        indexes = [models.Index(fields=["team", "state"]), models.Index(fields=["state", "expires_at"])]

    def __str__(self) -> str:
        return f"offer #{self.pk}: order #{self.order_id} → {self.team}"

    def is_past_expiry(self) -> bool:
        return timezone.now() >= self.expires_at

    @property
    def remind_at(self) -> datetime:
        """When the team is reminded of an offer still open: OFFER_REMIND_AT of its time gone."""
        return self.created_at + (self.expires_at - self.created_at) * settings.OFFER_REMIND_AT

    @transition(field=state, source=OfferState.PENDING, target=OfferState.ACCEPTED)
    def accept(self, *, responder) -> None:
        self._respond(responder)

    @transition(field=state, source=OfferState.PENDING, target=OfferState.DECLINED)
    def decline(self, *, responder) -> None:
        self._respond(responder)

    @transition(field=state, source=OfferState.PENDING, target=OfferState.EXPIRED, conditions=[is_past_expiry])  # type: ignore[list-item]  # django-fsm-2 types conditions on Model
    def expire(self) -> None:
        self.responded_at = timezone.now()

    @transition(field=state, source=OfferState.PENDING, target=OfferState.WITHDRAWN)
    def withdraw(self) -> None:
        self.responded_at = timezone.now()

    def _respond(self, responder) -> None:
        self.responded_at = timezone.now()
        self.responded_by = responder


class Transition(models.Model):
    """Append-only audit log of every order and offer transition."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="transitions", verbose_name=_("order"))
    offer = models.ForeignKey(
        Offer, on_delete=models.CASCADE, null=True, blank=True, related_name="transitions", verbose_name=_("offer")
    )
    action = models.CharField(_("action"), max_length=20)
    from_state = models.CharField(_("from"), max_length=20)
    to_state = models.CharField(_("to"), max_length=20)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    # What people typed, or a system note kept in its source language and translated when shown.
    note = models.TextField(_("note"), blank=True)
    # Notes that only staff may read (a rejection's reason).
    internal = models.BooleanField(_("internal"), default=False)

    class Meta:
        verbose_name = _("transition")
        verbose_name_plural = _("transition log")
        ordering = ["at", "id"]
        # The big screen's feed reads the latest changes.
        indexes = [models.Index(fields=["at"])]

    def __str__(self) -> str:
        return f"#{self.order_id} {self.from_state} → {self.to_state} ({self.action})"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("The transition log is append-only.")
        super().save(*args, **kwargs)


# The team's fields each matching index row carries a copy of, under the same names; the
# team's place and radius are copied too, as lat, lng and radius_km.
TEAM_FACTS_COPIED = (
    "name",
    "capacity",
    "available_from",
    "available_to",
    "available_weekdays",
    "offers_answered",
    "offers_accepted",
    "rating_sum",
    "rating_count",
    "response_seconds",
)


class TeamCell(models.Model):
    """The matching index: one row per active team and category served, filed under the team's reach cell.

    Derived from the team (see `dispatch.matching`); `matching_index_refresh` keeps it. Each row
    also carries a copy of what ranking reads of the team (TEAM_FACTS_COPIED), so on PostgreSQL
    the candidate search is answered from this index alone, without visiting a team row.
    """

    team = models.ForeignKey("volunteers.Team", on_delete=models.CASCADE, related_name="cells")
    category = models.ForeignKey("requests_app.Category", on_delete=models.CASCADE, related_name="+")
    cell = models.BigIntegerField()
    lat = models.FloatField()
    lng = models.FloatField()
    radius_km = models.FloatField()
    # Copies of the team's fields of the same names.
    name = models.CharField(max_length=100)
    capacity = models.PositiveSmallIntegerField()
    available_from = models.TimeField()
    available_to = models.TimeField()
    available_weekdays = models.CharField(max_length=7)
    offers_answered = models.PositiveIntegerField()
    offers_accepted = models.PositiveIntegerField()
    rating_sum = models.PositiveIntegerField()
    rating_count = models.PositiveIntegerField()
    response_seconds = models.FloatField(null=True)
    # The team's orders in hand (accepted or in service), kept in step by every order
    # transition and recounted by every refresh, both under the team's row lock.
    load = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("matching cell")
        verbose_name_plural = _("matching cells")
        constraints = [models.UniqueConstraint(fields=["team", "category"], name="teamcell_once_per_category")]
        # The candidate query reads (category, cell) with a latitude range; on PostgreSQL the
        # index carries every column it selects, so it never visits the table's rows.
        indexes = [
            models.Index(
                fields=["category", "cell", "lat"],
                include=["lng", "radius_km", "team", *TEAM_FACTS_COPIED, "load"],
                name="teamcell_lookup",
            ),
        ]

    def __str__(self) -> str:
        return f"team {self.team_id} / category {self.category_id} @ {self.cell}"

    @classmethod
    def of(cls, team: "Team", category_id: int, *, load: int = 0) -> "TeamCell":
        """The row that files the team under a category it serves."""
        return cls(
            load=load,
            team_id=team.pk,
            category_id=category_id,
            cell=team_cell(team.home_lat, team.home_lng, team.radius_km),
            lat=team.home_lat,
            lng=team.home_lng,
            radius_km=team.radius_km,
            **{name: getattr(team, name) for name in TEAM_FACTS_COPIED},
        )


class Notification(models.Model):
    """A message to one person, kept so that none is lost: sent from Celery, marked when sent."""

    class Kind(models.TextChoices):
        ORDER_ACCEPTED = "order_accepted", _("order accepted")
        ORDER_STARTED = "order_started", _("volunteers on site")
        ORDER_COMPLETED = "order_completed", _("order completed")
        OFFER_NEW = "offer_new", _("new offer")
        OFFER_REMINDER = "offer_reminder", _("offer about to expire")
        OFFER_WITHDRAWN = "offer_withdrawn", _("offer withdrawn")
        ORDER_ESCALATED = "order_escalated", _("order escalated")
        ORDER_WAITING = "order_waiting", _("order still waiting")
        LOW_RATING = "low_rating", _("low rating")
        SIGNIN_CODE = "signin_code", _("sign-in code")
        UNRESOLVED = "unresolved", _("citizen says not solved")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("recipient"),
    )
    # For a citizen without an account (代点单) the contact phone is all there is.
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications", verbose_name=_("order")
    )
    text = models.TextField(_("text"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["sent_at", "created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.user or self.phone}"


def order_photo_path(instance: "OrderPhoto", filename: str) -> str:
    # Every stored photo is a JPEG made by common.uploads.photo_clean; the client's name is not kept.
    return f"orders/{instance.order_id}/{secrets.token_hex(12)}.jpg"


class OrderPhoto(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="photos", verbose_name=_("order"))
    image = PhotoField(_("photo"), upload_to=order_photo_path)
    uploaded_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    class Meta:
        verbose_name = _("service photo")
        verbose_name_plural = _("service photos")

    def __str__(self) -> str:
        return self.image.name or ""
