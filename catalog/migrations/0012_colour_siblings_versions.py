# Written by hand: a product's card shows its other colours on sale as swatches (catalog.cards), so a
# change of one colour's availability or name must reach the cards of the others.

from django.db import migrations

# Card records are kept per row version (xmin and ctid, catalog.cards): a record read before a sibling
# sold out would keep its swatch. So when a product is added or deleted, or changes availability (on
# sale or not), colour or product group, each other member of its group (old and new) is written
# again, unchanged: a no-op UPDATE still makes a new row version, so their cards are read anew. The
# stock flip itself moves the "shown products" value (recommendations migration 0013), which makes
# cached pages check their cards' versions again; the rewrite changes no column a trigger watches, so
# it moves nothing and fires nothing further.
#
# Statement-level triggers with transition tables: an import of the whole catalog runs one UPDATE,
# not one per product. Siblings locked by another transaction are skipped (SKIP LOCKED): that
# transaction is writing them, so they get a new version anyway, and a checkout that sells the last
# of two colours in one cart never waits on, or deadlocks with, another.
SIBLINGS = """
    UPDATE catalog_product p SET product_group = p.product_group
      FROM (SELECT s.id FROM catalog_product s
             WHERE s.product_group IN (SELECT product_group FROM groups WHERE product_group <> '')
               AND NOT EXISTS (SELECT 1 FROM moved m WHERE m.id = s.id)
             ORDER BY s.id FOR UPDATE SKIP LOCKED) t
     WHERE p.id = t.id;
"""
MOVED = """((n.is_active AND n.stock_quantity > 0) IS DISTINCT FROM (o.is_active AND o.stock_quantity > 0)
            OR n.colour IS DISTINCT FROM o.colour OR n.product_group IS DISTINCT FROM o.product_group)"""
FORWARD = f"""
CREATE FUNCTION catalog_colour_siblings_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH groups AS (SELECT product_group FROM added), moved AS (SELECT id FROM added)
    {SIBLINGS}
    RETURN NULL;
END $$;
CREATE FUNCTION catalog_colour_siblings_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH groups AS (SELECT product_group FROM removed), moved AS (SELECT id FROM removed)
    {SIBLINGS}
    RETURN NULL;
END $$;
CREATE FUNCTION catalog_colour_siblings_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The rewrite below is an UPDATE too, and a statement trigger fires even for no rows: without
    -- this test it would call itself for ever. A sale that leaves stock above 0 stops here.
    IF NOT EXISTS (SELECT 1 FROM changed n JOIN previous o ON o.id = n.id WHERE {MOVED}) THEN
        RETURN NULL;
    END IF;
    WITH moved AS (
        SELECT n.id, n.product_group AS new_group, o.product_group AS old_group
          FROM changed n JOIN previous o ON o.id = n.id WHERE {MOVED}
    ), groups AS (SELECT new_group AS product_group FROM moved UNION SELECT old_group FROM moved)
    {SIBLINGS}
    RETURN NULL;
END $$;
CREATE TRIGGER catalog_colour_siblings_insert AFTER INSERT ON catalog_product
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION catalog_colour_siblings_insert();
CREATE TRIGGER catalog_colour_siblings_delete AFTER DELETE ON catalog_product
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION catalog_colour_siblings_delete();
CREATE TRIGGER catalog_colour_siblings_update AFTER UPDATE ON catalog_product
    REFERENCING OLD TABLE AS previous NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_colour_siblings_update();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS catalog_colour_siblings_insert ON catalog_product;
DROP TRIGGER IF EXISTS catalog_colour_siblings_delete ON catalog_product;
DROP TRIGGER IF EXISTS catalog_colour_siblings_update ON catalog_product;
DROP FUNCTION IF EXISTS catalog_colour_siblings_insert();
DROP FUNCTION IF EXISTS catalog_colour_siblings_delete();
DROP FUNCTION IF EXISTS catalog_colour_siblings_update();
"""


class Migration(migrations.Migration):
    dependencies = [("catalog", "0011_kids_gender")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
