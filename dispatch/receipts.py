"""Receipts of the idempotency keys phones send with a check-in or completion."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ActionKey(models.Model):
    """An Idempotency-Key a user sent with a check-in or completion: the same key again is a replay."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100)
    action = models.CharField(max_length=20)
    order = models.ForeignKey("dispatch.Order", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="action_key_once_per_user")]

    def __str__(self) -> str:
        return f"{self.action} #{self.order_id} ({self.key})"
