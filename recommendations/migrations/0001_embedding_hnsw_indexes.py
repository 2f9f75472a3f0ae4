from django.db import migrations

# Frozen as literal SQL: a migration must not import live encoder classes, or changing an encoder
# would rewrite history. These indexes were on catalog_product.embedding; they went away with that
# column when the embeddings moved to recommendations_productembedding (0004).
ENCODERS = [("efficientnet_lite0_v1", 1280, "efficientnet_lite0/v1"), ("resnet50_v1", 2048, "resnet50/v1")]


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS product_embedding_hnsw_{name} ON catalog_product "
            f"USING hnsw ((embedding::halfvec({dim})) halfvec_cosine_ops) WHERE embedding_model = '{key}'",
            f"DROP INDEX IF EXISTS product_embedding_hnsw_{name}",
        )
        for name, dim, key in ENCODERS
    ]
