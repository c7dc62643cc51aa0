from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Event(models.Model):
    """The durable event log; `id` is the global sequence number (`seq`)."""

    type = models.CharField(_("type"), max_length=40)
    # Groups the event was sent to; a reconnecting client replays those it may see.
    groups = models.JSONField(_("groups"), default=list)
    order_id = models.BigIntegerField(_("order"), null=True, blank=True, db_index=True)
    payload = models.JSONField(_("payload"))
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.pk} {self.type}"
