"""Certificates of volunteer service (志愿服务记录证明): each a numbered record of what was issued."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from common.uploads import private_storage


def certificate_path(instance: "Certificate", filename: str) -> str:
    return f"certificates/{instance.number}.pdf"


class Certificate(models.Model):
    """One certificate as issued: what it said is kept, so the verification page answers the same forever."""

    number = models.CharField(_("certificate number"), max_length=32, unique=True)
    volunteer = models.ForeignKey(
        "volunteers.Volunteer", on_delete=models.PROTECT, related_name="certificates", verbose_name=_("volunteer")
    )
    date_from = models.DateField(_("from"))
    date_to = models.DateField(_("to"))
    hours = models.DecimalField(_("hours"), max_digits=8, decimal_places=1)
    services = models.PositiveIntegerField(_("services listed"))
    issuer = models.ForeignKey(
        "dispatch.Unit", on_delete=models.PROTECT, related_name="certificates", verbose_name=_("issued by")
    )
    head = models.CharField(_("person in charge"), max_length=50, blank=True)
    handler = models.CharField(_("handled by"), max_length=50, blank=True)
    phone = models.CharField(_("telephone"), max_length=30, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    pdf = models.FileField(_("PDF"), storage=private_storage, upload_to=certificate_path, max_length=200)

    class Meta:
        verbose_name = _("certificate")
        verbose_name_plural = _("certificates")
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(date_from__lte=models.F("date_to")), name="cert_range")
        ]

    def __str__(self) -> str:
        return self.number


class Signatory(models.Model):
    """Who signs a unit's certificates: its person in charge, the handler and a telephone to call."""

    unit = models.OneToOneField(
        "dispatch.Unit", on_delete=models.CASCADE, related_name="signatory", verbose_name=_("unit")
    )
    head = models.CharField(_("person in charge"), max_length=50)
    handler = models.CharField(_("handled by"), max_length=50)
    phone = models.CharField(_("telephone"), max_length=30)

    class Meta:
        verbose_name = _("signatory")
        verbose_name_plural = _("signatories")

    def __str__(self) -> str:
        return f"{self.unit}: {self.head}"


def export_path(instance: "ExportJob", filename: str) -> str:
    return f"exports/{instance.pk}/{filename}"


class ExportState(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("being written")
    DONE = "done", _("ready")
    FAILED = "failed", _("failed")


class ExportJob(ConcurrentTransitionMixin, models.Model):
    """An export written in the background (a province's year takes minutes), its progress kept here."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("what"), max_length=10)
    ext = models.CharField(_("format"), max_length=4)
    unit = models.ForeignKey("dispatch.Unit", on_delete=models.CASCADE, related_name="+", verbose_name=_("unit"))
    date_from = models.DateField(_("from"))
    date_to = models.DateField(_("to"))
    state = FSMField(_("state"), default=ExportState.QUEUED, choices=ExportState.choices, protected=True)
    rows = models.PositiveIntegerField(_("rows written"), default=0)
    file = models.FileField(_("file"), storage=private_storage, upload_to=export_path, max_length=200, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind}.{self.ext} #{self.pk}"

    @transition(field=state, source=ExportState.QUEUED, target=ExportState.RUNNING)
    def start(self) -> None:
        pass

    @transition(field=state, source=ExportState.RUNNING, target=ExportState.DONE)
    def finish(self) -> None:
        self.finished_at = timezone.now()

    @transition(field=state, source=[ExportState.QUEUED, ExportState.RUNNING], target=ExportState.FAILED)
    def fail(self) -> None:
        self.finished_at = timezone.now()
