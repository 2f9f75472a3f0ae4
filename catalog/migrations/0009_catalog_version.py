# Written by hand: a sequence that database triggers advance with any change to any product.

from django.db import migrations

# A sequence, not a row: advancing it takes no lock, so writers of different products never wait
# for each other (a version row made every product-writing transaction queue behind the others, and
# could deadlock two that update the same products in opposite orders). It is not transactional, so a
# reader may see it advance before the change it stands for commits; catalog.categories bounds what
# such a reader keeps to CATEGORY_CACHE_S. An UPDATE that changes no row does not advance it (its
# transition table is looked at); INSERT and DELETE use plain statement triggers, so a bulk COPY's
# rows are never held in a transition table.
FORWARD = """
CREATE SEQUENCE catalog_version_seq;
CREATE FUNCTION catalog_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('catalog_version_seq');
    RETURN NULL;
END $$;
CREATE FUNCTION catalog_version_bump_if_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed) THEN
        PERFORM nextval('catalog_version_seq');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER catalog_version_insert AFTER INSERT ON catalog_product
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump();
CREATE TRIGGER catalog_version_update AFTER UPDATE ON catalog_product
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump_if_changed();
CREATE TRIGGER catalog_version_delete AFTER DELETE ON catalog_product
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump();
CREATE TRIGGER catalog_version_truncate AFTER TRUNCATE ON catalog_product
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS catalog_version_insert ON catalog_product;
DROP TRIGGER IF EXISTS catalog_version_update ON catalog_product;
DROP TRIGGER IF EXISTS catalog_version_delete ON catalog_product;
DROP TRIGGER IF EXISTS catalog_version_truncate ON catalog_product;
DROP FUNCTION IF EXISTS catalog_version_bump_if_changed();
DROP FUNCTION IF EXISTS catalog_version_bump();
DROP SEQUENCE IF EXISTS catalog_version_seq;
"""


class Migration(migrations.Migration):
    dependencies = [("catalog", "0008_facets_index")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
