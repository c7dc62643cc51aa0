import importlib

from django.db import migrations, models
from django.db.models import Count

# The columns 0005 copied from the team, read from it rather than written out again.
COPIED = importlib.import_module("dispatch.migrations.0005_teamcell_facts").COPIED
BUSY_STATES = ("accepted", "in_service")


def count_loads(apps, schema_editor):
    """Each team's orders in hand, counted once; from now on transitions keep the count."""
    Order = apps.get_model("dispatch", "Order")
    TeamCell = apps.get_model("dispatch", "TeamCell")
    busy = Order.objects.filter(state__in=BUSY_STATES, team__isnull=False).values("team_id").annotate(n=Count("id"))
    for row in busy:
        TeamCell.objects.filter(team_id=row["team_id"]).update(load=row["n"])


class Migration(migrations.Migration):
    dependencies = [
        ("dispatch", "0005_teamcell_facts"),
    ]

    operations = [
        migrations.AddField(model_name="teamcell", name="load", field=models.PositiveIntegerField(default=0)),
        migrations.RemoveIndex(model_name="teamcell", name="teamcell_lookup"),
        migrations.AddIndex(
            model_name="teamcell",
            index=models.Index(
                fields=["category", "cell", "lat"],
                include=("lng", "radius_km", "team", *COPIED, "load"),
                name="teamcell_lookup",
            ),
        ),
        migrations.RunPython(count_loads, migrations.RunPython.noop),
    ]
