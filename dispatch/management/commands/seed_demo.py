from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from dispatch import demo


class Command(BaseCommand):
    help = "Build the demo district (DESIGN §9) deterministically; scales with --teams and --orders."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--seed", type=int, default=2021)
        parser.add_argument("--teams", type=int, default=demo.DISTRICT_TEAMS)
        parser.add_argument("--orders", type=int, default=60)
        parser.add_argument("--if-empty", action="store_true", help="Do nothing (and succeed) if already seeded.")

    def handle(self, *args, seed: int, teams: int, orders: int, if_empty: bool, **options) -> None:
        if teams < demo.DISTRICT_TEAMS:
            raise CommandError(f"--teams must be at least {demo.DISTRICT_TEAMS} (the district itself).")
        if orders < 0:
            raise CommandError("--orders cannot be negative.")
        if demo.is_seeded():
            if if_empty:
                self.stdout.write("The demo district is already there.")
                return
            raise CommandError("The demo district is already seeded; use a fresh database to seed again.")
        bars: dict[str, tqdm] = {}
        totals = {"teams": teams, "orders": orders}

        def progress(stage: str, n: int) -> None:
            if stage not in bars:
                bars[stage] = tqdm(
                    total=totals.get(stage), desc=stage, unit=" rows", file=self.stderr._out, disable=None, leave=False
                )
            bars[stage].update(n)

        report = demo.seed(seed=seed, teams=teams, orders=orders, progress=progress)
        for bar in bars.values():
            bar.close()
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {report.units} units, {report.teams} teams, "
                f"{report.volunteers} volunteers, {report.orders} orders."
            )
        )
