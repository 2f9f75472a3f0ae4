# Serving solves a shopper's ALS vector from their history on each request; stored vectors went
# stale with the shopper's next event and cost a quarter of a ten-million-event training.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("recommendations", "0014_shown_products_photos"),
    ]

    operations = [
        migrations.DeleteModel(
            name="UserFactor",
        ),
    ]
