from django.db import models
from django.utils.translation import gettext_lazy as _


class Level(models.IntegerChoices):
    """A unit's tier, and how far up the network an order has climbed."""

    STATION = 1, _("station")
    INSTITUTE = 2, _("institute")
    CENTER = 3, _("center")


class OrderState(models.TextChoices):
    SUBMITTED = "submitted", _("submitted")
    DISPATCHING = "dispatching", _("dispatching")
    ACCEPTED = "accepted", _("accepted")
    IN_SERVICE = "in_service", _("in service")
    COMPLETED = "completed", _("completed")
    CLOSED = "closed", _("closed")
    REJECTED = "rejected", _("rejected")
    CANCELLED = "cancelled", _("cancelled")


class OfferState(models.TextChoices):
    PENDING = "pending", _("pending")
    ACCEPTED = "accepted", _("accepted")
    DECLINED = "declined", _("declined")
    EXPIRED = "expired", _("expired")
    WITHDRAWN = "withdrawn", _("withdrawn")


class DispatchMode(models.TextChoices):
    DIRECTED = "directed", _("directed")
    BROADCAST = "broadcast", _("broadcast")
    CASCADE = "cascade", _("cascade")


class Priority(models.TextChoices):
    NORMAL = "normal", _("normal")
    URGENT = "urgent", _("urgent")


class Role(models.TextChoices):
    """Roles are Django groups with these names."""

    CITIZEN = "citizen", _("citizen")
    DISPATCHER = "dispatcher", _("dispatcher")
    VOLUNTEER = "volunteer", _("volunteer")
    MEDIA_EDITOR = "media_editor", _("media editor")
