from django.db import migrations


class Migration(migrations.Migration):
    """The embedding columns now live in recommendations_productembedding (copied there by
    recommendations 0004); the catalog keeps only photo_version."""

    dependencies = [
        ("catalog", "0003_photo_version"),
        ("recommendations", "0004_product_embedding"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="product", name="catalog_pro_embeddi_5179e5_idx"),
        migrations.RemoveField(model_name="product", name="embedding"),
        migrations.RemoveField(model_name="product", name="embedding_model"),
        migrations.RemoveField(model_name="product", name="embedding_status"),
        migrations.RemoveField(model_name="product", name="embedding_error"),
        migrations.RemoveField(model_name="product", name="embedding_requested_at"),
        migrations.RemoveField(model_name="product", name="embedded_at"),
    ]
