from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Category(models.Model):
    """A heading of the service menu (服务菜单), such as 助老助残."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=50)
    name_en = models.CharField(_("English name"), max_length=80, blank=True)
    icon = models.CharField(_("icon"), max_length=16, blank=True, help_text=_("An emoji or short symbol."))
    description = models.TextField(_("description"), blank=True)
    default_duration_hours = models.DecimalField(
        _("default duration (hours)"), max_digits=4, decimal_places=1, default=2
    )
    sort_order = models.PositiveSmallIntegerField(_("sort order"), default=0)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("service category")
        verbose_name_plural = _("service categories")
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return self.name


class ServiceItem(models.Model):
    """A concrete service under a category, such as 上门理发 under 助老助残."""

    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="items", verbose_name=_("category"))
    name = models.CharField(_("name"), max_length=50)
    name_en = models.CharField(_("English name"), max_length=80, blank=True)
    description = models.TextField(_("description"), blank=True)
    default_duration_hours = models.DecimalField(
        _("default duration (hours)"), max_digits=4, decimal_places=1, default=2
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("service item")
        verbose_name_plural = _("service items")
        ordering = ["category", "id"]

    def __str__(self) -> str:
        return f"{self.category} · {self.name}"


class Citizen(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="citizen", verbose_name=_("user")
    )
    name = models.CharField(pgettext_lazy("person", "name"), max_length=50)
    phone = models.CharField(_("phone"), max_length=20, unique=True)
    station = models.ForeignKey(
        "dispatch.Unit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="citizens",
        verbose_name=_("home station"),
    )
    # The place the citizen chose to keep for their next orders ("my saved address").
    address = models.CharField(_("saved address"), max_length=200, blank=True)
    lat = models.FloatField(_("saved latitude"), null=True, blank=True)
    lng = models.FloatField(_("saved longitude"), null=True, blank=True)

    class Meta:
        verbose_name = _("citizen")
        verbose_name_plural = _("citizens")

    def __str__(self) -> str:
        return f"{self.name} ({self.phone})"
