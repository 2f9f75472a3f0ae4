"""One HNSW index per encoder and gender instead of one per encoder.

A filtered similarity query walks the index and drops the rows that fail the filters. With one
index over the whole catalog, a query for a gender that holds 5 to 10% of a million products walks
ten to twenty times as far as it returns, reading pages it then throws away, and relaxed iterative
scans stop before the exact top 10 is found (docs/benchmarks.md: p95 305 ms, recall@10 0.79 to
0.86). pgvector's advice for a filter with few distinct values is a partial index per value: each
gender's walk then meets only that gender's products, and a query for (men, unisex) merges two.

The gender lives on the product, and an index predicate can only name the indexed table's columns,
so the embedding keeps a copy, written by triggers only (the application never sets it): on every
insert or update of an embedding, from its product; on every change of a product's gender, to its
embedding. The copy only routes the search: every query still checks the product's own gender, so a
stale copy could hide a product from a search, never show it where it does not belong.

Frozen as literal SQL, as 0004's indexes: a migration must not import live encoder classes.
"""

from django.db import migrations, models

ENCODERS = [("efficientnet_lite0_v1", 1280, "efficientnet_lite0/v1"), ("resnet50_v1", 2048, "resnet50/v1")]
GENDERS = ("women", "men", "girls", "boys", "unisex")

TRIGGERS = """
CREATE FUNCTION recommendations_embedding_gender() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.gender := COALESCE((SELECT gender FROM catalog_product WHERE id = NEW.product_id), '');
    RETURN NEW;
END $$;
CREATE TRIGGER embedding_gender BEFORE INSERT OR UPDATE ON recommendations_productembedding
    FOR EACH ROW EXECUTE FUNCTION recommendations_embedding_gender();
CREATE FUNCTION recommendations_product_gender() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE recommendations_productembedding SET gender = NEW.gender WHERE product_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER product_gender AFTER UPDATE OF gender ON catalog_product
    FOR EACH ROW WHEN (OLD.gender IS DISTINCT FROM NEW.gender)
    EXECUTE FUNCTION recommendations_product_gender();
UPDATE recommendations_productembedding e SET gender = p.gender FROM catalog_product p WHERE p.id = e.product_id;
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS product_gender ON catalog_product;
DROP FUNCTION IF EXISTS recommendations_product_gender();
DROP TRIGGER IF EXISTS embedding_gender ON recommendations_productembedding;
DROP FUNCTION IF EXISTS recommendations_embedding_gender();
"""


def _index(name: str, dim: int, key: str, gender: str) -> migrations.RunSQL:
    return migrations.RunSQL(
        f"CREATE INDEX IF NOT EXISTS productembedding_hnsw_{name}_{gender} ON recommendations_productembedding "
        f"USING hnsw ((vector::halfvec({dim})) halfvec_cosine_ops) WHERE model = '{key}' AND gender = '{gender}'",
        f"DROP INDEX IF EXISTS productembedding_hnsw_{name}_{gender}",
    )


def _whole(name: str, dim: int, key: str) -> migrations.RunSQL:
    return migrations.RunSQL(
        f"DROP INDEX IF EXISTS productembedding_hnsw_{name}",
        f"CREATE INDEX IF NOT EXISTS productembedding_hnsw_{name} ON recommendations_productembedding "
        f"USING hnsw ((vector::halfvec({dim})) halfvec_cosine_ops) WHERE model = '{key}'",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0010_facets_with_department"),
        ("recommendations", "0009_ranker_after_a_click"),
    ]

    operations = [
        migrations.AddField(
            model_name="productembedding",
            name="gender",
            field=models.CharField(
                blank=True, default="", editable=False, max_length=8,
                help_text="The product's gender, copied by database triggers; it selects the HNSW index a search walks.",
            ),  # fmt: skip
        ),
        migrations.RunSQL(TRIGGERS, DROP_TRIGGERS),
        *[_index(name, dim, key, gender) for name, dim, key in ENCODERS for gender in GENDERS],
        *[_whole(name, dim, key) for name, dim, key in ENCODERS],
    ]
