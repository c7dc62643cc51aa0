from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DispatchConfig(AppConfig):
    name = "dispatch"
    verbose_name = _("Dispatch")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import tasks  # noqa: F401 - registers the tasks the outbox sends by name
        from .roles import ensure_role_groups

        # Permissions exist only once each app has migrated, hence after migrate, not in a migration;
        # and after every app's, since each app's permissions appear with its own signal.
        post_migrate.connect(ensure_role_groups, dispatch_uid="civic-role-groups")
