import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("dispatch", "0010_board_indexes"), ("volunteers", "0006_ledger_fill")]

    operations = [
        migrations.AlterField(
            model_name="servicerecord",
            name="unit",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="records",
                to="dispatch.unit",
                verbose_name="unit",
            ),
        ),
        migrations.AlterField(
            model_name="servicerecord", name="day", field=models.DateField(verbose_name="date of service")
        ),
        migrations.AlterField(
            model_name="servicerecord",
            name="content",
            field=models.CharField(max_length=200, verbose_name="service"),
        ),
    ]
