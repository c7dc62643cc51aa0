from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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


class Volunteer(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="volunteer", verbose_name=_("user")
    )
    real_name = models.CharField(_("real name"), max_length=50)
    phone = models.CharField(_("phone"), max_length=20, unique=True)
    # Shown everywhere instead of any identity-card number.
    number = models.CharField(_("volunteer number"), max_length=20, unique=True)
    skills = models.CharField(_("skills"), max_length=200, blank=True)
    teams = models.ManyToManyField(Team, through="Membership", related_name="volunteers", verbose_name=_("teams"))

    class Meta:
        verbose_name = _("volunteer")
        verbose_name_plural = _("volunteers")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.real_name} ({self.number})"


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


class ServiceRecord(models.Model):
    """One line of a volunteer's hours ledger: hours served on one order."""

    volunteer = models.ForeignKey(
        Volunteer, on_delete=models.PROTECT, related_name="records", verbose_name=_("volunteer")
    )
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="records", verbose_name=_("team"))
    order = models.ForeignKey(
        "dispatch.Order", on_delete=models.PROTECT, related_name="records", verbose_name=_("order")
    )
    hours = models.DecimalField(_("hours"), max_digits=4, decimal_places=1)
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("service record")
        verbose_name_plural = _("service records")
        ordering = ["-recorded_at"]
        # The big screen sums the month's hours.
        indexes = [models.Index(fields=["recorded_at"])]
        constraints = [
            models.UniqueConstraint(fields=["volunteer", "order"], name="record_once_per_order"),
            models.CheckConstraint(condition=models.Q(hours__gt=0), name="record_hours_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.volunteer}: {self.hours} h on #{self.order_id}"
