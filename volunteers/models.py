import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from common.uploads import PhotoField


class Team(models.Model):
    """A volunteer service team (志愿服务队)."""

    name = models.CharField(_("name"), max_length=100)
    unit = models.ForeignKey("dispatch.Unit", on_delete=models.PROTECT, related_name="teams", verbose_name=_("unit"))
    leader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="led_teams",
        verbose_name=_("leader"),
    )
    categories = models.ManyToManyField(
        "requests_app.Category", related_name="teams", verbose_name=_("categories served")
    )
    home_lat = models.FloatField(_("home base latitude"))
    home_lng = models.FloatField(_("home base longitude"))
    radius_km = models.FloatField(_("service radius (km)"), default=5.0)
    capacity = models.PositiveSmallIntegerField(_("concurrent orders"), default=2)
    available_from = models.TimeField(_("available from"), default="08:00")
    available_to = models.TimeField(_("available until"), default="20:00")
    # ISO weekdays the team serves, "1234567" = every day.
    available_weekdays = models.CharField(_("available weekdays"), max_length=7, default="1234567")
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    # Roll-ups of the team's record for ranking (refreshed by `team_stats_refresh`).
    offers_answered = models.PositiveIntegerField(_("offers answered"), default=0, editable=False)
    offers_accepted = models.PositiveIntegerField(_("offers accepted"), default=0, editable=False)
    rating_sum = models.PositiveIntegerField(_("sum of ratings"), default=0, editable=False)
    rating_count = models.PositiveIntegerField(_("ratings"), default=0, editable=False)
    response_seconds = models.FloatField(_("mean response time (s)"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["id"]
        indexes = [models.Index(fields=["home_lat", "home_lng"])]

    def __str__(self) -> str:
        return self.name


class IdType(models.TextChoices):
    RESIDENT = "resident", _("Resident identity card")
    PASSPORT = "passport", _("Passport")
    HK_MACAO = "hk_macao", _("Mainland travel permit for Hong Kong and Macao residents")
    TAIWAN = "taiwan", _("Mainland travel permit for Taiwan residents")
    FOREIGN = "foreign", _("Foreigner's permanent residence ID card")


class Volunteer(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="volunteer", verbose_name=_("user")
    )
    real_name = models.CharField(_("real name"), max_length=50)
    phone = models.CharField(_("phone"), max_length=20, unique=True)
    # Shown everywhere instead of any identity-card number.
    number = models.CharField(_("volunteer number"), max_length=20, unique=True)
    skills = models.CharField(_("skills"), max_length=200, blank=True)
    # Kept for certificates, which show it masked; never shown whole.
    id_type = models.CharField(_("ID type"), max_length=20, choices=IdType.choices, default=IdType.RESIDENT)
    id_number = models.CharField(_("ID number"), max_length=30, blank=True)
    teams = models.ManyToManyField(Team, through="Membership", related_name="volunteers", verbose_name=_("teams"))

    class Meta:
        verbose_name = _("volunteer")
        verbose_name_plural = _("volunteers")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.real_name} ({self.number})"

    @property
    def id_masked(self) -> str:
        """The ID number with all but its first and last four characters hidden (5115**********1234)."""
        n = self.id_number.strip()
        return f"{n[:4]}{'*' * (len(n) - 8)}{n[-4:]}" if len(n) > 8 else ("*" * len(n) or "—")


class Membership(models.Model):
    class Role(models.TextChoices):
        LEADER = "leader", _("leader")
        MEMBER = "member", _("member")

    volunteer = models.ForeignKey(
        Volunteer, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("volunteer")
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("team"))
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.MEMBER)
    active = models.BooleanField(_("active"), default=True)
    joined_at = models.DateTimeField(_("joined at"), default=timezone.now)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [models.UniqueConstraint(fields=["volunteer", "team"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.volunteer} ∈ {self.team}"


class RecordKind(models.TextChoices):
    CREDIT = "credit", _("credited")  # 信用时: from a checked-in, completed order
    MANUAL = "manual", _("added by hand")  # 补录
    CORRECTION = "correction", _("correction")


class RecordState(models.TextChoices):
    PENDING = "pending", _("waiting for approval")
    COUNTED = "counted", _("counted")
    DECLINED = "declined", _("declined")


class ServiceRecord(ConcurrentTransitionMixin, models.Model):
    """One entry of a volunteer's hours ledger (志愿服务记录). Never edited in place: a correction is a new entry."""

    volunteer = models.ForeignKey(
        Volunteer, on_delete=models.PROTECT, related_name="records", verbose_name=_("volunteer")
    )
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="records", verbose_name=_("team"))
    # The organising unit (谁组织谁记录): the order's station, or the team's unit for an activity without one.
    unit = models.ForeignKey("dispatch.Unit", on_delete=models.PROTECT, related_name="records", verbose_name=_("unit"))
    order = models.ForeignKey(
        "dispatch.Order",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="records",
        verbose_name=_("order"),
    )
    day = models.DateField(_("date of service"))
    place = models.CharField(_("place"), max_length=200, blank=True)
    content = models.CharField(_("service"), max_length=200)
    # Signed for a correction; travel is not counted.
    hours = models.DecimalField(_("hours"), max_digits=5, decimal_places=1)
    kind = models.CharField(_("kind"), max_length=10, choices=RecordKind.choices, default=RecordKind.CREDIT)
    state = FSMField(_("state"), default=RecordState.COUNTED, choices=RecordState.choices, protected=True)
    corrects = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="corrections",
        verbose_name=_("corrects"),
    )
    reason = models.TextField(_("reason"), blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    note = models.TextField(_("decision note"), blank=True)

    class Meta:
        verbose_name = _("service record")
        verbose_name_plural = _("service records")
        ordering = ["-recorded_at", "-id"]
        indexes = [
            models.Index(fields=["recorded_at"]),
            models.Index(fields=["volunteer", "day"]),
            models.Index(fields=["state", "unit"]),
            models.Index(fields=["day"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["volunteer", "order"], condition=models.Q(kind="credit"), name="record_once_per_order"
            ),
            models.CheckConstraint(
                condition=models.Q(kind="correction", corrects__isnull=False) & ~models.Q(hours=0)
                | ~models.Q(kind="correction") & models.Q(corrects__isnull=True, hours__gt=0),
                name="record_hours_and_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.volunteer}: {self.hours} h ({self.kind}, {self.day})"

    @transition(field=state, source=RecordState.PENDING, target=RecordState.COUNTED)
    def approve(self) -> None:
        pass

    @transition(field=state, source=RecordState.PENDING, target=RecordState.DECLINED)
    def decline(self) -> None:
        pass


def record_photo_path(instance: "RecordPhoto", filename: str) -> str:
    return f"records/{instance.record_id}/{secrets.token_hex(12)}.jpg"


class RecordPhoto(models.Model):
    """Evidence for an entry added by hand."""

    record = models.ForeignKey(ServiceRecord, on_delete=models.CASCADE, related_name="photos", verbose_name=_("record"))
    image = PhotoField(_("photo"), upload_to=record_photo_path)
    uploaded_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    class Meta:
        verbose_name = _("evidence photo")
        verbose_name_plural = _("evidence photos")

    def __str__(self) -> str:
        return self.image.name or ""


class RecordLog(models.Model):
    """Who did what to an entry and when: its addition, and a dispatcher's decision."""

    record = models.ForeignKey(ServiceRecord, on_delete=models.CASCADE, related_name="log", verbose_name=_("record"))
    action = models.CharField(_("action"), max_length=20)
    from_state = models.CharField(_("from"), max_length=10, blank=True)
    to_state = models.CharField(_("to"), max_length=10)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("by"))
    at = models.DateTimeField(_("at"), default=timezone.now)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("record log entry")
        verbose_name_plural = _("record log")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"#{self.record_id} {self.action} → {self.to_state}"


class StationHours(models.Model):
    """Hours served through a station on one day: the roll-up the big screen sums for a month.

    Kept in the same transaction as the entries it counts, by `volunteers.services.hours_counted`.
    """

    station = models.ForeignKey(
        "dispatch.Unit", on_delete=models.PROTECT, related_name="hours_by_day", verbose_name=_("station")
    )
    day = models.DateField(_("day"))
    hours = models.DecimalField(_("hours"), max_digits=12, decimal_places=1, default=0)

    class Meta:
        verbose_name = _("hours of a station's day")
        verbose_name_plural = _("hours of stations' days")
        constraints = [models.UniqueConstraint(fields=["day", "station"], name="station_hours_once_a_day")]

    def __str__(self) -> str:
        return f"{self.station_id} {self.day}: {self.hours} h"
