import django.db.models.deletion
import pgvector.django.halfvec
from django.db import migrations, models

# Literal SQL, frozen: see 0001. One partial HNSW index per encoder (name, dimension, model key).
ENCODERS = [("efficientnet_lite0_v1", 1280, "efficientnet_lite0/v1"), ("resnet50_v1", 2048, "resnet50/v1")]

COPY = """
INSERT INTO recommendations_productembedding
       (product_id, vector, model, status, error, photo_version, requested_at, embedded_at)
SELECT id, embedding, embedding_model, embedding_status, embedding_error, photo_version,
       embedding_requested_at, embedded_at
  FROM catalog_product
"""
COPY_BACK = """
UPDATE catalog_product AS p
   SET embedding = e.vector, embedding_model = e.model, embedding_status = e.status,
       embedding_error = e.error, embedding_requested_at = e.requested_at, embedded_at = e.embedded_at
  FROM recommendations_productembedding AS e
 WHERE e.product_id = p.id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0003_photo_version"),
        ("recommendations", "0003_evaluation_report"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProductEmbedding",
            fields=[
                (
                    "product",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="embedding",
                        serialize=False,
                        to="catalog.product",
                    ),
                ),
                ("vector", pgvector.django.halfvec.HalfVectorField(blank=True, null=True)),
                ("model", models.CharField(blank=True, help_text="The encoder and its version.", max_length=64)),
                (
                    "status",
                    models.CharField(
                        choices=[("pending", "Pending"), ("done", "Embedded"), ("failed", "Failed")],
                        default="pending",
                        max_length=8,
                    ),
                ),
                ("error", models.CharField(blank=True, max_length=500)),
                ("photo_version", models.PositiveIntegerField(default=0)),
                ("requested_at", models.DateTimeField(blank=True, null=True)),
                ("embedded_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={"indexes": [models.Index(fields=["status", "requested_at"], name="recommendat_status_2df6ff_idx")]},
        ),
        migrations.RunSQL(COPY, COPY_BACK),
        *[
            migrations.RunSQL(
                f"CREATE INDEX IF NOT EXISTS productembedding_hnsw_{name} ON recommendations_productembedding "
                f"USING hnsw ((vector::halfvec({dim})) halfvec_cosine_ops) WHERE model = '{key}'",
                f"DROP INDEX IF EXISTS productembedding_hnsw_{name}",
            )
            for name, dim, key in ENCODERS
        ],
    ]
