"""The HNSW index of the new "kids" gender (babies' and children's products for either sex), for
each encoder, as 0010 made one per gender. Frozen as literal SQL, as 0010's."""

from django.db import migrations

ENCODERS = [("efficientnet_lite0_v1", 1280, "efficientnet_lite0/v1"), ("resnet50_v1", 2048, "resnet50/v1")]


def _index(name: str, dim: int, key: str) -> migrations.RunSQL:
    return migrations.RunSQL(
        f"CREATE INDEX IF NOT EXISTS productembedding_hnsw_{name}_kids ON recommendations_productembedding "
        f"USING hnsw ((vector::halfvec({dim})) halfvec_cosine_ops) WHERE model = '{key}' AND gender = 'kids'",
        f"DROP INDEX IF EXISTS productembedding_hnsw_{name}_kids",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0011_kids_gender"),
        ("recommendations", "0016_event_ids_per_shopper_and_shared_counting"),
    ]

    operations = [_index(name, dim, key) for name, dim, key in ENCODERS]
