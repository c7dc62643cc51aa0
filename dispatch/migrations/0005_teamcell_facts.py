import importlib

from django.db import migrations, models

COPIED = (
    "name",
    "capacity",
    "available_from",
    "available_to",
    "available_weekdays",
    "offers_answered",
    "offers_accepted",
    "rating_sum",
    "rating_count",
    "response_seconds",
)


def refile_active_teams(apps, schema_editor):
    """The index is derived: its rows are written anew, now with the team's facts, active teams only."""
    from dispatch.migrations._cells_2026 import cell_of_team as team_cell

    Team = apps.get_model("volunteers", "Team")
    TeamCell = apps.get_model("dispatch", "TeamCell")
    through = Team.categories.through
    teams = {
        row[0]: row
        for row in Team.objects.filter(active=True).values_list("id", "home_lat", "home_lng", "radius_km", *COPIED)
    }
    rows = [
        TeamCell(
            team_id=t,
            category_id=c,
            cell=team_cell(*teams[t][1:4]),
            lat=teams[t][1],
            lng=teams[t][2],
            radius_km=teams[t][3],
            **dict(zip(COPIED, teams[t][4:])),
        )
        for t, c in through.objects.filter(team_id__in=teams).values_list("team_id", "category_id")
    ]
    TeamCell.objects.bulk_create(rows, batch_size=5000)


def empty_index(apps, schema_editor):
    apps.get_model("dispatch", "TeamCell").objects.all().delete()


def file_as_before(apps, schema_editor):
    """Going back: the index as 0003 filed it."""
    before = importlib.import_module("dispatch.migrations.0003_matching_index")
    before.file_existing_teams(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("dispatch", "0004_timers"),
        ("volunteers", "0002_team_record"),
    ]

    operations = [
        # The old rows lack the new columns; they are refiled below, so no default is ever needed.
        migrations.RunPython(empty_index, file_as_before),
        migrations.RemoveIndex(model_name="teamcell", name="teamcell_lookup"),
        migrations.AddField(model_name="teamcell", name="name", field=models.CharField(max_length=100)),
        migrations.AddField(model_name="teamcell", name="capacity", field=models.PositiveSmallIntegerField()),
        migrations.AddField(model_name="teamcell", name="available_from", field=models.TimeField()),
        migrations.AddField(model_name="teamcell", name="available_to", field=models.TimeField()),
        migrations.AddField(model_name="teamcell", name="available_weekdays", field=models.CharField(max_length=7)),
        migrations.AddField(model_name="teamcell", name="offers_answered", field=models.PositiveIntegerField()),
        migrations.AddField(model_name="teamcell", name="offers_accepted", field=models.PositiveIntegerField()),
        migrations.AddField(model_name="teamcell", name="rating_sum", field=models.PositiveIntegerField()),
        migrations.AddField(model_name="teamcell", name="rating_count", field=models.PositiveIntegerField()),
        migrations.AddField(model_name="teamcell", name="response_seconds", field=models.FloatField(null=True)),
        migrations.AddIndex(
            model_name="teamcell",
            index=models.Index(
                fields=["category", "cell", "lat"],
                include=("lng", "radius_km", "team", *COPIED),
                name="teamcell_lookup",
            ),
        ),
        migrations.RunPython(refile_active_teams, empty_index),
    ]
