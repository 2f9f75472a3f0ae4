from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_staff_ownership_and_price_validation")]

    operations = [
        migrations.RenameField("product", "embedding_version", "photo_version"),
        migrations.AlterField(
            model_name="product",
            name="photo_version",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
    ]
