from django.db import migrations


def fill(apps, schema_editor):
    """Every existing record is a credit from its order: its station, local day, service and place."""
    from django.utils import timezone

    ServiceRecord = apps.get_model("volunteers", "ServiceRecord")
    rows = ServiceRecord.objects.select_related("order", "order__category").filter(unit__isnull=True)
    for record in rows.iterator(chunk_size=2000):
        order = record.order
        record.unit_id = order.station_id
        record.day = timezone.localdate(record.recorded_at)
        record.content = f"{order.category.name}: {order.summary or order.description}"[:200]
        record.place = order.address[:200]
        record.save(update_fields=["unit", "day", "content", "place"])


class Migration(migrations.Migration):
    dependencies = [("volunteers", "0005_ledger_fields")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
