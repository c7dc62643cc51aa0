from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RecordsConfig(AppConfig):
    name = "records"
    verbose_name = _("Records and certificates")

    def ready(self) -> None:
        from . import tasks  # noqa: F401 - registers the export task with Celery
