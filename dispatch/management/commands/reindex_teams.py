"""File every team in the matching index again (after bulk changes made outside the admin)."""

from django.core.management.base import BaseCommand

from dispatch.services import matching_index_refresh


class Command(BaseCommand):
    help = "Rebuild the matching index (TeamCell) from the teams."

    def handle(self, *args, **options) -> None:
        rows = matching_index_refresh()
        self.stdout.write(f"Matching index rebuilt: {rows} rows.")
