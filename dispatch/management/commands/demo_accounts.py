from django.core.management.base import BaseCommand

from dispatch import demo


class Command(BaseCommand):
    help = "Print the demo accounts."

    def handle(self, *args, **options) -> None:
        p = demo.DEMO_PASSWORD
        self.stdout.write(
            "\nDemo accounts (password %s):\n"
            "  admin (Django admin)      admin\n"
            "  citizen                   %s\n"
            "  center dispatcher         %s\n"
            "  institute dispatchers     13900000001 … 13900000020\n"
            "  media editor              %s\n"
            "  leader of team k          137 + k in 8 digits (team 1: %s, team 405: %s)\n"
            % (
                p,
                demo.CITIZEN_PHONE,
                demo.DISPATCHER_PHONE,
                demo.MEDIA_PHONE,
                demo.leader_phone(1),
                demo.leader_phone(405),
            )
        )
